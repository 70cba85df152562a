#!/usr/bin/env bash
# Builds a real Kubernetes control plane for the operator's integration tests, once, and
# caches it: kube-apiserver, kube-controller-manager and kubectl v1.20.2, from Debian
# bookworm's source package `kubernetes` (all Go dependencies vendored, so it builds
# offline with Debian's golang-go in GOPATH mode, GOPROXY=off). No Kubernetes binary is
# packaged anywhere this machine can reach; this is the one way to get one.
#
#   scripts/kube-apiserver.sh        -> prints the bin dir as its last line of stdout
#
# Binaries go to "${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}/kube/v1.20.2/bin/". When they
# are there already (and etcd is installed) it exits at once. Otherwise it installs the
# Debian packages it needs (golang-go, etcd-server, dpkg-dev, ...), fetches the source with
# `apt-get source` through a private APT configuration whose deb-src line is derived from
# the machine's own apt sources, swaps two vendored libraries for Debian's newer copies
# (modern-go/reflect2 1.0.1 and json-iterator/go 1.1.10 crash the apiserver on the first
# custom-resource write under Go >= 1.18), and builds in a temp dir outside the work tree
# (10 to 20 minutes on 2 cores). The build is quiet; its log is kept in the cache dir and
# its tail printed if anything fails. scripts/kube-up.sh starts a cluster from these.
set -euo pipefail

KUBE_VERSION=1.20.2
# The suite that carries kubernetes 1.20.2 (later Debian releases dropped the package).
KUBE_SUITE="${KUBE_SUITE:-bookworm}"
BINS=(kube-apiserver kube-controller-manager kubectl)

CACHE="${AUTHDOMAIN_CACHE:-$HOME/.cache/authdomain}"
ROOT="$CACHE/kube/v$KUBE_VERSION"
BIN="$ROOT/bin"
LOG="$ROOT/build.log"

have_bins() {
  local b
  for b in "${BINS[@]}"; do [[ -x $BIN/$b ]] || return 1; done
}
# Fast path: nothing to do.
if have_bins && command -v etcd >/dev/null; then
  echo "$BIN"
  exit 0
fi

say() { echo "kube-apiserver.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

SUDO=""
[[ $(id -u) == 0 ]] || SUDO="sudo"

mkdir -p "$ROOT"
# One build at a time (parallel test binaries may all call this).
exec 9>"$ROOT/.lock"
flock 9
if have_bins && command -v etcd >/dev/null; then
  echo "$BIN"
  exit 0
fi

: >"$LOG"
# Runs a step with its output in the log; on failure shows the log's tail.
step() {
  local what=$1
  shift
  say "$what"
  echo "=== $what: $*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    say "error: '$what' failed; last lines of $LOG:"
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}

# --- Debian packages ---------------------------------------------------------------
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian machine (missing: ${missing[*]})"
  step "apt-get update" $SUDO apt-get update -qq
  step "installing ${missing[*]} (apt)" \
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if have_bins; then
  # Binaries cached, only etcd missing (a new machine with a copied cache).
  apt_install etcd-server
  echo "$BIN"
  exit 0
fi

REFLECT2=github.com/modern-go/reflect2
JSONITER=github.com/json-iterator/go
apt_install golang-go etcd-server dpkg-dev xz-utils make rsync openssl curl ca-certificates \
  golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev
for p in $REFLECT2 $JSONITER; do
  [[ -d /usr/share/gocode/src/$p ]] || die "/usr/share/gocode/src/$p missing after install"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/authdomain-kube-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- deb-src line from the machine's own apt sources ----------------------------------
# Takes the URI (and Signed-By) of every enabled "deb" source for the machine's release
# suite (VERSION_CODENAME; not -updates/-security), in one-line or deb822 format, and
# points it at $KUBE_SUITE's sources.
# shellcheck disable=SC1091
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
[[ -n $codename ]] || die "no VERSION_CODENAME in /etc/os-release: not a Debian machine?"
derive_sources() {
  local f
  {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      if [[ -f $f ]]; then cat "$f"; fi
    done
  } | awk -v want="$codename" -v suite="$KUBE_SUITE" '
    /^[[:space:]]*deb[[:space:]]/ {
      line = $0; sub(/#.*/, "", line); n = split(line, a, " "); i = 2; opts = ""
      if (a[2] ~ /^\[/) {
        while (i <= n) { opts = opts (opts == "" ? "" : " ") a[i]; if (a[i] ~ /\]$/) { i++; break } i++ }
      }
      if (a[i + 1] == want) print "deb-src " (opts == "" ? "" : opts " ") a[i] " " suite " main"
    }'
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v want="$codename" -v suite="$KUBE_SUITE" '
      function flush(   n, s, u, i, opt) {
        if (types ~ /(^|[[:space:]])deb($|[[:space:]])/ && tolower(enabled) != "no") {
          n = split(suites, s, " ")
          for (i = 1; i <= n; i++) if (s[i] == want) {
            split(uris, u, " ")
            opt = (signed ~ /^\// ? "[signed-by=" signed "] " : "")
            print "deb-src " opt u[1] " " suite " main"
          }
        }
        types = ""; uris = ""; suites = ""; signed = ""; enabled = ""
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      /^[^[:space:]]/ {
        key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
        if (key == "types") types = val; else if (key == "uris") uris = val
        else if (key == "suites") suites = val; else if (key == "signed-by") signed = val
        else if (key == "enabled") enabled = val
      }
      END { flush() }' "$f"
  done
}
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/apt/parts" "$WORK/src"
derive_sources | sort -u >"$WORK/apt/sources.list"
[[ -s $WORK/apt/sources.list ]] ||
  die "found no enabled apt source for suite '$codename' in /etc/apt/sources.list{,.d/*} to derive a deb-src line from"
{
  echo "=== derived sources.list:"
  cat "$WORK/apt/sources.list"
} >>"$LOG"
cat >"$WORK/apt/apt.conf" <<EOF
Dir::Etc::SourceList "$WORK/apt/sources.list";
Dir::Etc::SourceParts "$WORK/apt/parts";
Dir::State::Lists "$WORK/apt/lists";
Dir::Cache "$WORK/apt/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Sandbox::User "root";
EOF

# --- source --------------------------------------------------------------------------
export APT_CONFIG="$WORK/apt/apt.conf"
step "apt-get update (private deb-src list for $KUBE_SUITE)" apt-get update -qq
# shellcheck disable=SC2016
step "apt-get source kubernetes" bash -c 'cd "$1" && apt-get source -qq kubernetes' _ "$WORK/src"
unset APT_CONFIG
SRC=$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
[[ -n $SRC && -f $SRC/Makefile ]] || die "apt-get source produced no kubernetes-* source tree (see $LOG)"
# The version is baked into hack/lib/version.sh (a `git archive` export).
grep -q "tag: v$KUBE_VERSION'" "$SRC/hack/lib/version.sh" ||
  die "$(basename "$SRC") is not Kubernetes v$KUBE_VERSION; set KUBE_SUITE or update this script"

# --- patch: Debian's reflect2 1.0.2 / json-iterator 1.1.12 ---------------------------
for p in $REFLECT2 $JSONITER; do
  rm -rf "${SRC:?}/vendor/$p"
  cp -rL "/usr/share/gocode/src/$p" "$SRC/vendor/$p"
done
echo "=== vendored $REFLECT2 and $JSONITER replaced by Debian's copies" >>"$LOG"

# --- build -----------------------------------------------------------------------------
# hack/lib/init.sh sets GO111MODULE=off itself; GOPATH and GOCACHE go to $SRC/_output.
start=$SECONDS
step "building ${BINS[*]} v$KUBE_VERSION (10 to 20 minutes on 2 cores; log: $LOG)" \
  env -u GOFLAGS -u GOPATH GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 \
  HOME="$WORK/home" make -C "$SRC" WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kubectl"
say "built in $((SECONDS - start)) s"

OUT="$SRC/_output/bin"
for b in "${BINS[@]}"; do [[ -x $OUT/$b ]] || die "build left no $b in $OUT (see $LOG)"; done
rm -rf "$BIN.new"
mkdir -p "$BIN.new"
for b in "${BINS[@]}"; do install -m 0755 "$OUT/$b" "$BIN.new/$b"; done
"$BIN.new/kube-apiserver" --version >>"$LOG" 2>&1 || die "the built kube-apiserver does not run (see $LOG)"
rm -rf "$BIN"
mv "$BIN.new" "$BIN"
say "installed ${BINS[*]} in $BIN"
echo "$BIN"
