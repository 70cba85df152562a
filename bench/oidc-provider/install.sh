#!/usr/bin/env bash
# Installs oidc-provider's node modules outside the work tree, into
#   ${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}/oidc-provider
# (see bench/npm/install.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest=$("$here/../npm/install.sh" "$here" oidc-provider)
echo "oidc-provider modules installed in $dest"
