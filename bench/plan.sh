#!/usr/bin/env bash
# AWS calls and wall time of a no-op plan (1 domain) and of drift across 50 domains, against
# a local moto server started here. Prints the figures recorded in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v moto_server >/dev/null || { echo "bench: moto_server is required (pip install 'moto[server]')" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$(dirname "$0")/../tests/moto_server.py" -H 127.0.0.1 -p "$PORT" >/dev/null 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done
cargo build --release -q -p provisioner --example plan_calls
TARGET=${CARGO_TARGET_DIR:-target}
AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" "$TARGET/release/examples/plan_calls" "${DOMAINS:-50}"
