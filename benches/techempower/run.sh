#!/usr/bin/env bash
# TechEmpower-style benchmark: the six test types (json, db, queries=20,
# fortunes, updates=20, plaintext) on asyncio-http + asyncio-postgres, on
# axum + tokio-postgres (tokio multi-thread), and on FastAPI + uvicorn
# (uvloop, httptools) + asyncpg, against one throwaway PostgreSQL with
# TechEmpower's World and Fortune tables. wrk with the same connections
# for all, rounds interleaved (each round runs every test on every server
# in turn), requests per second, the server's CPU per request (its
# processes' utime + stime over the run, /proc) and PostgreSQL's (its
# postmaster and backends, the same way). Not run in CI.
#
#   bash benches/techempower/run.sh
#   ROUNDS=5 DURATION=10 CONNECTIONS=64 WORKERS=1 bash benches/techempower/run.sh
#   SERVERS="asyncio axum" TESTS="json db" bash benches/techempower/run.sh
#   SYSCALLS=1 TESTS=updates bash benches/techempower/run.sh   # + system calls per request (perf), server's and PostgreSQL's
#
# `asyncio-uring` is the asyncio server again with ASYNCIO_DRIVER=io_uring
# (its loops on the io_uring driver; readiness where the kernel refuses it).
#
# Needs (as root: installed when missing) PostgreSQL and wrk (and perf, for SYSCALLS=1) from Debian's
# packages; Python 3 with venv (FastAPI, uvicorn, uvloop, httptools and
# asyncpg come from PyPI into target/techempower/venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-64}
WORKERS=${WORKERS:-1}
PER_WORKER=${PER_WORKER:-4}
SERVERS=${SERVERS:-"asyncio asyncio-uring axum fastapi"}
TESTS=${TESTS:-"json db queries fortunes updates plaintext"}
out=$root/target/techempower
mkdir -p "$out"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$out/cargo}

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
[ -z "${SYSCALLS:-}" ] || need perf linux-perf
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$pgbin" ]; then apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL: a fresh cluster in a temporary directory, run as `postgres`.
pgdir=$(mktemp -d /tmp/te-pg.XXXXXX)
chown postgres "$pgdir"
pgport=$(free_port)
runuser -u postgres -- "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
  -o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=300 -c synchronous_commit=off -c shared_buffers=256MB" start >/dev/null
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
trap cleanup EXIT
psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "CREATE DATABASE hello_world" >/dev/null
psql -q -h 127.0.0.1 -p "$pgport" -U postgres -d hello_world -f benches/techempower/schema.sql >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:$pgport/hello_world"

# The servers.
(cd benches/techempower/asyncio && cargo build --release -q)
(cd benches/techempower/axum && cargo build --release -q)
if [[ " $SERVERS " == *" fastapi "* ]]; then
  if [ ! -x "$out/venv/bin/uvicorn" ]; then
    python3 -m venv "$out/venv"
    "$out/venv/bin/pip" install -q fastapi 'uvicorn[standard]' uvloop httptools asyncpg
  fi
fi
declare -A port
start() {
  local name=$1 p
  p=$(free_port); port[$name]=$p
  case $name in
    asyncio) "$CARGO_TARGET_DIR/release/techempower-asyncio" "$p" "$WORKERS" "$PER_WORKER" & ;;
    asyncio-uring) ASYNCIO_DRIVER=io_uring "$CARGO_TARGET_DIR/release/techempower-asyncio" "$p" "$WORKERS" "$PER_WORKER" & ;;
    axum) "$CARGO_TARGET_DIR/release/techempower-axum" "$p" "$WORKERS" "$PER_WORKER" & ;;
    fastapi) (cd benches/techempower && POOL_SIZE=$PER_WORKER exec "$out/venv/bin/uvicorn" fastapi_app:app \
               --host 127.0.0.1 --port "$p" --workers "$WORKERS" --loop uvloop --http httptools \
               --no-access-log --log-level warning) & ;;
  esac
  pids+=($!)
  eval "pid_${name//-/_}=$!"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/json" >/dev/null && return; sleep 0.2; done
  echo "$name did not start" >&2; exit 1
}
for s in $SERVERS; do start "$s"; done

# PostgreSQL's CPU: its live processes, plus what the postmaster's
# children that exited meanwhile (autovacuum workers, closed backends)
# used (its cutime + cstime), so a process that ends during a run is not
# lost from it.
pg_ticks() { echo $(( $(cpu_ticks "$1") + $(awk '{print $16 + $17}' "/proc/$1/stat") )); }

# Every process of a server (uvicorn's workers are its children).
tree() { local p=$1; echo "$p"; for c in $(pgrep -P "$p" || true); do tree "$c"; done; }
cpu_ticks() { local t=0; for p in $(tree "$1"); do
  [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
path() { case $1 in
  json) echo /json;; db) echo /db;; queries) echo "/queries?queries=20";;
  fortunes) echo /fortunes;; updates) echo "/updates?queries=20";; plaintext) echo /plaintext;; esac; }

# Correctness first.
for s in $SERVERS; do
  base="http://127.0.0.1:${port[$s]}"
  f=$(curl -s "$base/fortunes")
  rows=$(grep -o '<tr>' <<<"$f" | wc -l)
  [ "$rows" = 14 ] || { echo "$s: fortunes has $((rows - 1)) rows"; exit 1; }
  grep -q '&lt;script&gt;' <<<"$f" || { echo "$s: fortunes does not escape"; exit 1; }
  grep -q 'フレームワークのベンチマーク' <<<"$f" || { echo "$s: fortunes lost UTF-8"; exit 1; }
  for q in 0 abc 501 20; do
    n=$(curl -s "$base/queries?queries=$q" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    want=$(case $q in 0|abc) echo 1;; 501) echo 500;; *) echo 20;; esac)
    [ "$n" = "$want" ] || { echo "$s: queries=$q gave $n rows"; exit 1; }
  done
  curl -s "$base/json" | grep -q '"message":"Hello, World!"' || curl -s "$base/json" | grep -q '"message": "Hello, World!"' \
    || { echo "$s: json"; exit 1; }
  curl -sI "$base/plaintext" | grep -qi '^server:' || { echo "$s: no Server header"; exit 1; }
done
echo "all servers answer correctly; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

hz=$(getconf CLK_TCK)
pg_pid=$(head -1 "$pgdir/data/postmaster.pid")
results=$out/results.txt
: > "$results"
for r in $(seq "$ROUNDS"); do
  for t in $TESTS; do
    for s in $SERVERS; do
      pid_var="pid_${s//-/_}"
      before=$(cpu_ticks "${!pid_var}")
      pg_before=$(pg_ticks "$pg_pid")
      if [ -n "${SYSCALLS:-}" ]; then
        # System calls of the server's main process (every thread) over
        # all but the last second of the run, by kernel tracepoints (no
        # ptrace: the server runs at full speed).
        perf stat -x, -o "$out/syscalls-$s-$t-$r.txt" -p "${!pid_var}" -e raw_syscalls:sys_enter \
          -e syscalls:sys_enter_epoll_wait -e syscalls:sys_enter_recvfrom -e syscalls:sys_enter_sendto \
          -e syscalls:sys_enter_writev -e syscalls:sys_exit_recvfrom --filter 'ret == -11' \
          -- sleep $((DURATION - 1)) &
        perf_pid=$!
        # And PostgreSQL's backends (the postmaster's children): how its
        # reads and writes per request depend on how each client batches.
        perf stat -x, -o "$out/pg-syscalls-$s-$t-$r.txt" -p "$(pgrep -d, -P "$pg_pid")" -e raw_syscalls:sys_enter \
          -e syscalls:sys_enter_recvfrom -e syscalls:sys_enter_sendto -e syscalls:sys_enter_epoll_wait \
          -- sleep $((DURATION - 1)) &
        pg_perf_pid=$!
      fi
      w=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:${port[$s]}$(path "$t")")
      if [ -n "${SYSCALLS:-}" ]; then
        wait "$perf_pid" "$pg_perf_pid"
        n=$(awk '/requests in/ {print $1}' <<<"$w")
        for f in syscalls pg-syscalls; do
          awk -F, -v n="$n" -v d="$DURATION" -v who="$([ $f = syscalls ] && echo "server" || echo "PostgreSQL")" '$3 ~ /sys/ {
              sub(/^(raw_)?syscalls:sys_/, "", $3); sub(/exit_recvfrom/, "recvfrom EAGAIN", $3)
              printf "%s%s %.2f", (k++ ? ", " : "    " who " system calls per request: "), $3, $1 / (n * (d - 1) / d) }
            END { print "" }' "$out/$f-$s-$t-$r.txt"
        done
      fi
      after=$(cpu_ticks "${!pid_var}")
      pg_after=$(pg_ticks "$pg_pid")
      reqs=$(awk '/requests in/ {print $1}' <<<"$w")
      errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$w" | tr '\n' ' ')
      echo "$r $t $s $reqs $((after - before)) $hz $DURATION $((pg_after - pg_before)) $errs" >> "$results"
      printf 'round %s %-9s %-8s %8.0f req/s  %6.1f us CPU/req  %6.1f us PostgreSQL CPU/req %s\n' "$r" "$t" "$s" \
        "$(echo "$reqs / $DURATION" | bc -l)" "$(echo "($after - $before) * 1000000 / $hz / $reqs" | bc -l)" \
        "$(echo "($pg_after - $pg_before) * 1000000 / $hz / $reqs" | bc -l)" "$errs"
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
data = {}
for r in rows:
    _, t, s, reqs, ticks, hz, dur, pg = r[:8]
    reqs, ticks, hz, dur, pg = int(reqs), int(ticks), int(hz), float(dur), int(pg)
    data.setdefault((t, s), []).append((reqs / dur, ticks / hz * 1e6 / reqs, pg / hz * 1e6 / reqs))
tests = list(dict.fromkeys(r[1] for r in rows))
servers = list(dict.fromkeys(r[2] for r in rows))
print()
print("| test | " + " | ".join(f"{s} req/s" for s in servers) + " | " + " | ".join(f"{s} CPU µs/req" for s in servers)
      + " | " + " | ".join(f"PostgreSQL CPU µs/req ({s})" for s in servers)
      + " | asyncio/axum req/s | asyncio/axum CPU | asyncio/fastapi req/s | asyncio-uring/axum req/s | asyncio-uring/axum CPU |")
print("|---" * (1 + 3 * len(servers) + 5) + "|")
for t in tests:
    rps = {s: statistics.median(x[0] for x in data[(t, s)]) for s in servers if (t, s) in data}
    cpu = {s: statistics.median(x[1] for x in data[(t, s)]) for s in servers if (t, s) in data}
    pg = {s: statistics.median(x[2] for x in data[(t, s)]) for s in servers if (t, s) in data}
    ratio = lambda a, b, d: f"{d[a] / d[b]:.2f}x" if a in d and b in d else "n/a"
    print(f"| {t} | " + " | ".join(f"{rps.get(s, 0):,.0f}" for s in servers) + " | "
          + " | ".join(f"{cpu.get(s, 0):.1f}" for s in servers) + " | "
          + " | ".join(f"{pg.get(s, 0):.1f}" for s in servers) + " | "
          + f"{ratio('asyncio', 'axum', rps)} | {ratio('asyncio', 'axum', cpu)} | {ratio('asyncio', 'fastapi', rps)} | "
          + f"{ratio('asyncio-uring', 'axum', rps)} | {ratio('asyncio-uring', 'axum', cpu)} |")
PY
