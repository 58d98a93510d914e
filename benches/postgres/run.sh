#!/usr/bin/env bash
# PostgreSQL clients side by side (issue 17's "Speed"): asyncio-postgres,
# tokio-postgres on tokio current-thread, asyncpg on CPython's asyncio and on
# uvloop, against one throwaway PostgreSQL server, interleaved rounds.
#
#   bash benches/postgres/run.sh                 # every workload and client, 5 rounds (about 10 minutes)
#   BENCH_ROUNDS=3 bash benches/postgres/run.sh select1   # workloads whose name contains "select1"
#   bash benches/postgres/run.sh --smoke         # tiny sizes, one round: checks that it all works
#   bash benches/postgres/run.sh --client=asyncio-postgres --client=asyncpg+uvloop
#
# Makes a virtual environment in target/pg-bench-venv (python3 -m venv;
# PYTHON picks the interpreter, default python3.11 if present, else python3)
# and installs asyncpg and uvloop into it from PyPI the first time, then runs
# the `postgres` bench (benches/benches/postgres.rs) with that Python in
# PG_BENCH_PYTHON, so the asyncpg clients (benches/postgres/asyncpg_peer.py)
# take their turns in the same rounds as the Rust ones. Arguments are passed
# to the bench. Without this script (CI's `BENCH_SMOKE=1 cargo bench`) the
# bench runs the Rust clients only. The table goes to standard output and to
# target/pg-bench.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    command -v python3.11 >/dev/null 2>&1 && PYTHON=python3.11
fi
VENV=target/pg-bench-venv
mkdir -p target

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV with $($PYTHON --version 2>&1)" >&2
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import asyncpg, uvloop" 2>/dev/null; then
    echo "installing asyncpg and uvloop from PyPI into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check asyncpg uvloop
fi
PY="$(pwd)/$VENV/bin/python"
versions=$("$PY" -c 'import sys, asyncpg, uvloop; print(f"CPython {sys.version.split()[0]}, asyncpg {asyncpg.__version__}, uvloop {uvloop.__version__}")')
echo "$versions" >&2

PG_BENCH_PYTHON="$PY" cargo bench -p asyncio-benches --bench postgres -- "$@" | tee target/pg-bench.md
echo
echo "$(date -u +%Y-%m-%d); $(nproc) CPUs; kernel $(uname -r); $versions; $(rustc --version | cut -d' ' -f1-2)." |
    tee -a target/pg-bench.md
