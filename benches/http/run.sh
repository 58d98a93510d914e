#!/usr/bin/env bash
# HTTP/1.1 hello world under wrk (keep-alive, 100 connections): asyncio-http's
# `hello` example against hyper on tokio (benches/examples/hyper_tokio_hello.rs),
# the servers taking turns round-robin, each sample a fresh server process.
#
#   bash benches/http/run.sh                      # 5 rounds of 5 s per server (about 3 minutes)
#   ROUNDS=9 DURATION=10 bash benches/http/run.sh # more and longer samples on a noisy machine
#   PIN=1 bash benches/http/run.sh                # 1-worker rows: server on CPU 1, wrk on CPU 0
#   ONLY=w1 bash benches/http/run.sh              # only servers whose name contains "w1"
#   TLS=1 bash benches/http/run.sh                # HTTPS: both servers with --tls, wrk on https://
#   URING=1 bash benches/http/run.sh              # also asyncio-http on the io_uring driver
#
# Servers (each on 127.0.0.1:$PORT, one at a time):
#   asyncio-w2 / asyncio-w1   asyncio-http's example `hello --port P --workers N`
#   asyncio-uring-w2 / -w1    the same with ASYNCIO_DRIVER=io_uring (URING=1 only)
#   tokio-percore-w2 / -w1    hyper on N tokio current-thread runtimes, one per
#                             thread, each with its own SO_REUSEPORT listener
#                             (the same "one loop per core" shape; w1 is plain
#                             tokio current-thread)
#   tokio-mt-w2               hyper on one tokio multi-thread runtime, 2 workers,
#                             one listener (the usual hyper server)
# Every response is `200`, `text/plain; charset=utf-8`, `Hello, world!`, plus
# the server's `date` and `content-length` (checked once per sample).
#
# Load: `wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s --latency` (defaults -t2 -c100),
# after an untimed warm-up of $WARMUP s (default 1) on the same server
# process. Each table cell is the median over the rounds, with the
# [min-max] spread of requests/s; latencies are wrk's p50/p99, medians over
# the rounds; "CPU us/req" is the server process's user+system CPU time
# (/proc/PID/stat, all threads) over wrk's timed window divided by wrk's
# request count: less sensitive than req/s to what else runs on the machine.
# Ratios are ours / tokio's, same worker count: the ratio of the median
# requests/s (> 1 means asyncio-http is faster), the median of the per-round
# ratios (each round's two samples ran close in time), and the ratio of the
# median CPU per request (< 1 means asyncio-http is cheaper).
#
# Caveat printed with the results: wrk runs on the same CPUs as the server.
# Unpinned, the scheduler places wrk's threads and the server's as it likes;
# with PIN=1 the 1-worker servers get CPU 1 and wrk CPU 0 (taskset). The
# 2-worker rows are never pinned (there are only 2 CPUs).
#
# TLS=1: the same over HTTPS. A throwaway ECDSA P-256 CA and server
# certificate are made first (`--example tls_certs`, into target/http-bench-tls/;
# nothing is committed), both servers get `--tls cert.pem key.pem` (rustls
# with the ring provider on both sides: asyncio-http's `tls`, tokio-rustls for
# hyper) and wrk (OpenSSL) connects to https://; each of its keep-alive
# connections makes one handshake, so the rows measure record encryption of
# small requests and responses more than handshakes.
#
# wrk is installed with `apt-get install -y wrk` if missing. Raw samples go to
# target/http-bench.txt (target/https-bench.txt with TLS=1).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-100}
WRK_THREADS=${WRK_THREADS:-2}
PORT=${PORT:-18080}
PIN=${PIN:-0}
ONLY=${ONLY:-}
TLS=${TLS:-0}
URING=${URING:-0}
RAW=target/http-bench.txt
HOST=127.0.0.1
SCHEME=http
TLS_ARGS=
if [ "$TLS" = 1 ]; then
    RAW=target/https-bench.txt
    SCHEME=https
    TLS_DIR=target/http-bench-tls
    TLS_ARGS="--tls $TLS_DIR/cert.pem $TLS_DIR/key.pem"
fi

log() { echo "$*" >&2; }

# --- wrk -------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    log "wrk not found: installing it with apt-get (Debian package 'wrk')"
    if ! command -v apt-get >/dev/null 2>&1; then
        log "error: wrk is not installed and apt-get is not available here; install wrk by hand (Debian/Ubuntu package 'wrk') and re-run"
        exit 1
    fi
    if ! { apt-get install -y wrk >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y wrk >/dev/null; }; }; then
        log "error: 'apt-get install -y wrk' failed (not root? no package index or network?); install wrk by hand and re-run"
        exit 1
    fi
    command -v wrk >/dev/null 2>&1 || { log "error: wrk still not on PATH after apt-get"; exit 1; }
fi
if [ "$PIN" = 1 ] && ! command -v taskset >/dev/null 2>&1; then
    log "error: PIN=1 needs taskset (Debian package util-linux)"
    exit 1
fi
if [ "$PIN" = 1 ] && ! taskset -c 0,1 true 2>/dev/null; then
    log "error: PIN=1 needs CPUs 0 and 1 to be allowed for this process"
    exit 1
fi

# --- builds ----------------------------------------------------------------
log "building hyper_tokio_hello (cargo build --release -p asyncio-benches --example hyper_tokio_hello)"
cargo build --release -p asyncio-benches --example hyper_tokio_hello >&2
TOKIO_BIN=target/release/examples/hyper_tokio_hello
[ -x "$TOKIO_BIN" ] || { log "error: $TOKIO_BIN was not built"; exit 1; }
if [ "$TLS" = 1 ]; then
    if ! command -v curl >/dev/null 2>&1; then
        log "error: TLS=1 checks each server's answer with curl (Debian package 'curl')"
        exit 1
    fi
    log "making a throwaway CA and server certificate (cargo run --release -p asyncio-benches --example tls_certs)"
    cargo run --release -q -p asyncio-benches --example tls_certs -- "$TLS_DIR" >/dev/null
fi

OURS_BIN=target/release/examples/hello
HAVE_OURS=0
WHY_NOT_OURS="its hello example did not build"
mkdir -p target
log "building asyncio-http's hello (cargo build --release -p asyncio-http --example hello)"
if [ "$TLS" = 1 ] && ! grep -q -- '--tls' asyncio-http/examples/hello.rs 2>/dev/null; then
    log ""
    WHY_NOT_OURS="its hello example has no --tls option"
    log "*** SKIPPING asyncio-http: its 'hello' example has no --tls option yet; only hyper on tokio is measured."
    log ""
elif cargo build --release -p asyncio-http --example hello >target/http-bench-build.log 2>&1 && [ -x "$OURS_BIN" ]; then
    HAVE_OURS=1
else
    log ""
    log "*** SKIPPING asyncio-http: its 'hello' example did not build (asyncio-http/examples/hello.rs missing or broken)."
    log "*** Only the tokio servers are measured; no ratio can be given. Last lines of the build log"
    log "*** (full log: target/http-bench-build.log):"
    tail -n 8 target/http-bench-build.log | sed 's/^/    /' >&2
    log ""
fi

# --- servers: name|workers|pinned?|command ----------------------------------
servers=()
add() { if [ -z "$ONLY" ] || [[ "$1" == *"$ONLY"* ]]; then servers+=("$1|$2|$3|$4"); fi; }
PIN1=0
[ "$PIN" = 1 ] && PIN1=1
if [ "$HAVE_OURS" = 1 ]; then
    add asyncio-w2 2 0 "$OURS_BIN --port $PORT --workers 2 $TLS_ARGS"
    if [ "$URING" = 1 ]; then
        add asyncio-uring-w2 2 0 "env ASYNCIO_DRIVER=io_uring $OURS_BIN --port $PORT --workers 2 $TLS_ARGS"
    fi
fi
add tokio-percore-w2 2 0 "$TOKIO_BIN --port $PORT --workers 2 $TLS_ARGS"
add tokio-mt-w2 2 0 "$TOKIO_BIN --port $PORT --workers 2 --flavor mt $TLS_ARGS"
if [ "$HAVE_OURS" = 1 ]; then
    add asyncio-w1 1 "$PIN1" "$OURS_BIN --port $PORT --workers 1 $TLS_ARGS"
    if [ "$URING" = 1 ]; then
        add asyncio-uring-w1 1 "$PIN1" "env ASYNCIO_DRIVER=io_uring $OURS_BIN --port $PORT --workers 1 $TLS_ARGS"
    fi
fi
add tokio-percore-w1 1 "$PIN1" "$TOKIO_BIN --port $PORT --workers 1 $TLS_ARGS"
[ "${#servers[@]}" -gt 0 ] || { log "error: ONLY=$ONLY matches no server"; exit 1; }

# --- helpers ---------------------------------------------------------------
SERVER_PID=
trap 'stop_server' EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

# One GET over a fresh connection: the status line and body must be right.
check_response() {
    local reply
    if [ "$TLS" = 1 ]; then
        # The certificate is for localhost and 127.0.0.1; verified against the CA.
        reply=$(curl -sS -i --max-time 5 --cacert "$TLS_DIR/ca.pem" "https://$HOST:$PORT/") || return 1
        [[ "$reply" == "HTTP/1.1 200"* && "$reply" == *"Hello, world!" ]]
        return
    fi
    reply=$(exec 3<>"/dev/tcp/$HOST/$PORT" &&
        printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$HOST" >&3 &&
        timeout 5 cat <&3) || return 1
    [[ "$reply" == "HTTP/1.1 200"* && "$reply" == *"Hello, world!" ]]
}

start_server() { # pinned command...
    local pinned=$1
    shift
    if port_open; then
        log "error: something already listens on $HOST:$PORT (set PORT=...)"
        exit 1
    fi
    if [ "$pinned" = 1 ]; then
        taskset -c 1 "$@" >target/http-bench-server.log 2>&1 &
    else
        "$@" >target/http-bench-server.log 2>&1 &
    fi
    SERVER_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        if port_open; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "error: server exited before listening: $*"
            sed 's/^/    /' target/http-bench-server.log >&2
            SERVER_PID=
            exit 1
        fi
        sleep 0.05
    done
    log "error: server not accepting on $HOST:$PORT after 10 s: $*"
    exit 1
}

stop_server() { # SIGTERM; SIGKILL if it is still there after 5 s
    [ -n "$SERVER_PID" ] || return 0
    local i
    kill "$SERVER_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        log "warning: server $SERVER_PID ignored SIGTERM for 5 s: SIGKILL"
        kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

run_wrk() { # pinned duration
    local cmd=(wrk "-t$WRK_THREADS" "-c$CONNS" "-d$2s" --latency "$SCHEME://$HOST:$PORT/")
    if [ "$1" = 1 ]; then
        taskset -c 0 "${cmd[@]}"
    else
        "${cmd[@]}"
    fi
}

# wrk's report -> "rps requests p50_us p99_us errors"
parse_wrk() {
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0;
            if (v ~ /ms$/) return (v + 0) * 1000;
            if (v ~ /m$/) return (v + 0) * 60e6;
            if (v ~ /s$/) return (v + 0) * 1e6;
            return v + 0;
        }
        /^Requests\/sec:/ { rps = $2 }
        $2 == "requests" && $3 == "in" { reqs = $1 }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        /Non-2xx or 3xx responses:/ { err += $NF }
        /Socket errors:/ {
            for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) err += $i + 0
        }
        END { if (rps == "" || reqs == "") exit 1; printf "%s %s %.1f %.1f %d\n", rps, reqs, p50, p99, err + 0 }
    '
}

CLK_TCK=$(getconf CLK_TCK)
# User + system CPU of the server process so far (all its threads), in ticks.
server_cpu() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }

# --- the rounds ------------------------------------------------------------
n=${#servers[@]}
: >"$RAW"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "servers: $(for s in "${servers[@]}"; do printf '%s ' "${s%%|*}"; done)"
log "$ROUNDS rounds x $n servers x (${WARMUP} s warm-up + ${DURATION} s): wrk -t$WRK_THREADS -c$CONNS, PIN=$PIN"
for ((r = 0; r < ROUNDS; r++)); do
    for ((j = 0; j < n; j++)); do
        IFS='|' read -r name workers pinned cmd <<<"${servers[$(((r + j) % n))]}"
        # shellcheck disable=SC2086  # cmd is a word list on purpose
        start_server "$pinned" $cmd
        if ! check_response; then
            log "error: $name did not answer GET / with 200 and 'Hello, world!'"
            exit 1
        fi
        if [ "$WARMUP" != 0 ]; then run_wrk "$pinned" "$WARMUP" >/dev/null; fi
        cpu0=$(server_cpu)
        out=$(run_wrk "$pinned" "$DURATION")
        cpu1=$(server_cpu)
        stop_server
        if ! res=$(parse_wrk <<<"$out"); then
            log "error: could not parse wrk's output for $name:"
            log "$out"
            exit 1
        fi
        read -r rps reqs p50 p99 errs <<<"$res"
        # server CPU per request, microseconds (wrk's request count; the
        # few requests in flight at the window's edges are noise)
        cpu_us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v q="$reqs" 'BEGIN { printf "%.2f", (q > 0 ? t / hz * 1e6 / q : 0) }')
        echo "$((r + 1)) $name $workers $pinned $rps $p50 $p99 $errs $cpu_us" >>"$RAW"
        log "round $((r + 1))/$ROUNDS  $(printf '%-17s' "$name") $(printf '%8.0f' "$rps") req/s  p50 $(printf '%6.0f' "$p50") us  p99 $(printf '%7.0f' "$p99") us  server CPU $(printf '%5.1f' "$cpu_us") us/req$([ "$errs" != 0 ] && echo "  errors $errs")"
    done
done

# --- the table -------------------------------------------------------------
echo
echo "$([ "$TLS" = 1 ] && echo "HTTPS (TLS, rustls/ring servers, wrk's OpenSSL client)" || echo "HTTP/1.1") hello world, wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s --latency (keep-alive), $ROUNDS rounds, servers alternating"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)); kernel $(uname -r); $(rustc --version | cut -d' ' -f1-2); $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
echo "hyper $(awk '/^name = "hyper"$/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock), tokio $(awk '/^name = "tokio"$/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock); load average (1/5/15 min) before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$PIN" = 1 ]; then
    echo "NOTE: wrk shares the machine's CPUs with the server. 1-worker rows pinned (server CPU 1, wrk CPU 0)."
    if grep -q '^[0-9]* [^ ]* 2 ' "$RAW"; then
        echo "      2-worker rows unpinned: wrk and the server's 2 threads compete for the same 2 CPUs."
    fi
else
    echo "NOTE: wrk runs on the same $(nproc) CPUs as the server (nothing pinned), so req/s is a joint"
    echo "      server+client figure; PIN=1 gives the 1-worker servers a CPU of their own."
fi
awk -v have_ours="$HAVE_OURS" -v why_not="$WHY_NOT_OURS" '
    function sort(a, n,    i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    }
    function median(a, n) { sort(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    function col(f, s,    k) { delete a; for (k = 1; k <= cnt[s]; k++) a[k] = v[f, s, k] + 0; return median(a, cnt[s]) }
    {
        name = $2
        if (!(name in cnt)) { order[++nn] = name; workers[name] = $3; pinned[name] = $4 }
        k = ++cnt[name]
        v["rps", name, k] = $5; v["p50", name, k] = $6; v["p99", name, k] = $7; v["cpu", name, k] = $9
        errs[name] += $8
        byround[name, $1] = $5
        if ($1 > rounds) rounds = $1
    }
    END {
        printf "\n| %-16s | %7s | %12s | %-15s | %8s | %8s | %12s | %6s |\n", "server", "workers", "median req/s", "[min-max]", "p50 ms", "p99 ms", "CPU us/req", "errors"
        printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------", "--------:", "-------------:", "-----------------", "---------:", "---------:", "-------------:", "-------:"
        for (i = 1; i <= nn; i++) {
            s = order[i]
            med[s] = col("rps", s); lo = a[1]; hi = a[cnt[s]]
            w = workers[s] (pinned[s] ? " (pin)" : "")
            printf "| %-16s | %7s | %12.0f | %-15s | %8.2f | %8.2f | %12.1f | %6d |\n", s, w, med[s], sprintf("[%.0f-%.0f]", lo, hi), col("p50", s) / 1000, col("p99", s) / 1000, col("cpu", s), errs[s]
        }
        printf "\n"
        if (!have_ours) { print "asyncio-http not measured (" why_not "): no ratio."; exit }
        printf "| %-30s | %16s | %23s | %14s |\n", "req/s, ours / theirs", "ratio of medians", "per-round [min-max]", "CPU/req o/t"
        printf "|%s|%s|%s|%s|\n", "--------------------------------", "-----------------:", "------------------------:", "---------------:"
        pairs = "asyncio-w2/tokio-percore-w2 asyncio-w2/tokio-mt-w2 asyncio-w1/tokio-percore-w1 asyncio-uring-w2/tokio-percore-w2 asyncio-uring-w1/tokio-percore-w1 asyncio-uring-w1/asyncio-w1 asyncio-uring-w2/asyncio-w2"
        np = split(pairs, p, " ")
        for (i = 1; i <= np; i++) {
            split(p[i], ab, "/")
            if (!((ab[1] in med) && (ab[2] in med) && med[ab[2]] > 0)) continue
            c1 = col("cpu", ab[1]); c2 = col("cpu", ab[2])
            delete a; m = 0
            for (r = 1; r <= rounds; r++)
                if (((ab[1], r) in byround) && ((ab[2], r) in byround) && byround[ab[2], r] > 0)
                    a[++m] = byround[ab[1], r] / byround[ab[2], r]
            pr = median(a, m)
            printf "| %-30s | %15.2fx | %23s | %13.2fx |\n", ab[1] " / " ab[2], med[ab[1]] / med[ab[2]], sprintf("%.2fx [%.2f-%.2f]", pr, a[1], a[m]), (c2 > 0 ? c1 / c2 : 0)
        }
        print "req/s ratios > 1: asyncio-http faster. Per-round: each round'"'"'s ours/theirs (samples run close in time),"
        print "median and spread. CPU/req o/t: server CPU time per request, ours / theirs (< 1: ours cheaper)."
    }
' "$RAW"
echo
echo "raw samples (round name workers pinned req/s p50_us p99_us errors server_cpu_us_per_req): $RAW"
