#!/usr/bin/env bash
# One command to see AuthDomain's auth server work locally, with no AWS account:
# builds it, runs it on SQLite (under .authdomain/), registers an API and a client, and
# gets an access token with curl. The server keeps running until Ctrl-C
# (with --once it stops after the token).
set -euo pipefail
cd "$(dirname "$0")/.."
ONCE=false
[[ ${1:-} == --once ]] && ONCE=true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authdomain/target}"
PORT=${PORT:-8080}
STATE=.authdomain/quickstart
mkdir -p "$STATE"
export AUTHSERVER_DATABASE_URL="sqlite://$STATE/auth.db"
export AUTHSERVER_ISSUER="http://127.0.0.1:$PORT"

echo "==> building the auth server"
cargo build -q -p authserver --bin authserver
BIN="$CARGO_TARGET_DIR/debug/authserver"

echo "==> registering the API https://api.example.com (scopes read, write) and a client"
"$BIN" migrate
"$BIN" resource-servers list >"$STATE/apis.txt"
grep -q '^https://api.example.com' "$STATE/apis.txt" ||
  "$BIN" resource-servers create --identifier https://api.example.com --scope read --scope write >/dev/null
CLIENT=$("$BIN" clients create --name quickstart --scope read --scope write --json)
CLIENT_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$CLIENT")
CLIENT_SECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$CLIENT")

if (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
  echo "quickstart: something already listens on 127.0.0.1:$PORT; choose another port with PORT=NNNN" >&2
  exit 1
fi
echo "==> starting the server on $AUTHSERVER_ISSUER"
"$BIN" serve --listen "127.0.0.1:$PORT" 2>"$STATE/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.05; done
kill -0 "$SERVER" 2>/dev/null || { echo "quickstart: the server did not start:" >&2; cat "$STATE/server.log" >&2; exit 1; }

echo "==> getting a token:"
echo "    curl -u '$CLIENT_ID:<secret>' -d grant_type=client_credentials -d scope=read $AUTHSERVER_ISSUER/oauth2/token"
curl -sS --fail-with-body -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=read \
  "$AUTHSERVER_ISSUER/oauth2/token"
echo
echo
echo "client_id=$CLIENT_ID"
echo "client_secret=$CLIENT_SECRET   (shown once)"
echo "discovery: $AUTHSERVER_ISSUER/.well-known/openid-configuration   JWKS: $AUTHSERVER_ISSUER/.well-known/jwks.json"
$ONCE && exit 0
echo "==> the server keeps running (logs: $STATE/server.log); Ctrl-C stops it"
wait $SERVER
