#!/usr/bin/env bash
# Installs oidc-provider's node modules outside the work tree, into
#   ${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}/oidc-provider
# Idempotent: does nothing when that dir already holds an install made from
# the same package-lock.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}/oidc-provider"

command -v node >/dev/null || { echo "install.sh: node is required (>= 20.19)" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: npm is required" >&2; exit 1; }

stamp="$dest/.installed-lock"
if [[ -d "$dest/node_modules/oidc-provider" && -f "$stamp" ]] \
   && cmp -s "$stamp" "$here/package-lock.json"; then
  echo "oidc-provider modules already installed in $dest"
  exit 0
fi

mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
rm -f "$stamp"
(cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
cp "$here/package-lock.json" "$stamp"
echo "installed oidc-provider modules in $dest"
