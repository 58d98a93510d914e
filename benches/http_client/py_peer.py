"""The Python clients of the HTTP client bench (benches/benches/http_client.rs).

    python py_peer.py aiohttp|httpx asyncio|uvloop PROTOCOL URL COUNT IN_FLIGHT

PROTOCOL is h1 (HTTP/1.1, over TLS for an https:// URL), h2 (HTTPS with ALPN
offering h2; the server picks it) or h2c (cleartext HTTP/2 with prior
knowledge); a CA file to trust for https:// is in HTTP_BENCH_CA. The same
workload as the Rust clients (asyncio_benches::http_client): one pooled
client (at most IN_FLIGHT connections, all kept alive), IN_FLIGHT tasks each
doing COUNT / IN_FLIGHT GETs one after another, each response's status
checked (200), its protocol checked on h2 rows, and its body read; first a
warm-up of a tenth of the count (at least one GET per task), then the
measured run. Prints `SAMPLE <requests> <wall ns> <cpu ns>` (CPU:
time.process_time_ns, i.e. CLOCK_PROCESS_CPUTIME_ID, user + system of the
process). aiohttp speaks HTTP/1.1 only: it has no h2 rows. An httpx GET that
meets a keep-alive connection the server has just closed is sent once more
(httpx does not resend; the Rust clients do).
"""

import asyncio
import os
import ssl
import sys
import time


def ssl_context():
    ca = os.environ.get("HTTP_BENCH_CA")
    return ssl.create_default_context(cafile=ca) if ca else None


async def aiohttp_run(protocol, url, count, in_flight):
    import aiohttp

    if protocol != "h1":
        raise SystemExit("py_peer.py: aiohttp speaks HTTP/1.1 only")
    ctx = ssl_context()
    connector = aiohttp.TCPConnector(limit=in_flight, ssl=ctx if ctx else True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get():
            async with session.get(url) as resp:
                assert resp.status == 200, resp.status
                body = await resp.read()
                assert body

        return await measure(get, count, in_flight)


async def httpx_run(protocol, url, count, in_flight):
    import httpx

    ctx = ssl_context()
    client = httpx.AsyncClient(
        http1=protocol != "h2c",
        http2=protocol in ("h2", "h2c"),
        verify=ctx if ctx else True,
        limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight),
        timeout=60.0,
        trust_env=False,
    )
    want = "HTTP/2" if protocol in ("h2", "h2c") else "HTTP/1.1"
    async with client:

        async def get():
            try:
                resp = await client.get(url)
            except httpx.RemoteProtocolError:
                # The server closed an idle keep-alive connection as httpx
                # reused it (`hello` keeps one 5 s, httpx's own expiry is
                # 5 s too); httpx does not resend, so do it once here, as
                # asyncio-http's and reqwest's pools do for a GET.
                resp = await client.get(url)
            assert resp.status_code == 200, resp.status_code
            assert resp.http_version == want, resp.http_version
            assert resp.content

        return await measure(get, count, in_flight)


async def burst(get, count, in_flight):
    async def worker():
        for _ in range(count // in_flight):
            await get()

    await asyncio.gather(*(worker() for _ in range(in_flight)))


async def measure(get, count, in_flight):
    await burst(get, max(count // 10, in_flight), in_flight)
    wall0, cpu0 = time.perf_counter_ns(), time.process_time_ns()
    await burst(get, count, in_flight)
    cpu = time.process_time_ns() - cpu0
    wall = time.perf_counter_ns() - wall0
    return f"SAMPLE {count // in_flight * in_flight} {wall} {cpu}"


if __name__ == "__main__":
    if len(sys.argv) != 7 or sys.argv[1] not in ("aiohttp", "httpx") or sys.argv[2] not in ("asyncio", "uvloop"):
        raise SystemExit(__doc__)
    library, event_loop, protocol, url = sys.argv[1:5]
    count, in_flight = int(sys.argv[5]), int(sys.argv[6])
    if event_loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    run = aiohttp_run if library == "aiohttp" else httpx_run
    with asyncio.Runner(loop_factory=factory) as runner:
        print(runner.run(run(protocol, url, count, in_flight)), flush=True)
