"""The asyncpg client of the PostgreSQL bench (benches/benches/postgres.rs).

    python asyncpg_peer.py asyncio|uvloop WORKLOAD COUNT TASKS    (DSN in PG_BENCH_DSN)

The same workloads as the Rust clients (asyncio_benches::postgres), in
asyncpg's own words, on CPython's asyncio or on uvloop: connect, warm up on a
tenth of the workload, measure it, print `SAMPLE <ops> <wall ns> <cpu ns>`
(CPU: time.process_time_ns, i.e. CLOCK_PROCESS_CPUTIME_ID, user + system of
the process). asyncpg's statement cache does the preparing, as
asyncio-postgres's does. `select1_pipelined` is not run: asyncpg allows one
operation at a time per connection.
"""

import asyncio
import os
import sys
import time

import asyncpg

FETCH_SQL = "SELECT i, 'row ' || i FROM generate_series(1, $1::int4) AS s(i)"
COPY_TABLE_SQL = "CREATE TEMP TABLE bench_copy (i int4, t text)"
POOL_SIZE = 10


def fetch_checksum(count):
    return sum(i + 4 + len(str(i)) for i in range(1, count + 1))


async def sequential(conn, count):
    for _ in range(count):
        assert await conn.fetchval("SELECT 1") == 1


async def pooled(pool, count, tasks):
    async def worker():
        for _ in range(count // tasks):
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT 1") == 1

    await asyncio.gather(*(worker() for _ in range(tasks)))


async def fetch(conn, count):
    rows = await conn.fetch(FETCH_SQL, count)
    checksum = 0
    for row in rows:
        checksum += row[0] + len(row[1])
    assert (len(rows), checksum) == (count, fetch_checksum(count))


async def copy(conn, rows):
    status = await conn.copy_records_to_table("bench_copy", records=rows, columns=["i", "t"])
    assert status == f"COPY {len(rows)}", status


def start():
    return time.perf_counter_ns(), time.process_time_ns()


def sample(clock, ops):
    wall0, cpu0 = clock
    cpu = time.process_time_ns() - cpu0
    wall = time.perf_counter_ns() - wall0
    return f"SAMPLE {ops} {wall} {cpu}"


async def main(workload, count, tasks, dsn):
    warm = max(count // 10, tasks)
    if workload == "select1_pool":
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        await pooled(pool, warm, tasks)
        clock = start()
        await pooled(pool, count, tasks)
        line = sample(clock, count // tasks * tasks)
        await pool.close()
        return line
    conn = await asyncpg.connect(dsn)
    try:
        if workload == "select1_sequential":
            await sequential(conn, warm)
            clock = start()
            await sequential(conn, count)
            return sample(clock, count)
        if workload == "fetch_rows":
            await fetch(conn, warm)
            clock = start()
            await fetch(conn, count)
            return sample(clock, count)
        if workload == "copy_in":
            await conn.execute(COPY_TABLE_SQL)
            rows = [(i, f"row {i}") for i in range(count)]
            await copy(conn, rows[:warm])
            await conn.execute("TRUNCATE bench_copy")
            clock = start()
            await copy(conn, rows)
            return sample(clock, count)
        raise SystemExit(f"asyncpg_peer.py: workload {workload!r} is not run with asyncpg")
    finally:
        await conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in ("asyncio", "uvloop"):
        raise SystemExit(__doc__)
    event_loop, workload, count, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    dsn = os.environ["PG_BENCH_DSN"]
    if event_loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        print(runner.run(main(workload, count, tasks, dsn)), flush=True)
