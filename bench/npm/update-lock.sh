#!/usr/bin/env bash
# Regenerate a bench package's package-lock.json after changing its package.json
# (maintainers only). The lock file is kept free of registry host names: no "resolved"
# fields (npm's omit-lockfile-registry-resolved) and no "funding" URLs.
#   bench/npm/update-lock.sh PACKAGE_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pkg="$(cd "${1:?usage: update-lock.sh PACKAGE_DIR}" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$pkg/package.json" "$tmp/"
(cd "$tmp" && npm install --package-lock-only --omit-lockfile-registry-resolved \
  --ignore-scripts --no-audit --no-fund >/dev/null)
node "$here/strip-lock.mjs" "$tmp/package-lock.json" > "$pkg/package-lock.json"
if grep -nE 'https?://|registry|resolved' "$pkg/package-lock.json"; then
  echo "package-lock.json still names a host" >&2; exit 1
fi
echo "wrote $pkg/package-lock.json"
