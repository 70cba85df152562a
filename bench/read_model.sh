#!/usr/bin/env bash
# The read model's figures (see bench/read_model.py): builds the auth server as Lambda runs
# it (the static x86_64 binary, release profile) and the `authdomain` CLI, then measures
# with a PostgreSQL server, moto and a local Lambda Runtime API of its own.
#   bench/read_model.sh [--runs N] [--tokens N] [--seconds S] [--clients N] [--changes N] [--big N]
# Needs: PostgreSQL server binaries (Debian `postgresql`), moto and boto3 (pip, as
# scripts/test-deps.sh installs them), zig for the static build (scripts/build-static.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(scripts/build-static.sh authserver x86_64)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authdomain/target}"
cargo build -q --workspace --bins
exec python3 bench/read_model.py --authserver "$BIN" --authdomain "$CARGO_TARGET_DIR/debug/authdomain" "$@"
