#!/usr/bin/env bash
# HTTP/2 in cleartext (h2c, prior knowledge) or over TLS (TLS=1) under h2load: asyncio-http's
# `hello` example against hyper's HTTP/2 on tokio (benches/examples/
# hyper_tokio_hello.rs --h2c), one worker each, 10 connections × 10 streams
# (100 streams in flight), servers taking turns round by round, each sample
# a fresh server process after a 1 s warm-up. Prints requests/s and the
# server's CPU per request (utime + stime from /proc over the timed run).
#
#   bash benches/http/h2load.sh                 # 5 rounds of 5 s
#   ROUNDS=9 DURATION=10 bash benches/http/h2load.sh
#   TLS=1 bash benches/http/h2load.sh           # HTTP/2 over TLS (ALPN h2; a throwaway CA)
#
# Needs h2load (Debian's nghttp2-client; installed when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }
cargo build --release -q -p asyncio-http --example hello
cargo build --release -q -p asyncio-benches --example hyper_tokio_hello
bin=${CARGO_TARGET_DIR:-target}/release/examples
TLS=${TLS:-0}
tls_args=()
scheme=http
curl_args=(--http2-prior-knowledge)
if [ "$TLS" = 1 ]; then
  tls_dir=${CARGO_TARGET_DIR:-target}/h2load-tls
  cargo run --release -q -p asyncio-benches --example tls_certs -- "$tls_dir" >/dev/null
  tls_args=(--tls "$tls_dir/cert.pem" "$tls_dir/key.pem")
  scheme=https
  curl_args=(--http2 --cacert "$tls_dir/ca.pem")
fi
host=127.0.0.1
[ "$TLS" = 1 ] && host=localhost
hz=$(getconf CLK_TCK)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
results=$(mktemp)
for r in $(seq "$ROUNDS"); do
  for s in asyncio tokio; do
    p=$(free_port)
    case $s in
      asyncio) "$bin/hello" --port "$p" --workers 1 "${tls_args[@]}" >/dev/null 2>&1 & ;;
      tokio) "$bin/hyper_tokio_hello" --port "$p" --workers 1 --h2c "${tls_args[@]}" >/dev/null 2>&1 & ;;
    esac
    pid=$!
    url="$scheme://$host:$p/"
    for _ in $(seq 100); do curl -sf "${curl_args[@]}" "$url" >/dev/null && break; sleep 0.1; done
    [ "$(curl -s -o /dev/null -w '%{http_version}' "${curl_args[@]}" "$url")" = 2 ] || { echo "$s does not answer HTTP/2 at $url" >&2; exit 1; }
    h2load -c 10 -m 10 -D 1 "$url" >/dev/null 2>&1
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$(h2load -c 10 -m 10 -D "$DURATION" "$url" 2>&1)
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    n=$(awk '/^requests:/ {print $8}' <<<"$out")
    failed=$(awk '/^requests:/ {print $10}' <<<"$out")
    echo "$s $n $((after - before)) $failed" >> "$results"
    printf 'round %s %-8s %9.0f req/s %6.2f us CPU/req (%s failed)\n' "$r" "$s" \
      "$(echo "$n / $DURATION" | bc -l)" "$(echo "($after - $before) * 1000000 / $hz / $n" | bc -l)" "$failed"
  done
done
python3 - "$results" "$DURATION" "$hz" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
dur, hz = float(sys.argv[2]), int(sys.argv[3])
rps = {s: statistics.median(int(r[1]) / dur for r in rows if r[0] == s) for s in ("asyncio", "tokio")}
cpu = {s: statistics.median(int(r[2]) / hz * 1e6 / int(r[1]) for r in rows if r[0] == s) for s in ("asyncio", "tokio")}
print(f"\nmedians: asyncio-http {rps['asyncio']:,.0f} req/s {cpu['asyncio']:.2f} us CPU/req; "
      f"hyper on tokio {rps['tokio']:,.0f} req/s {cpu['tokio']:.2f} us CPU/req; "
      f"ratios (asyncio/tokio): req/s {rps['asyncio'] / rps['tokio']:.3f}x, CPU/req {cpu['asyncio'] / cpu['tokio']:.3f}x")
PY
rm -f "$results"
