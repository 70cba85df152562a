#!/usr/bin/env bash
# Cross-builds one of our binaries as a static Linux executable (for Lambda images and
# for the operator's image), without Docker: rustup's musl targets, with zig (PyPI
# `ziglang`) as the C compiler and linker through `cargo zigbuild` (PyPI
# `cargo-zigbuild`); aws-lc and the bundled SQLite are C. Installs what is missing, builds
# into ~/.cache/authdomain/cross-target (or $AUTHDOMAIN_CROSS_TARGET_DIR) and prints one
# binary path per architecture asked for.
#   scripts/build-static.sh BINARY [arm64] [x86_64]      (default: both)
#   BINARY: authserver | authorizer (profile `release`: fat LTO, for the Lambda images'
#   size) | operator (profile `image`: thin LTO, in a fraction of the time; its image is
#   pulled once per node, not cold-started)
set -euo pipefail
cd "$(dirname "$0")/.."

ZIGLANG=0.17.1
ZIGBUILD=0.24.1
TARGET_DIR=${AUTHDOMAIN_CROSS_TARGET_DIR:-$HOME/.cache/authdomain/cross-target}
BINARY=${1:?usage: scripts/build-static.sh BINARY [arm64] [x86_64]}
shift
PROFILE=release
BIN=$BINARY
case $BINARY in
  authserver) PACKAGE=authserver ;;
  authorizer) PACKAGE=authdomain-authorizer ;;
  operator) PACKAGE=operator BIN=authdomain-operator PROFILE=image ;;
  *) echo "build-static: unknown binary '$BINARY' (expected authserver, authorizer or operator)" >&2; exit 2 ;;
esac
archs=("$@")
((${#archs[@]})) || archs=(arm64 x86_64)

triple() {
  case $1 in
    arm64 | aarch64) echo aarch64-unknown-linux-musl ;;
    x86_64 | amd64) echo x86_64-unknown-linux-musl ;;
    *) echo "build-static: unknown architecture '$1' (expected arm64 or x86_64)" >&2; exit 2 ;;
  esac
}

installed_targets=$(rustup target list --installed)
for arch in "${archs[@]}"; do
  t=$(triple "$arch")
  grep -qx "$t" <<<"$installed_targets" || rustup target add "$t" >&2
done
if ! python3 - "$ZIGLANG" "$ZIGBUILD" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(0 if (version("ziglang"), version("cargo-zigbuild")) == tuple(sys.argv[1:3]) else 1)
PY
  echo "build-static: installing ziglang $ZIGLANG and cargo-zigbuild $ZIGBUILD (pip)" >&2
  python3 -m pip install -q "ziglang==$ZIGLANG" "cargo-zigbuild==$ZIGBUILD" >&2
fi
command -v cargo-zigbuild >/dev/null || { echo "build-static: cargo-zigbuild is not on PATH after install" >&2; exit 1; }

targets=()
for arch in "${archs[@]}"; do targets+=(--target "$(triple "$arch")"); done
echo "build-static: cargo zigbuild --profile $PROFILE -p $PACKAGE --bin $BIN ${targets[*]}" >&2
CARGO_TARGET_DIR=$TARGET_DIR cargo-zigbuild zigbuild --profile "$PROFILE" --locked -q -p "$PACKAGE" --bin "$BIN" "${targets[@]}" >&2
for arch in "${archs[@]}"; do
  echo "$TARGET_DIR/$(triple "$arch")/$PROFILE/$BIN"
done
