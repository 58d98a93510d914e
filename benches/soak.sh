#!/usr/bin/env bash
# The soak run (not in CI): 5,000 keep-alive HTTP/1.1 connections, 1,000
# WebSockets and 1,000 concurrent HTTP/2 streams against `soak_server
# --workers 2` for 10 minutes under a light load; prints latency, the
# server's RSS and descriptors every minute (see benches/examples/soak.rs).
# Arguments go to the driver: `bash benches/soak.sh --minutes 2`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p asyncio-benches --example soak --example soak_server
exec target/release/examples/soak "$@"
