#!/usr/bin/env bash
# One command to see AuthDomain work locally, with no AWS account: builds the CLI and runs
# `authdomain dev` on examples/minimal.yaml (or the AuthDomain file given), which serves the
# domain's auth server on SQLite with the spec's APIs and clients registered, then gets an
# access token with curl. The server keeps running until Ctrl-C (--once: stops after the
# token).
#   scripts/quickstart.sh [--once] [FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
ONCE=false
[[ ${1:-} == --once ]] && { ONCE=true; shift; }
FILE=${1:-examples/minimal.yaml}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authdomain/target}"
PORT=${PORT:-8080}
STATE=$(mktemp -d)
trap 'rm -rf "$STATE"' EXIT

echo "==> building authdomain"
cargo build -q --workspace --bins
BIN="$CARGO_TARGET_DIR/debug/authdomain"

if (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
  echo "quickstart: something already listens on 127.0.0.1:$PORT; choose another port with PORT=NNNN" >&2
  exit 1
fi
echo "==> authdomain dev -f $FILE --listen 127.0.0.1:$PORT"
"$BIN" dev -f "$FILE" --listen "127.0.0.1:$PORT" --credentials-file "$STATE/credentials.json" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$STATE"' EXIT
for _ in $(seq 1 200); do [[ -s $STATE/credentials.json ]] && break; sleep 0.05; done
kill -0 "$SERVER" 2>/dev/null || { echo "quickstart: authdomain dev did not start" >&2; exit 1; }

read -r TOKEN_URL CLIENT_ID CLIENT_SECRET SCOPE < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = next(c for c in d["clients"] if c.get("client_secret"))
print(d["token_endpoint"], c["client_id"], c["client_secret"], " ".join(c["scopes"]))' "$STATE/credentials.json")
echo
echo "==> getting a token:"
echo "    curl -u '$CLIENT_ID:$CLIENT_SECRET' -d grant_type=client_credentials -d scope='$SCOPE' $TOKEN_URL"
curl -sS --fail-with-body -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials \
  --data-urlencode "scope=$SCOPE" "$TOKEN_URL"
echo
$ONCE && exit 0
echo "==> the server keeps running; Ctrl-C stops it (its database is thrown away)"
wait $SERVER
