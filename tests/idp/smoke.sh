#!/usr/bin/env bash
# End-to-end proof of tests/idp/idp.mjs with curl (node only for base64url,
# SHA-256 and JSON): installs oidc-provider via bench/oidc-provider/install.sh,
# copies idp.mjs next to its node_modules, starts it on a free port and runs the
# authorization code + PKCE (S256) flow with a cookie jar, the way a browser
# would, then checks the ID token, code replay, bad logins, PKCE enforcement,
# client_secret_post, SSO on a second /auth, userinfo and RP-initiated logout.
#   tests/idp/smoke.sh        (exit 0 and "SMOKE OK" on success)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

dest="$("$root/bench/npm/install.sh" "$root/bench/oidc-provider" oidc-provider)"
cp "$here/idp.mjs" "$dest/idp.mjs"

work="$(mktemp -d)"
idp_pid=""
cleanup() {
  if [[ -n "$idp_pid" ]]; then kill "$idp_pid" 2>/dev/null || true; wait "$idp_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [[ -s "$work/idp.err" ]] && { echo "--- idp stderr:" >&2; cat "$work/idp.err" >&2; }; exit 1; }
ok() { echo "ok   $*"; }

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
rp_port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base="http://127.0.0.1:$port"
client_id="portal-smoke"
client_secret="smoke-secret-$(node -e 'console.log(require("crypto").randomBytes(12).toString("hex"))')"
redirect_uri="http://127.0.0.1:$rp_port/auth/callback"   # nothing listens there
post_logout="http://127.0.0.1:$rp_port/signed-out"

(cd "$dest" && exec env PORT="$port" CLIENT_ID="$client_id" CLIENT_SECRET="$client_secret" \
  REDIRECT_URIS="$redirect_uri http://127.0.0.1:$rp_port/other" POST_LOGOUT_REDIRECT_URIS="$post_logout" \
  node idp.mjs >"$work/idp.out" 2>"$work/idp.err") &
idp_pid=$!
for _ in $(seq 1 100); do
  grep -q '^READY ' "$work/idp.out" 2>/dev/null && break
  kill -0 "$idp_pid" 2>/dev/null || fail "idp exited early"
  sleep 0.1
done
[[ "$(cat "$work/idp.out")" == "READY $port" ]] || fail "stdout is not exactly 'READY $port': $(cat "$work/idp.out")"
ok "idp printed exactly 'READY $port' (pid $idp_pid)"

# --- helpers ----------------------------------------------------------------
b64url_rand() { node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))'; }
s256() { node -e 'console.log(require("crypto").createHash("sha256").update(process.argv[1]).digest("base64url"))' -- "$1"; }
enc() { node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' -- "$1"; }
json() { node -e 'const o=JSON.parse(require("fs").readFileSync(0,"utf8")); const v=process.argv[1].split(".").reduce((a,k)=>a?.[k],o); console.log(typeof v==="string"?v:JSON.stringify(v))' -- "$1"; }
# status and Location of one request: req JAR [curl args...] -> sets $status $location, body in $work/body
req() {
  local jar="$1"; shift
  curl -sS -o "$work/body" -D "$work/hdr" -b "$jar" -c "$jar" "$@"
  status="$(head -1 "$work/hdr" | awk '{print $2}')"
  location="$( (grep -i '^location:' "$work/hdr" || true) | tail -1 | sed 's/^[Ll]ocation: *//' | tr -d '\r')"
  [[ -z "$location" || "$location" == http* ]] || location="$base$location"
}
# follow redirects by hand until one leaves the IdP (the redirect_uri does not listen)
follow() {
  local jar="$1" n=0
  while [[ "$status" == 30? && "$location" == "$base"* ]]; do
    echo "     -> $status $location" | sed "s#$base##"
    req "$jar" "$location"
    [[ -z "${show_cookies:-}" ]] || set_cookies
    n=$((n + 1)); [[ $n -lt 10 ]] || fail "redirect loop"
  done
}
cookie_names() { (sed 's/^#HttpOnly_//' "$1" | grep -v '^#' || true) | awk 'NF{print $6}' | sort -u | tr '\n' ' '; }
set_cookies() { (grep -i '^set-cookie:' "$work/hdr" || true) | tr -d '\r' | sed 's/^/       /'; }
qparam() { node -e 'console.log(new URL(process.argv[1]).searchParams.get(process.argv[2]) ?? "")' -- "$1" "$2"; }
auth_url() { # auth_url STATE NONCE CHALLENGE [extra]
  echo "$base/auth?response_type=code&client_id=$client_id&redirect_uri=$(enc "$redirect_uri")&scope=$(enc 'openid profile email groups')&state=$1&nonce=$2&code_challenge=$3&code_challenge_method=S256${4:-}"
}
# start a flow in JAR, land on the login form; sets $form_action
start_login() {
  local jar="$1" url="$2"
  req "$jar" "$url"
  [[ "$status" == 303 && "$location" == "$base/interaction/"* ]] || fail "/auth: expected 303 to /interaction/<uid>, got $status $location"
  echo "     GET /auth -> $status ${location#$base}"
  [[ -z "${show_cookies:-}" ]] || set_cookies
  req "$jar" "$location"
  [[ "$status" == 200 ]] || fail "login form: $status"
  grep -q 'name="login"' "$work/body" && grep -q 'name="password"' "$work/body" && grep -q '<button type="submit"' "$work/body" \
    || fail "login form lacks input[name=login]/input[name=password]/button[type=submit]"
  if grep -q '@import' "$work/body"; then fail "login page still @imports a web font"; fi
  form_action="$(grep -o '<form autocomplete="off" action="[^"]*"' "$work/body" | sed 's/.*action="//; s/"$//')"
  [[ "$form_action" == "$base/interaction/"* ]] || fail "form action: $form_action"
}
post_login() { # post_login JAR LOGIN PASSWORD
  req "$1" -X POST --data-urlencode prompt=login --data-urlencode "login=$2" --data-urlencode "password=$3" "$form_action"
}

# --- discovery --------------------------------------------------------------
disco="$(curl -sS "$base/.well-known/openid-configuration")"
[[ "$(json issuer <<<"$disco")" == "$base" ]] || fail "issuer: $(json issuer <<<"$disco")"
[[ "$(json jwks_uri <<<"$disco")" == "$base/jwks" ]] || fail "jwks_uri"
[[ "$(json code_challenge_methods_supported <<<"$disco")" == '["S256"]' ]] || fail "code_challenge_methods_supported"
[[ "$(json id_token_signing_alg_values_supported <<<"$disco")" == '["RS256"]' ]] || fail "id_token algs"
ok "discovery: issuer=$base (no trailing slash), jwks_uri, S256, RS256, end_session_endpoint=$(json end_session_endpoint <<<"$disco")"

# --- 1. bad logins on a fresh flow get no code ------------------------------
jar_bad="$work/jar-bad"
v_bad="$(b64url_rand)"
start_login "$jar_bad" "$(auth_url st-bad n-bad "$(s256 "$v_bad")")"
for cred in "alice wrong" "mallory mallory" "Alice Alice" "alice "; do
  set -- $cred
  post_login "$jar_bad" "$1" "${2:-}"
  [[ "$status" == 303 && "$location" == "$form_action?error=invalid_credentials" ]] \
    || fail "bad login '$cred': expected 303 back to the form, got $status $location"
  req "$jar_bad" "$location"
  [[ "$status" == 200 ]] && grep -q 'class="login-error"' "$work/body" || fail "bad login '$cred': no error on the form"
  [[ "$location" != *code=* ]] || fail "bad login got a code"
done
if grep -q '_session=' "$jar_bad"; then fail "a bad login got a _session cookie"; fi
ok "wrong password / unknown user / wrong case / empty password: 303 back to the form with .login-error, no code, no _session"

# --- 2. alice: authorization code + PKCE ------------------------------------
jar="$work/jar-alice"
verifier="$(b64url_rand)"
state="st-$(b64url_rand | cut -c1-12)"
nonce="n-$(b64url_rand | cut -c1-12)"
show_cookies=1
start_login "$jar" "$(auth_url "$state" "$nonce" "$(s256 "$verifier")")"
echo "     login form at ${form_action#$base}; cookies: $(cookie_names "$jar")"
post_login "$jar" alice alice
echo "     POST ${form_action#$base} login=alice&password=alice&prompt=login"
follow "$jar"
[[ "$status" == 303 && "$location" == "$redirect_uri?"* ]] || fail "expected 303 to the redirect_uri, got $status $location"
echo "     -> $status $location"
show_cookies=
code="$(qparam "$location" code)"
[[ -n "$code" ]] || fail "no code in $location"
[[ "$(qparam "$location" state)" == "$state" ]] || fail "state mismatch"
[[ "$(qparam "$location" iss)" == "$base" ]] || fail "iss in redirect: $(qparam "$location" iss)"
ok "alice got a code with state and iss at the redirect_uri (no consent page); cookies now: $(cookie_names "$jar")"

token_req() { # token_req CODE VERIFIER [curl args] -> $work/tok, $tok_status
  local c="$1" v="$2"; shift 2
  tok_status="$(curl -sS -o "$work/tok" -w '%{http_code}' "$@" \
    --data-urlencode grant_type=authorization_code --data-urlencode "code=$c" \
    --data-urlencode "redirect_uri=$redirect_uri" --data-urlencode "code_verifier=$v" "$base/token")"
}
token_req "$code" "$verifier" -u "$client_id:$client_secret"
[[ "$tok_status" == 200 ]] || fail "token: $tok_status $(cat "$work/tok")"
id_token="$(json id_token <"$work/tok")"
access_token="$(json access_token <"$work/tok")"
[[ "$(json token_type <"$work/tok")" == Bearer ]] || fail "token_type"
ok "POST /token (client_secret_basic + code_verifier): 200, scope=$(json scope <"$work/tok")"

curl -sS "$base/jwks" >"$work/jwks"
node - "$id_token" "$work/jwks" "$client_id" "$nonce" "$base" <<'JS' || fail "id_token checks"
const [tok, jwksFile, aud, nonce, iss] = process.argv.slice(2);
const crypto = require('crypto'), fs = require('fs');
const [h, p, s] = tok.split('.');
const header = JSON.parse(Buffer.from(h, 'base64url'));
const payload = JSON.parse(Buffer.from(p, 'base64url'));
const jwk = JSON.parse(fs.readFileSync(jwksFile, 'utf8')).keys.find((k) => k.kid === header.kid);
const good = header.alg === 'RS256' && jwk && crypto.verify('RSA-SHA256', Buffer.from(`${h}.${p}`),
  crypto.createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
const want = { iss, aud, sub: 'alice', nonce, name: 'Alice Adams', email: 'alice@example.com', groups: ['payments-devs'] };
const bad = Object.entries(want).filter(([k, v]) => JSON.stringify(payload[k]) !== JSON.stringify(v));
console.log('     id_token header', JSON.stringify(header));
console.log('     id_token payload', JSON.stringify(payload));
if (!good) { console.error('bad signature / alg / kid'); process.exit(1); }
if (bad.length) { console.error('claims differ:', bad.map(([k]) => k).join(', ')); process.exit(1); }
JS
ok "id_token: RS256 signature verified with /jwks; iss, aud=$client_id, sub=alice, nonce, name, email, groups=[\"payments-devs\"]"

me="$(curl -sS -H "Authorization: Bearer $access_token" "$base/me")"
[[ "$(json groups <<<"$me")" == '["payments-devs"]' && "$(json email <<<"$me")" == alice@example.com ]] || fail "userinfo: $me"
ok "userinfo /me: $me"

token_req "$code" "$verifier" -u "$client_id:$client_secret"
[[ "$tok_status" == 400 && "$(json error <"$work/tok")" == invalid_grant ]] || fail "replay: $tok_status $(cat "$work/tok")"
ok "replaying the code: 400 invalid_grant"

# --- 3. SSO: a second /auth with the session cookie skips the form ----------
v2="$(b64url_rand)"
req "$jar" "$(auth_url st-2 n-2 "$(s256 "$v2")")"
follow "$jar"
[[ "$status" == 303 && "$location" == "$redirect_uri?"* && -n "$(qparam "$location" code)" ]] || fail "SSO: $status $location"
code2="$(qparam "$location" code)"
ok "second /auth with the _session cookie: straight to the redirect_uri with a code"

# PKCE: the right code with a wrong verifier is refused
token_req "$code2" "$(b64url_rand)" -u "$client_id:$client_secret"
[[ "$tok_status" == 400 && "$(json error <"$work/tok")" == invalid_grant ]] || fail "wrong verifier: $tok_status $(cat "$work/tok")"
ok "wrong code_verifier: 400 invalid_grant"

# PKCE is required: /auth without code_challenge is an error at the redirect_uri
req "$jar" "$base/auth?response_type=code&client_id=$client_id&redirect_uri=$(enc "$redirect_uri")&scope=openid&state=st-3&nonce=n-3"
follow "$jar"
[[ "$location" == "$redirect_uri?"* && "$(qparam "$location" error)" == invalid_request && -z "$(qparam "$location" code)" ]] \
  || fail "no code_challenge: $status $location"
ok "/auth without code_challenge: error=invalid_request ($(qparam "$location" error_description))"

# --- 4. bob with client_secret_post -----------------------------------------
jar_bob="$work/jar-bob"
vb="$(b64url_rand)"
start_login "$jar_bob" "$(auth_url st-b n-b "$(s256 "$vb")")"
post_login "$jar_bob" bob bob
follow "$jar_bob"
[[ "$location" == "$redirect_uri?"* ]] || fail "bob: $status $location"
token_req "$(qparam "$location" code)" "$vb" --data-urlencode "client_id=$client_id" --data-urlencode "client_secret=$client_secret"
[[ "$tok_status" == 200 ]] || fail "bob token (client_secret_post): $tok_status $(cat "$work/tok")"
bob_groups="$(json id_token <"$work/tok" | cut -d. -f2 | node -e 'console.log(JSON.stringify(JSON.parse(Buffer.from(require("fs").readFileSync(0,"utf8").trim(),"base64url")).groups))')"
[[ "$bob_groups" == '["search-devs"]' ]] || fail "bob groups: $bob_groups"
ok "bob via client_secret_post: groups=$bob_groups"

# --- 5. RP-initiated logout for alice ---------------------------------------
req "$jar" "$base/session/end?id_token_hint=$id_token&post_logout_redirect_uri=$(enc "$post_logout")&state=bye"
[[ "$status" == 200 ]] && grep -q 'name="logout"' "$work/body" || fail "logout page: $status"
xsrf="$(grep -o 'name="xsrf" value="[^"]*"' "$work/body" | sed 's/.*value="//; s/"$//')"
action="$(grep -o 'id="op.logoutForm" method="post" action="[^"]*"' "$work/body" | sed 's/.*action="//; s/"$//')"
req "$jar" -X POST --data-urlencode "xsrf=$xsrf" --data-urlencode logout=yes "$action"
[[ "$status" == 303 && "$location" == "$post_logout?state=bye" ]] || fail "logout confirm: $status $location"
ok "logout: GET /session/end -> page with button[name=logout][value=yes] -> POST ${action#$base} -> 303 $location"
v3="$(b64url_rand)"
req "$jar" "$(auth_url st-4 n-4 "$(s256 "$v3")")"
[[ "$status" == 303 && "$location" == "$base/interaction/"* ]] || fail "after logout /auth did not ask to log in: $status $location"
ok "after logout, /auth shows the login form again"

kill -TERM "$idp_pid"
for _ in $(seq 1 50); do kill -0 "$idp_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$idp_pid" 2>/dev/null; then fail "idp did not exit on SIGTERM"; fi
wait "$idp_pid" && rc=0 || rc=$?
idp_pid=""
[[ $rc == 0 ]] || fail "idp exit status $rc on SIGTERM"
ok "SIGTERM: idp exited 0"
if [[ -s "$work/idp.err" ]]; then echo "--- idp stderr:"; cat "$work/idp.err"; fi
echo "SMOKE OK"
