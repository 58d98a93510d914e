"""The seeds' programs, scaled up, on CPython's asyncio or on uvloop.

The Python side of benches/python/run.sh; the Rust side is
benches/benches/seeds.rs, the same workloads line for line (see its header
for what each one does). Usage:

    python seeds.py --loop asyncio|uvloop [--smoke] [NAME ...]

prints one line per workload, `NAME SECONDS OPERATIONS`, each run on a fresh
event loop and timed inside it. NAME filters by substring, as the Rust benches do.
"""

import argparse
import asyncio
import sys
import time


def sizes(smoke):
    if smoke:
        return dict(sleepers=100, lock_tasks=10, lock_iters=10, producers=4,
                    per_producer=500, consumers=4, clients=10, round_trips=10)
    return dict(sleepers=100_000, lock_tasks=100, lock_iters=100, producers=4,
                per_producer=50_000, consumers=4, clients=100, round_trips=1_000)


async def sleep_gather(z):
    n = z["sleepers"]

    async def sleeper(i):
        await asyncio.sleep((1 + i % 10) / 1000)
        return i

    start = time.perf_counter()
    tasks = [asyncio.create_task(sleeper(i)) for i in range(n)]
    results = await asyncio.gather(*tasks)
    assert sum(results) == n * (n - 1) // 2
    return time.perf_counter() - start


async def lock(z):
    start = time.perf_counter()
    the_lock = asyncio.Lock()
    counter = 0

    async def worker():
        nonlocal counter
        for _ in range(z["lock_iters"]):
            async with the_lock:
                v = counter
                await asyncio.sleep(0)
                counter = v + 1

    tasks = [asyncio.create_task(worker()) for _ in range(z["lock_tasks"])]
    await asyncio.gather(*tasks)
    assert counter == z["lock_tasks"] * z["lock_iters"], "the lock let an update be lost"
    return time.perf_counter() - start


async def semaphore(z):
    start = time.perf_counter()
    sem = asyncio.Semaphore(10)
    inside = 0
    peak = 0

    async def worker():
        nonlocal inside, peak
        for _ in range(z["lock_iters"]):
            async with sem:
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0)
                inside -= 1

    tasks = [asyncio.create_task(worker()) for _ in range(z["lock_tasks"])]
    await asyncio.gather(*tasks)
    assert peak <= 10, "more than 10 holders"
    return time.perf_counter() - start


async def queue(z):
    start = time.perf_counter()
    q = asyncio.Queue(maxsize=100)
    per = z["per_producer"]

    async def consumer():
        n = total = 0
        while True:
            item = await q.get()
            if item is None:
                return n, total
            n += 1
            total += item

    async def producer(p):
        for i in range(per):
            await q.put(p * per + i)

    consumers = [asyncio.create_task(consumer()) for _ in range(z["consumers"])]
    producers = [asyncio.create_task(producer(p)) for p in range(z["producers"])]
    await asyncio.gather(*producers)
    for _ in range(z["consumers"]):
        await q.put(None)
    results = await asyncio.gather(*consumers)
    n = sum(r[0] for r in results)
    total = sum(r[1] for r in results)
    items = z["producers"] * per
    assert (n, total) == (items, items * (items - 1) // 2), "items lost or duplicated"
    return time.perf_counter() - start


async def handle_echo(reader, writer):
    while True:
        data = await reader.read(16 * 1024)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


async def echo(z):
    server = await asyncio.start_server(handle_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client(c):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        msg = bytearray(64)
        for i in range(z["round_trips"]):
            msg[0] = (c + i) % 256
            writer.write(msg)
            await writer.drain()
            back = await reader.readexactly(64)
            assert back[0] == msg[0], "wrong echo"
        writer.close()
        await writer.wait_closed()

    start = time.perf_counter()
    clients = [asyncio.create_task(client(c)) for c in range(z["clients"])]
    await asyncio.gather(*clients)
    took = time.perf_counter() - start
    server.close()
    await server.wait_closed()
    return took


# Name, run, operations per run (tasks, acquisitions, items, round trips).
WORKLOADS = [
    ("sleep_gather", sleep_gather, lambda z: z["sleepers"]),
    ("lock", lock, lambda z: z["lock_tasks"] * z["lock_iters"]),
    ("semaphore", semaphore, lambda z: z["lock_tasks"] * z["lock_iters"]),
    ("queue", queue, lambda z: z["producers"] * z["per_producer"]),
    ("echo", echo, lambda z: z["clients"] * z["round_trips"]),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--once", action="store_true", help="accepted for symmetry with the Rust bench")
    parser.add_argument("names", nargs="*", help="run only workloads whose name contains one of these")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
        print(f"# uvloop {uvloop.__version__}, Python {sys.version.split()[0]}", file=sys.stderr)
    else:
        factory = asyncio.new_event_loop
    z = sizes(args.smoke)
    for name, workload, ops in WORKLOADS:
        if args.names and not any(n in name for n in args.names):
            continue
        with asyncio.Runner(loop_factory=factory) as runner:
            took = runner.run(workload(z))
        print(f"{name} {took:.6f} {ops(z)}", flush=True)


if __name__ == "__main__":
    main()
