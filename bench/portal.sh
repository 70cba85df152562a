#!/usr/bin/env bash
# Time to first byte of the portal's pages in server mode (release build, SQLite, a
# signed-in admin, 20 APIs, 60 clients, 320 audit events), over a keep-alive loopback
# connection. Prints a Markdown table of p50/p90/p99.
#   bench/portal.sh [REQUESTS_PER_PAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authdomain/target}"
cargo build -q --release --locked -p authserver --example portal_bench
"$CARGO_TARGET_DIR/release/examples/portal_bench" "${1:-2000}"
