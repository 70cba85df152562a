#!/usr/bin/env bash
# AWS calls and wall time of a no-op plan (one domain) and of drift across DOMAINS domains
# (default 50) in one account, against a moto server and an OCI registry on loopback that
# the benchmark starts itself (tests/moto_server.py, Debian's docker-registry; both are
# installed by scripts/test-deps.sh). Prints the figures recorded in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/authdomain/target}
export CI=true # a missing moto or registry is an error, not a skip
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F)"
cargo run -q -p provisioner --example plan_calls -- "${DOMAINS:-50}"
