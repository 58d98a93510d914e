"""The TechEmpower-style test types on FastAPI + uvicorn + asyncpg: the
seeds' stack, the Python peer of ../asyncio (same routes and queries).
Run by run.sh: `uvicorn fastapi_app:app --loop uvloop --http httptools`,
with DATABASE_URL set."""

import html
import os
import random
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

POOL = None
WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
UPDATE = ("UPDATE world SET randomnumber = v.r FROM "
          "(SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) v WHERE world.id = v.id")


@asynccontextmanager
async def lifespan(app):
    global POOL
    size = int(os.environ.get("POOL_SIZE", "4"))
    POOL = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=size, max_size=size)
    yield
    await POOL.close()


app = FastAPI(lifespan=lifespan)
HEADERS = {"Server": "fastapi"}


def count(queries):
    try:
        n = int(queries)
    except (TypeError, ValueError):
        return 1
    return max(1, min(500, n))


@app.get("/json")
async def json_():
    return JSONResponse({"message": "Hello, World!"}, headers=HEADERS)


@app.get("/plaintext")
async def plaintext():
    return PlainTextResponse("Hello, World!", headers=HEADERS)


@app.get("/db")
async def single():
    async with POOL.acquire() as c:
        r = await c.fetchrow(WORLD, random.randint(1, 10000))
    return JSONResponse({"id": r[0], "randomNumber": r[1]}, headers=HEADERS)


@app.get("/queries")
async def queries(queries: str | None = None):
    out = []
    async with POOL.acquire() as c:
        st = await c.prepare(WORLD)
        for _ in range(count(queries)):
            r = await st.fetchrow(random.randint(1, 10000))
            out.append({"id": r[0], "randomNumber": r[1]})
    return JSONResponse(out, headers=HEADERS)


@app.get("/updates")
async def updates(queries: str | None = None):
    out = []
    async with POOL.acquire() as c:
        st = await c.prepare(WORLD)
        for _ in range(count(queries)):
            r = await st.fetchrow(random.randint(1, 10000))
            out.append({"id": r[0], "randomNumber": random.randint(1, 10000)})
        pairs = sorted((w["id"], w["randomNumber"]) for w in out)
        await c.execute(UPDATE, [p[0] for p in pairs], [p[1] for p in pairs])
    return JSONResponse(out, headers=HEADERS)


@app.get("/fortunes")
async def fortunes():
    async with POOL.acquire() as c:
        rows = await c.fetch("SELECT id, message FROM fortune")
    rows = [(r[0], r[1]) for r in rows]
    rows.append((0, "Additional fortune added at request time."))
    rows.sort(key=lambda r: r[1])
    body = ["<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
            "<tr><th>id</th><th>message</th></tr>"]
    for i, m in rows:
        body.append(f"<tr><td>{i}</td><td>{html.escape(m)}</td></tr>")
    body.append("</table></body></html>")
    return HTMLResponse("".join(body), headers=HEADERS)
