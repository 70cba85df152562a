#!/usr/bin/env bash
# Token verifications per second on one core, RS256 and ES256, warm JWKS: our verifier
# (authdomain-verifier, release build) and, in the same run on the same tokens,
# aws-jwt-verify and jose (npm, installed into ~/.cache by bench/npm/install.sh). Each
# process is pinned to CPU 0; Node.js gets one libuv thread. Prints a Markdown table.
#   bench/verify.sh [SECONDS_PER_CASE]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_CASE=${1:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/authdomain/target}"
command -v taskset >/dev/null || { echo "verify.sh: taskset (util-linux) is required" >&2; exit 1; }

cargo build -q --release --locked -p authdomain-verifier --example verify_bench
BENCH="$CARGO_TARGET_DIR/release/examples/verify_bench"
PEERS=$(bench/npm/install.sh bench/verify verify-peers)
cp bench/verify/peers.mjs "$PEERS/peers.mjs"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
"$BENCH" gen "$DIR" 10000

{
  taskset -c 0 "$BENCH" run "$DIR" "$SECONDS_PER_CASE"
  UV_THREADPOOL_SIZE=1 taskset -c 0 node "$PEERS/peers.mjs" "$DIR" "$SECONDS_PER_CASE"
} >"$DIR/results.jsonl"

python3 - "$DIR/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def get(lib, alg, wl):
    return next(r["per_second"] for r in rows if (r["library"], r["alg"], r["workload"]) == (lib, alg, wl))
print("| library | alg | workload | verifications/s | vs aws-jwt-verify |")
print("|---|---|---|---:|---:|")
for alg in ("RS256", "ES256"):
    for wl in ("new", "reused"):
        base = get("aws-jwt-verify", alg, wl)
        for lib in ("authdomain-verifier", "aws-jwt-verify", "jose"):
            v = get(lib, alg, wl)
            print(f"| {lib} | {alg} | {wl} | {v:.0f} | {v / base:.2f}× |")
PY
