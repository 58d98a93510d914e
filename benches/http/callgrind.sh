#!/usr/bin/env bash
# Instructions per request in the server, counted by callgrind: asyncio-http's `hello` against
# hyper on tokio (benches/examples/hyper_tokio_hello.rs), one worker each, driven by h2load.
# Repeatable where wall times on a shared machine are not (run to run about ±100 instructions on
# HTTP/1.1, ±200 on h2c).
#
#   bash benches/http/callgrind.sh              # HTTP/1.1 (h2load --h1 -c 10)
#   PROTO=h2c bash benches/http/callgrind.sh    # h2c, 10 connections × 10 streams
#   SERVERS=asyncio N1=5000 N2=25000 bash benches/http/callgrind.sh
#   KEEP=1 bash benches/http/callgrind.sh       # keep the profiles (path printed) for
#                                               # callgrind_annotate --inclusive=yes --tree=calling
#
# Each server runs under callgrind twice, serving N1 and then N2 requests; the count per request is
# (Ir(N2) - Ir(N1)) / (N2 - N1), which cancels start-up and shutdown. The profile is dumped with
# callgrind_control while the server still runs (hyper_tokio_hello has no graceful stop), then the
# server is killed. Instructions in user space only: a system call counts as one.
#
# Needs valgrind and h2load (Debian's valgrind and nghttp2-client; installed when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
N1=${N1:-5000}
N2=${N2:-25000}
PROTO=${PROTO:-h1}
SERVERS=${SERVERS:-"asyncio tokio"}
((N2 > N1)) || { echo "callgrind.sh: N2 ($N2) must be larger than N1 ($N1)" >&2; exit 1; }
for tool in valgrind:valgrind h2load:nghttp2-client; do
  command -v "${tool%%:*}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${tool#*:}" >/dev/null; }
done
cargo build --release -q -p asyncio-http --example hello
cargo build --release -q -p asyncio-benches --example hyper_tokio_hello
bin=${CARGO_TARGET_DIR:-target}/release/examples
case $PROTO in
  h1) load=(--h1 -c 10); curl_args=(); tokio_args=() ;;
  h2c) load=(-c 10 -m 10); curl_args=(--http2-prior-knowledge); tokio_args=(--h2c) ;;
  *) echo "callgrind.sh: PROTO is h1 or h2c" >&2; exit 1 ;;
esac
out=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Instructions of one server process serving $2 requests.
count() {
  local server=$1 n=$2 port profile pid
  port=$(free_port)
  profile="$out/$server.$n"
  case $server in
    asyncio) cmd=("$bin/hello" --port "$port" --workers 1) ;;
    tokio) cmd=("$bin/hyper_tokio_hello" --port "$port" --workers 1 "${tokio_args[@]}") ;;
  esac
  valgrind --tool=callgrind --callgrind-out-file="$profile" "${cmd[@]}" >/dev/null 2>"$profile.log" &
  pid=$!
  for _ in $(seq 300); do curl -sf "${curl_args[@]}" "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
  local done_line
  done_line=$(h2load "${load[@]}" -n "$n" "http://127.0.0.1:$port/" 2>&1 | grep '^requests:')
  grep -q "$n succeeded, 0 failed" <<<"$done_line" || { echo "$server: $done_line" >&2; exit 1; }
  callgrind_control -d "$pid" >/dev/null 2>&1
  # The dump is complete once its summary line is written.
  for _ in $(seq 100); do grep -qs '^summary' "$profile.1" && break; sleep 0.1; done
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  awk '/^summary:/ {print $2}' "$profile.1"
}

declare -A per_request
for server in $SERVERS; do
  a=$(count "$server" "$N1")
  b=$(count "$server" "$N2")
  per_request[$server]=$(( (b - a) / (N2 - N1) ))
  printf '%-8s %s: %d instructions per request (%d requests: %d, %d requests: %d)\n' \
    "$server" "$PROTO" "${per_request[$server]}" "$N1" "$a" "$N2" "$b"
done
if [ -n "${per_request[asyncio]:-}" ] && [ -n "${per_request[tokio]:-}" ]; then
  echo "asyncio / tokio: $(echo "scale=3; ${per_request[asyncio]} / ${per_request[tokio]}" | bc)x"
fi
if [ "${KEEP:-0}" = 1 ]; then echo "profiles in $out"; else rm -rf "$out"; fi
