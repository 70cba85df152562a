#!/usr/bin/env bash
# Regenerate package-lock.json after changing package.json (maintainers only).
# The lock file is kept free of registry host names: no "resolved" fields
# (npm's omit-lockfile-registry-resolved) and no "funding" URLs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$here/package.json" "$tmp/"
(cd "$tmp" && npm install --package-lock-only --omit-lockfile-registry-resolved \
  --ignore-scripts --no-audit --no-fund >/dev/null)
node "$here/strip-lock.mjs" "$tmp/package-lock.json" > "$here/package-lock.json"
if grep -nE 'https?://|registry|resolved' "$here/package-lock.json"; then
  echo "package-lock.json still names a host" >&2; exit 1
fi
echo "wrote $here/package-lock.json"
