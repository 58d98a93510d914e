#!/usr/bin/env bash
# HTTP clients side by side (issue 18's "Speed"): asyncio-http's client,
# reqwest on tokio current-thread and multi-thread (2 workers), aiohttp and
# httpx on CPython's asyncio and on uvloop, against asyncio-http's `hello`
# example and a throwaway nginx, over HTTP/1.1, HTTPS and HTTP/2,
# interleaved rounds.
#
#   bash benches/http_client/run.sh                 # every row and client, 5 rounds (about 15 minutes)
#   BENCH_ROUNDS=3 bash benches/http_client/run.sh h1   # rows whose name contains "h1"
#   bash benches/http_client/run.sh --smoke         # tiny sizes, one round: checks that it all works
#   bash benches/http_client/run.sh --client=asyncio-http --client=aiohttp+uvloop
#   HTTPX_COUNT=10000 bash benches/http_client/run.sh   # httpx at the full 10,000 GETs (default 2,000)
#
# Makes a virtual environment in target/http-client-bench-venv (python3 -m
# venv; PYTHON picks the interpreter, default python3.11 if present, else
# python3) and installs aiohttp, httpx with its http2 extra (h2) and uvloop
# into it from PyPI the first time, then runs the `http_client` bench
# (benches/benches/http_client.rs) with that Python in HTTP_BENCH_PYTHON, so
# the Python clients (benches/http_client/py_peer.py) take their turns in
# the same rounds as the Rust ones. Arguments are passed to the bench.
# Without this script (CI's `BENCH_SMOKE=1 cargo bench`) the bench runs the
# Rust clients only. The table goes to standard output and to
# target/http-client-bench.md.
#
#   bash benches/http_client/run.sh --callgrind     # instructions per GET (h1_hello): asyncio-http vs reqwest
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    command -v python3.11 >/dev/null 2>&1 && PYTHON=python3.11
fi
VENV=target/http-client-bench-venv
mkdir -p target

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV with $($PYTHON --version 2>&1)" >&2
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import aiohttp, httpx, h2, uvloop" 2>/dev/null; then
    echo "installing aiohttp, httpx[http2] and uvloop from PyPI into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check aiohttp 'httpx[http2]' uvloop
fi
PY="$(pwd)/$VENV/bin/python"
versions=$("$PY" -c 'import sys, aiohttp, httpx, h2, uvloop; print(f"CPython {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, httpx {httpx.__version__} (h2 {h2.__version__}), uvloop {uvloop.__version__}")')
echo "$versions" >&2

# The servers' binary, built before the bench starts (the bench would build
# it too, but its build would then run between the bench's own messages).
cargo build --release -p asyncio-http --example hello >&2
nginx_version=$(nginx -v 2>&1 | sed 's/.*nginx\//nginx /' || true)
HTTP_BENCH_PYTHON="$PY" cargo bench -p asyncio-benches --bench http_client -- "$@" | tee target/http-client-bench.md
reqwest_version=$(cargo tree -p asyncio-benches -e normal --prefix none -i reqwest 2>/dev/null | head -1 | cut -d' ' -f2 || true)
echo
echo "$(date -u +%Y-%m-%d); $(nproc) CPUs; kernel $(uname -r); $versions; reqwest $reqwest_version; ${nginx_version:-nginx}; $(rustc --version | cut -d' ' -f1-2)." |
    tee -a target/http-client-bench.md
