#!/usr/bin/env bash
# Runs the oidc-provider comparison server, resolving modules from the cache
# dir that install.sh fills. Env: PORT (3001), ALG (RS256|ES256), ISSUER.
# Prints "READY <port>" on stdout once listening.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}/oidc-provider"
if [[ ! -d "$dest/node_modules/oidc-provider" ]]; then
  echo "run.sh: modules missing in $dest; run $here/install.sh first" >&2
  exit 1
fi
# ES modules ignore NODE_PATH, so server.js is copied next to node_modules
# and run from there; NODE_PATH is set too for anything loaded via require().
cp "$here/server.js" "$dest/server.js"
cd "$dest"
export NODE_PATH="$dest/node_modules"
export NODE_ENV="${NODE_ENV:-production}"
exec node "$dest/server.js" "$@"
