#!/usr/bin/env bash
# Installs the node modules of a bench package (a directory with package.json and a
# host-free package-lock.json) outside the work tree, into
#   ${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}/<name>
# and prints that directory. Idempotent: does nothing when it already holds an install
# made from the same package-lock.json.
#   bench/npm/install.sh PACKAGE_DIR NAME
set -euo pipefail
src="$(cd "${1:?usage: install.sh PACKAGE_DIR NAME}" && pwd)"
name="${2:?usage: install.sh PACKAGE_DIR NAME}"
dest="${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}/$name"

command -v node >/dev/null || { echo "install.sh: node is required (>= 20.19)" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: npm is required" >&2; exit 1; }

stamp="$dest/.installed-lock"
if [[ -d "$dest/node_modules" && -f "$stamp" ]] && cmp -s "$stamp" "$src/package-lock.json"; then
  echo "$dest"
  exit 0
fi
mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
rm -f "$stamp"
(cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
cp "$src/package-lock.json" "$stamp"
echo "$dest"
