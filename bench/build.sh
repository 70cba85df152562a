#!/usr/bin/env bash
# Build times of the workspace at two commits, side by side in one run: a cold build of
# everything the tests need (`cargo test --workspace --no-run`, an empty target directory,
# crates already downloaded), then two warm rebuilds after touching one file (the
# provisioner's reconcile.rs, the auth server's authority), and what the layout shows:
# integration test binaries, whether the operator links sqlx. Each commit is built in its
# own worktree and target directory under a temporary directory, which is removed.
#   bench/build.sh OLD_REV [NEW_REV]      (NEW_REV defaults to HEAD)
set -euo pipefail
command -v /usr/bin/time >/dev/null || { echo 'bench/build.sh: needs GNU time (Debian: apt-get install time)' >&2; exit 1; }
cd "$(dirname "$0")/.."
OLD=${1:?usage: bench/build.sh OLD_REV [NEW_REV]}
NEW=${2:-HEAD}
WORK=$(mktemp -d /tmp/authdomain-build-bench.XXXXXX)
trap 'git worktree remove --force "$WORK/old" 2>/dev/null || true; git worktree remove --force "$WORK/new" 2>/dev/null || true; rm -rf "$WORK"' EXIT

seconds() { # run "$@", print the wall time in seconds and the peak memory of the build in MB
  /usr/bin/time -o "$WORK/time" -f '%e %M' "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; return 1; }
  awk '{printf "%s %.0f\n", $1, $2 / 1024}' "$WORK/time"
}

measure() { # measure REV NAME
  local rev=$1 name=$2 dir="$WORK/$2"
  git worktree add -q --detach "$dir" "$rev"
  export CARGO_TARGET_DIR="$WORK/target-$name"
  (
    cd "$dir"
    read -r cold cold_mb < <(seconds cargo test --workspace --locked --no-run)
    touch provisioner/src/reconcile.rs
    read -r warm_prov _ < <(seconds cargo test --workspace --locked --no-run)
    local authority=authserver/src/authority/mod.rs
    [[ -f $authority ]] || authority=authserver/src/authority.rs
    touch "$authority"
    read -r warm_auth _ < <(seconds cargo test --workspace --locked --no-run)
    local binaries sqlx
    binaries=$(cargo test --workspace --locked --no-run 2>&1 | grep -c 'Executable tests/' || true)
    sqlx=$(cargo tree -p operator -e normal --prefix none 2>/dev/null | grep -c '^sqlx ' || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name ($(git rev-parse --short "$rev"))" "$cold" "$cold_mb" \
      "$warm_prov" "$warm_auth" "$binaries" "$([[ $sqlx -gt 0 ]] && echo yes || echo no)"
  )
  # One target directory at a time (each is several GB).
  rm -rf "$WORK/target-$name"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(cargo --version)"
{
  printf 'commit\tcold s\tcold peak MB\twarm s (provisioner touched)\twarm s (auth server touched)\tintegration test binaries\toperator links sqlx\n'
  measure "$OLD" old
  measure "$NEW" new
} | column -t -s $'\t'
