#!/usr/bin/env bash
# The auth server's Lambda image, built without Docker: per architecture, the static binary's
# size and the OCI image's (compressed layer, manifest + config + layer, uncompressed), then
# process start -> first token of each static binary (x86_64 natively, arm64 under
# qemu-user), as an HTTP server and in Lambda mode against a local Runtime API.
# Prints the figures recorded in docs/BENCHMARKS.md ("Auth server image").
#   bench/image.sh                 RUNS=15 by default
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/authdomain/target}
EVENT=authserver/tests/fixtures/lambda/token-request.json
ISSUER=https://abc123.execute-api.eu-west-1.amazonaws.com

mapfile -t BINS < <(scripts/build-authserver.sh arm64 x86_64)
cargo build -q --bin authdomain
CLI=$CARGO_TARGET_DIR/debug/authdomain
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
host_arch=$(uname -m)
[[ $host_arch == aarch64 ]] && host_arch=arm64
# The command prefix that runs an `arch` binary here: nothing natively, qemu-user otherwise.
runner() {
  [[ $1 == "$host_arch" ]] && return 0
  local q
  case $1 in arm64) q=qemu-aarch64-static ;; x86_64) q=qemu-x86_64-static ;; esac
  command -v "$q" >/dev/null || { echo "bench: $q is required (apt-get install qemu-user-static)" >&2; exit 1; }
  echo "$q"
}
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F)"
echo
echo "| architecture | binary | compressed layer | image (manifest + config + layer) | uncompressed (layer tar) | digest |"
echo "|---|---:|---:|---:|---:|---|"
archs=(arm64 x86_64)
for i in 0 1; do
  arch=${archs[$i]} bin=${BINS[$i]}
  layout=$WORK/oci-$arch
  out=$("$CLI" image build --arch "$arch" --binary "$bin" --oci-layout "$layout")
  digest=$(awk '$1 == "digest" { print $2 }' <<<"$out")
  # Sizes from the blobs the layout holds (the CLI's own figure is checked against them).
  read -r manifest config layer layer_digest < <(python3 - "$layout" "$digest" <<'PY'
import json, os, sys
layout, digest = sys.argv[1:3]
blob = lambda d: os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1])
m = json.load(open(blob(digest)))
print(os.path.getsize(blob(digest)), m["config"]["size"], m["layers"][0]["size"], m["layers"][0]["digest"])
PY
  )
  total=$((manifest + config + layer))
  grep -q "size *$total bytes ($layer compressed layer)" <<<"$out" || { echo "bench: the CLI printed other sizes: $out" >&2; exit 1; }
  tar_bytes=$(gzip -dc "$layout/blobs/sha256/${layer_digest#sha256:}" | wc -c)
  binary=$(stat -c %s "$bin")
  echo "| $arch | $binary B ($(mb "$binary") MB) | $layer B ($(mb "$layer") MB) | $total B ($(mb "$total") MB; manifest $manifest, config $config) | $tar_bytes B ($(mb "$tar_bytes") MB) | \`${digest:0:19}…\` |"
done

echo
echo "| binary | mode | alg | process start -> first 200 from POST /oauth2/token, ms |"
echo "|---|---|---|---|"
for i in 0 1; do
  arch=${archs[$i]} bin=${BINS[$i]}
  run=$(runner "$arch")
  if [[ -n $run ]]; then label="$arch static, under $run"; else label="$arch static (native)"; fi
  for alg in RS256 ES256; do
    dir=$WORK/db-$arch-$alg
    mkdir -p "$dir"
    export AUTHSERVER_DATABASE_URL="sqlite://$dir/authserver.db" AUTHSERVER_SIGNING_ALG=$alg RUST_LOG=warn
    # The database is prepared with the binary under test (its own CLI, under qemu for arm64).
    $run "$bin" migrate >/dev/null 2>&1
    $run "$bin" resource-servers create --identifier=https://api.bench.example --scope=read --json >/dev/null
    creds=$($run "$bin" clients create --name=svc --scope=read --json)
    id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$creds")
    secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$creds")
    port=$(free_port)
    line=$(python3 bench/first_token.py --runs "$RUNS" --port "$port" --client-id="$id" --client-secret="$secret" -- \
      $run "$bin" serve --listen "127.0.0.1:$port" --no-migrate)
    echo "| $label | HTTP server (\`serve --no-migrate\`) | $alg | ${line#first_token_ms } |"
    line=$(AUTHSERVER_ISSUER=$ISSUER python3 bench/lambda_first_token.py --runs "$RUNS" --event "$EVENT" \
      --client-id="$id" --client-secret="$secret" -- $run "$bin")
    echo "| $label | Lambda (local Runtime API, API Gateway v2 event) | $alg | ${line#lambda_first_token_ms } |"
    unset AUTHSERVER_DATABASE_URL AUTHSERVER_SIGNING_ALG
  done
done
