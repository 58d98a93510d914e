#!/usr/bin/env bash
# The seeds' workloads, scaled up, on CPython's asyncio, on uvloop and on
# this crate (issue #5, item 2): prints a table of medians and ratios.
#
#   bash benches/python/run.sh            # every workload, 5 runs each (a few minutes)
#   RUNS=3 bash benches/python/run.sh lock queue   # some workloads, 3 runs
#   bash benches/python/run.sh --smoke    # tiny sizes: checks that it all works
#
# Creates a virtual environment in target/py-venv (python3 -m venv) and
# installs uvloop into it from PyPI the first time. PYTHON picks the
# interpreter (default python3). The Python side is benches/python/seeds.py,
# the Rust side the `seeds` bench (benches/benches/seeds.rs), the same
# workloads line for line. Every run is a fresh process per implementation;
# the three take turns, the first rotating from run to run. Raw results are
# kept in target/py-seeds.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-5}
PYTHON=${PYTHON:-python3}
VENV=target/py-venv
RAW=target/py-seeds.txt

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV with $($PYTHON --version 2>&1)" >&2
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import uvloop" 2>/dev/null; then
    echo "installing uvloop from PyPI into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uvloop
fi
PY="$VENV/bin/python"

echo "building the Rust port (cargo bench --bench seeds --no-run)" >&2
BIN=$(cargo bench -p asyncio-benches --bench seeds --no-run --message-format=json 2>/dev/null |
    "$PY" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "seeds" and m.get("executable"):
        print(m["executable"])
')
[ -x "$BIN" ] || { echo "could not find the seeds bench binary" >&2; exit 1; }

run_one() {
    case "$1" in
        rust) "$BIN" --once "${@:2}" ;;
        *) "$PY" benches/python/seeds.py --loop "$1" "${@:2}" ;;
    esac
}

impls=(asyncio uvloop rust)
: > "$RAW"
for ((r = 0; r < RUNS; r++)); do
    for ((j = 0; j < 3; j++)); do
        impl=${impls[$(((r + j) % 3))]}
        echo "run $((r + 1))/$RUNS: $impl" >&2
        run_one "$impl" "$@" | sed "s/^/$impl /" >> "$RAW"
    done
done

echo
echo "## The seeds' workloads: CPython asyncio and uvloop against the Rust port"
echo
echo "$(date -u +%Y-%m-%d); $(nproc) CPUs; kernel $(uname -r); $("$PY" --version);" \
    "uvloop $("$PY" -c 'import uvloop; print(uvloop.__version__)'); $(rustc --version | cut -d' ' -f1-2)." \
    "Median [min–max] wall time per run of $RUNS runs; ratios of the medians (> 1: Rust is faster)."
echo
"$PY" benches/python/report.py < "$RAW"
