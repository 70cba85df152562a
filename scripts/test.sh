#!/usr/bin/env bash
# The test command: installs the test dependencies if missing, then runs every test of the
# workspace (unit, integration against real PostgreSQL / SQLite / Lambda emulator / moto,
# end-to-end). Builds go to ~/.cache/authdomain/target unless CARGO_TARGET_DIR is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authdomain/target}"
exec cargo test --workspace --locked "$@"
