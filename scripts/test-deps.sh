#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine (idempotent; quick when present):
# from Debian, PostgreSQL server binaries, an OCI registry (docker-registry, with
# htpasswd from apache2-utils) and qemu-user-static (runs the arm64 auth server); from
# PyPI the moto AWS emulator, the Lambda runtime emulator (cargo-lambda) and the
# third-party OAuth/JOSE libraries of the interop tests. Nothing is downloaded into the
# work tree. The cross-built auth server binaries come from scripts/build-authserver.sh.
set -euo pipefail

SUDO=""
[[ $(id -u) == 0 ]] || SUDO="sudo"

apt_packages=()
# PostgreSQL's clients (psql, createdb); the server is 16, from scripts/postgres.sh below.
command -v psql >/dev/null && command -v createdb >/dev/null || apt_packages+=(postgresql-client)
command -v runuser >/dev/null || apt_packages+=(util-linux)
[[ -x /usr/bin/docker-registry ]] || apt_packages+=(docker-registry)
command -v htpasswd >/dev/null || apt_packages+=(apache2-utils)
command -v qemu-aarch64-static >/dev/null || apt_packages+=(qemu-user-static)
# The portal's browser tests: Debian's headless chromium and its chromedriver.
command -v chromium >/dev/null || apt_packages+=(chromium)
command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
# Kubernetes for the operator's tests: etcd, and what scripts/kube-apiserver.sh needs to
# build kube-apiserver from Debian's source (once; the binaries are cached).
for p in etcd-server golang-go dpkg-dev xz-utils make rsync openssl curl ca-certificates \
  golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || apt_packages+=("$p")
done
if ((${#apt_packages[@]})); then
  echo "test-deps: installing ${apt_packages[*]} (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

# Pinned so CI runs are repeatable.
PY_PACKAGES=(
  "moto[server]==5.2.1"
  "cargo-lambda==1.9.2"
  "authlib==1.9.9"
  "pyjwt[crypto]==2.15.1"
  "botocore>=1.34"
  "requests>=2.31"
)
if ! python3 - "${PY_PACKAGES[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
pins = {"moto": "5.2.1", "cargo-lambda": "1.9.2", "authlib": "1.9.9", "pyjwt": "2.15.1"}
for name, want in pins.items():
    if version(name) != want:
        sys.exit(1)
version("requests")
version("botocore")
PY
then
  echo "test-deps: installing Python packages"
  python3 -m pip install -q "${PY_PACKAGES[@]}"
fi
command -v cargo-lambda >/dev/null || { echo "test-deps: cargo-lambda is not on PATH after install" >&2; exit 1; }

# The portal's browser tests sign in at a real OpenID Connect provider: oidc-provider
# (npm, pinned with a lock in bench/oidc-provider), installed outside the work tree.
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "test-deps: installing nodejs and npm (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
}
"$(dirname "$0")/../bench/npm/install.sh" "$(dirname "$0")/../bench/oidc-provider" oidc-provider >/dev/null

# PostgreSQL 16 (the default Aurora engine's major), cached; tests/src/postgres.rs runs it.
"$(dirname "$0")/postgres.sh" >/dev/null

# kube-apiserver, kube-controller-manager and kubectl v1.20.2 (built and cached once, about
# 10 to 20 minutes on 2 cores; quick afterwards). --no-kube skips it (CI builds it in the
# background meanwhile).
if [[ ${1:-} != --no-kube ]]; then
  "$(dirname "$0")/kube-apiserver.sh" >/dev/null
fi
