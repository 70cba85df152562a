#!/usr/bin/env bash
# Starts a throw-away Kubernetes v1.20.2 control plane on loopback for the operator's
# integration tests (and for people): etcd, kube-apiserver (RBAC authorization) and
# kube-controller-manager (garbage collection of ownerReference'd objects, namespace
# deletion, ServiceAccount tokens). No nodes, no kubelet: pods are never run.
#
#   scripts/kube-up.sh                 start; stays in the foreground; Ctrl-C stops it all
#   scripts/kube-up.sh --detach        start and return, leaving it running
#   scripts/kube-up.sh --stop DIR      stop a detached cluster and delete DIR
#   scripts/kube-up.sh --sa-kubeconfig DIR NAMESPACE SERVICEACCOUNT [SECONDS]
#                                      write DIR/sa-NAMESPACE-SERVICEACCOUNT.kubeconfig, with
#                                      a TokenRequest token (default 86400 s) of that existing
#                                      ServiceAccount, and print its path
#   scripts/kube-up.sh --for-server DIR < manifests > adapted
#                                      the manifests as the cluster in DIR takes them with
#                                      kubectl's validation on: on a server older than 1.25
#                                      the CRDs' x-kubernetes-validations (CEL) blocks are
#                                      removed (the server would drop them; its kubectl
#                                      refuses the unknown field); otherwise unchanged
#
# On start it prints `export KUBECONFIG=DIR/admin.kubeconfig` (stdout; progress goes to
# stderr). Everything lives in DIR (KUBE_UP_DIR, or a new temp dir): certificates, the etcd
# data, one log per component (DIR/*.log), the pid files and DIR/cluster.env (shell
# syntax: KUBE_UP_DIR, KUBECONFIG, KUBE_APISERVER_URL, KUBE_CA_FILE, KUBE_ADMIN_TOKEN,
# KUBE_ETCD_URL, KUBE_BIN). The binaries come from scripts/kube-apiserver.sh (built and cached once).
# KUBE_UP_APPLY="FILE-OR-DIR ...": applied (kubectl apply -f) once the apiserver is ready
# and before the controller-manager starts; put the CRDs there, so that ownerReference
# garbage collection of custom resources' dependents is prompt from the first test on
# (the garbage collector picks up CRDs created later only at its next 30 s resync).
#
# Identities: the admin kubeconfig holds a client certificate (CN=kube-admin,
# O=system:masters) signed by the cluster's generated CA; the same admin is also reachable
# with the bearer token KUBE_ADMIN_TOKEN (a static token file). Everyone else is subject to
# RBAC, so least-privilege manifests can be tested: create a ServiceAccount, apply its
# Role/RoleBinding as admin, then act as it with --sa-kubeconfig (or, for a harness, POST
# {"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}} to
# /api/v1/namespaces/NS/serviceaccounts/NAME/token and use status.token as a bearer token;
# the controller-manager also fills legacy NAME-token-* Secrets, as 1.20 does).
#
# For a Rust test harness, the same steps: pick free loopback ports; generate a CA, a
# serving cert for 127.0.0.1 and a system:masters client cert (ECDSA P-256), and an RSA key for
# ServiceAccount tokens; start etcd, wait for /health; start kube-apiserver, wait for
# /readyz; start kube-controller-manager, wait for the `default` ServiceAccount of
# namespace default; kill all three (SIGTERM) when done. The command lines are below.
#
# What 1.20 is not: no CEL (x-kubernetes-validations is dropped from a CRD, and kubectl's
# client-side validation rejects it: --for-server removes the blocks, so nothing is ever
# applied with --validate=false, which would hide every other schema mistake too; the
# rules themselves are checked with a CEL interpreter in operator/src/crd/cel_tests.rs); unknown CR
# fields are pruned silently by the server; kubectl has no `patch --subresource` (PATCH
# .../status with curl) and no `create token`; `kubectl kustomize` is kustomize v2.0.3
# (no `patches:` with targets, no `labels:`; use patchesStrategicMerge/patchesJson6902,
# commonLabels); events.k8s.io/v1 Events about cluster-scoped objects must be in namespace
# kube-system; no policy/v1, batch/v1 CronJob or discovery.k8s.io/v1 (all 1.21).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
say() { echo "kube-up: $*" >&2; }
die() { say "error: $*"; exit 1; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit "${1:-0}"; }

COMPONENTS=(kube-controller-manager kube-apiserver etcd) # stop order

# Stops what a kube-up.sh in DIR started (only processes whose command line names DIR):
# SIGTERM to all three at once (the cluster is thrown away, so the order does not
# matter), SIGKILL to any still there after 5 s; then deletes DIR.
# alive PID: running (a zombie, an exited child of the foreground script, is not).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
stop_dir() {
  local dir=$1 c pid i pids=()
  [[ -f $dir/.kube-up ]] || die "$dir is not a kube-up.sh directory"
  for c in "${COMPONENTS[@]}"; do
    [[ -f $dir/$c.pid ]] || continue
    pid=$(<"$dir/$c.pid")
    if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/"; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
  done
  for ((i = 0; i < 50 && ${#pids[@]}; i++)); do
    for c in "${!pids[@]}"; do alive "${pids[$c]}" || unset "pids[$c]"; done
    ((${#pids[@]})) && sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}

sa_kubeconfig() {
  local dir=$1 ns=$2 sa=$3 secs=${4:-86400} out resp token
  [[ -f $dir/cluster.env ]] || die "$dir/cluster.env not found: is a kube-up.sh cluster running there?"
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  resp=$(curl -sS --fail-with-body --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" \
    -H 'Content-Type: application/json' -X POST \
    --data "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":{\"expirationSeconds\":$secs}}" \
    "$KUBE_APISERVER_URL/api/v1/namespaces/$ns/serviceaccounts/$sa/token") ||
    die "TokenRequest for serviceaccount $ns/$sa failed: $resp"
  token=$(printf '%s' "$resp" | tr -d '\n' | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
  [[ -n $token ]] || die "no token in the TokenRequest answer: $resp"
  out="$dir/sa-$ns-$sa.kubeconfig"
  write_kubeconfig "$out" "system:serviceaccount:$ns:$sa" "$ns" "    token: $token"
  echo "$out"
}

# write_kubeconfig FILE USER NAMESPACE USER-FIELDS
write_kubeconfig() {
  local file=$1 user=$2 ns=$3 fields=$4
  umask 077
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-up
  cluster:
    server: $KUBE_APISERVER_URL
    certificate-authority-data: $(base64 -w0 "$KUBE_CA_FILE")
users:
- name: $user
  user:
$fields
contexts:
- name: kube-up
  context:
    cluster: kube-up
    user: $user
    namespace: $ns
current-context: kube-up
EOF
}

# stdin to stdout without the x-kubernetes-validations blocks (the key and every line
# indented deeper, or a list item at its own indentation): the CRDs as a pre-1.25 server
# and its kubectl take them.
without_cel() {
  awk '
    skip {
      match($0, /^ */)
      if (RLENGTH > indent || (RLENGTH == indent && substr($0, RLENGTH + 1, 2) == "- ")) next
      skip = 0
    }
    /^ *x-kubernetes-validations:/ { match($0, /^ */); indent = RLENGTH; skip = 1; next }
    { print }
  '
}

# The server's minor version from the binaries in BIN (`Kubernetes v1.20.2` -> 20).
server_minor() {
  local v
  v=$("$1/kube-apiserver" --version) || die "$1/kube-apiserver --version failed"
  v=${v#*v1.}
  echo "${v%%.*}"
}

for_server() {
  if (($(server_minor "$1") < 25)); then without_cel; else cat; fi
}

mode=foreground
case "${1:-}" in
  "") ;;
  -d | --detach) mode=detach ;;
  --stop)
    [[ $# == 2 ]] || usage 2
    stop_dir "${2%/}"
    say "stopped; removed ${2%/}"
    exit 0
    ;;
  --sa-kubeconfig)
    [[ $# == 4 || $# == 5 ]] || usage 2
    shift
    sa_kubeconfig "${1%/}" "${@:2}"
    exit 0
    ;;
  --for-server)
    [[ $# == 2 && -f ${2%/}/cluster.env ]] || usage 2
    # shellcheck disable=SC1091
    for_server "$(. "${2%/}/cluster.env" && echo "$KUBE_BIN")"
    exit 0
    ;;
  -h | --help) usage 0 ;;
  *) usage 2 ;;
esac

command -v openssl >/dev/null || die "openssl not found"
command -v curl >/dev/null || die "curl not found"
BIN=$("$HERE/kube-apiserver.sh" | tail -n1)
[[ -x $BIN/kube-apiserver ]] || die "scripts/kube-apiserver.sh did not give a bin dir"
ETCD=$(command -v etcd) || die "etcd not found (scripts/kube-apiserver.sh installs etcd-server)"

T0=${EPOCHREALTIME/./}
elapsed() {
  local d=$(((${EPOCHREALTIME/./} - T0) / 100000))
  echo "$((d / 10)).$((d % 10)) s"
}
if [[ -n ${KUBE_UP_DIR:-} ]]; then
  DIR=$KUBE_UP_DIR
  mkdir -p "$DIR"
  [[ -z $(ls -A "$DIR") ]] || die "KUBE_UP_DIR=$DIR is not empty"
else
  DIR=$(mktemp -d "${TMPDIR:-/tmp}/kube-up.XXXXXX")
fi
DIR=$(cd "$DIR" && pwd)
touch "$DIR/.kube-up"

started=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((started == 0)) && ((rc != 0)); then
    local c
    for c in etcd kube-apiserver kube-controller-manager; do
      [[ -s $DIR/$c.log ]] && { say "last lines of $DIR/$c.log:"; tail -n 15 "$DIR/$c.log" >&2; }
    done
  fi
  say "stopping"
  stop_dir "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- free loopback ports ------------------------------------------------------------
# Below the kernel's ephemeral range (so no outgoing connection can hold one meanwhile),
# and not the local port of any TCP socket now.
read -r eph_low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph_low=32768
((eph_low > 12000)) || eph_low=65536
used=" "
for f in /proc/net/tcp /proc/net/tcp6; do
  [[ -r $f ]] || continue
  while read -r _ addr _; do
    [[ $addr == *:* ]] && used+="$((16#${addr##*:})) "
  done <"$f"
done
free_port() {
  local p i
  for ((i = 0; i < 500; i++)); do
    p=$((10000 + RANDOM % (eph_low - 10000)))
    [[ $used == *" $p "* ]] && continue
    used+="$p "
    PORT=$p
    return
  done
  die "found no free port"
}
free_port && ETCD_PORT=$PORT
free_port && ETCD_PEER_PORT=$PORT
free_port && API_PORT=$PORT

# launch NAME COMMAND... : in its own session (a Ctrl-C reaches only this script, which
# then stops the components), output to DIR/NAME.log; command line in DIR/NAME.cmdline.
launch() {
  local name=$1
  shift
  printf '%q ' "$@" >"$DIR/$name.cmdline"
  setsid "$@" >"$DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}
# wait_for NAME SECONDS COMMAND... : until COMMAND succeeds, or NAME dies, or time is up.
wait_for() {
  local name=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    alive "$(<"$DIR/$name.pid")" || die "$name exited (log: $DIR/$name.log)"
    sleep 0.1
  done
  die "$name not ready after $secs s (log: $DIR/$name.log)"
}
admin_curl() { curl -sS --fail --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" "$@"; }

# etcd elects itself while the keys are made.
say "starting etcd on 127.0.0.1:$ETCD_PORT ($(elapsed))"
launch etcd "$ETCD" --name=kube-up --data-dir="$DIR/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="kube-up=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
  --heartbeat-interval=20 --election-timeout=200 --log-level=warn --logger=zap

# --- keys and certificates --------------------------------------------------------------
PKI=$DIR/pki
mkdir -p "$PKI"
(
  cd "$PKI"
  umask 077
  # TLS keys are ECDSA P-256 (instant; Go, OpenSSL and rustls all take them); the
  # ServiceAccount token key is RSA (RS256 tokens, as real clusters issue).
  newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
  # sign NAME SUBJECT EXTENSIONS
  sign() {
    newkey "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
      -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
  }
  newkey ca.key
  openssl req -x509 -new -key ca.key -subj "/CN=kube-up-ca" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
  sign apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1"
  sign admin "/O=system:masters/CN=kube-admin" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
  echo "$(openssl rand -hex 24),kube-admin,kube-admin,system:masters" >tokens.csv
) || die "generating certificates failed"
KUBE_ADMIN_TOKEN=$(cut -d, -f1 "$PKI/tokens.csv")
KUBE_CA_FILE=$PKI/ca.crt
KUBE_APISERVER_URL=https://127.0.0.1:$API_PORT
KUBECONFIG=$DIR/admin.kubeconfig
write_kubeconfig "$KUBECONFIG" kube-admin default "    client-certificate-data: $(base64 -w0 "$PKI/admin.crt")
    client-key-data: $(base64 -w0 "$PKI/admin.key")"
cat >"$DIR/cluster.env" <<EOF
KUBE_UP_DIR='$DIR'
KUBECONFIG='$KUBECONFIG'
KUBE_APISERVER_URL='$KUBE_APISERVER_URL'
KUBE_CA_FILE='$KUBE_CA_FILE'
KUBE_ADMIN_TOKEN='$KUBE_ADMIN_TOKEN'
KUBE_ETCD_URL='http://127.0.0.1:$ETCD_PORT'
KUBE_BIN='$BIN'
EOF
chmod 600 "$DIR/cluster.env"

wait_for etcd 30 bash -c "curl -sf http://127.0.0.1:$ETCD_PORT/health | grep -q '\"health\":\"true\"'"

say "starting kube-apiserver on $KUBE_APISERVER_URL ($(elapsed))"
launch kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --secure-port="$API_PORT" --advertise-address=127.0.0.1 \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
  --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
  --cert-dir="$DIR/apiserver-certs" --logtostderr=true --v=0
wait_for kube-apiserver 60 bash -c "curl -sf --cacert '$KUBE_CA_FILE' -H 'Authorization: Bearer $KUBE_ADMIN_TOKEN' '$KUBE_APISERVER_URL/readyz' | grep -qx ok"
say "kube-apiserver ready after $(elapsed)"

# Manifests applied before the controller-manager starts: its garbage collector watches
# the resource types it finds at start and looks for new ones only every 30 s, so the
# dependents of custom resources whose CRD came later are collected up to 30 s late.
for f in ${KUBE_UP_APPLY:-}; do
  say "applying $f"
  { if [[ -d $f ]]; then find "$f" -maxdepth 1 -name '*.yaml' | sort | while read -r y; do printf "\n---\n"; cat "$y"; done; else cat "$f"; fi; } |
    for_server "$BIN" | "$BIN/kubectl" --kubeconfig "$KUBECONFIG" apply -f - >>"$DIR/apply.log" 2>&1 ||
    die "kubectl apply -f $f failed: $(tail -n 5 "$DIR/apply.log")"
done
if [[ -n ${KUBE_UP_APPLY:-} && -n $("$BIN/kubectl" --kubeconfig "$KUBECONFIG" get crd -o name 2>/dev/null) ]]; then
  "$BIN/kubectl" --kubeconfig "$KUBECONFIG" wait --for condition=established --timeout=30s crd --all >>"$DIR/apply.log" 2>&1 ||
    die "CRDs not established: $(tail -n 5 "$DIR/apply.log")"
fi

say "starting kube-controller-manager"
launch kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig="$KUBECONFIG" --port=0 --secure-port=0 --leader-elect=false \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --use-service-account-credentials=false \
  --controllers='*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-ttl,-bootstrapsigner,-tokencleaner,-csrsigning,-csrapproving,-csrcleaner,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,-pv-protection' \
  --logtostderr=true --v=0
# The serviceaccount controller creating namespace default's ServiceAccount shows that the
# controllers run.
wait_for kube-controller-manager 60 admin_curl "$KUBE_APISERVER_URL/api/v1/namespaces/default/serviceaccounts/default"
started=1
say "ready after $(elapsed); logs and certificates in $DIR"

echo "export KUBECONFIG=$KUBECONFIG"
if [[ $mode == detach ]]; then
  trap - EXIT INT TERM
  say "stop with: $0 --stop $DIR"
  exit 0
fi

say "running; Ctrl-C stops it"
while true; do
  for c in "${COMPONENTS[@]}"; do
    if ! alive "$(<"$DIR/$c.pid")"; then
      say "$c exited; last lines of $DIR/$c.log:"
      tail -n 15 "$DIR/$c.log" >&2
      exit 1
    fi
  done
  sleep 1 &
  wait $! || true
done
