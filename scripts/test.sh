#!/usr/bin/env bash
# The test command: installs the test dependencies if missing, cross-builds the auth
# server for Lambda, then runs every test of the workspace (unit, integration against real
# PostgreSQL / SQLite / Lambda emulator / moto / OCI registry / qemu, end-to-end). Builds go to ~/.cache/authdomain/target unless CARGO_TARGET_DIR is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
# The auth server and the authorizer cross-built for Lambda (arm64 and x86_64): the
# image, qemu, bootstrap and authorizer tests use them. Incremental: quick when nothing
# changed.
scripts/build-static.sh authserver >/dev/null
scripts/build-static.sh authorizer >/dev/null
# The operator, for its multi-architecture image (the operator image test).
scripts/build-static.sh operator >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authdomain/target}"
exec cargo test --workspace --locked "$@"
