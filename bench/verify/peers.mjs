// Verifications per second of aws-jwt-verify (AWS's JWT verifier) and jose on one thread,
// warm JWKS, no network: the peers of bench/verify.sh, on the tokens `verify_bench gen`
// wrote, with the same workloads ("new": cycle through all tokens; "reused": cycle
// through the first `reused`) and the same policy as our verifier: signature by the JWKS
// key the kid names, alg RS256 or ES256 equal to the JWK's, typ at+jwt, iss, aud, exp,
// scope containing "read". Prints one JSON line per case.
//   node peers.mjs DIR [SECONDS]
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import assert from "node:assert/strict";
import { JwtVerifier } from "aws-jwt-verify";
import { createLocalJWKSet, jwtVerify } from "jose";

const dir = process.argv[2];
const SECONDS = Number(process.argv[3] ?? 2);
const cfg = JSON.parse(readFileSync(`${dir}/config.json`, "utf8"));
const jwks = JSON.parse(readFileSync(`${dir}/jwks.json`, "utf8"));

const aws = JwtVerifier.create({
  issuer: cfg.issuer,
  audience: cfg.audience,
  scope: cfg.scope,
  // Only a cache key: the JWKS is loaded below and never fetched.
  jwksUri: "http://127.0.0.1:9/jwks.json",
  // aws-jwt-verify checks neither typ nor that exp is present: the same policy needs both.
  customJwtCheck: ({ header, payload }) => {
    if (typeof header.typ !== "string" || !/^(application\/)?at\+jwt$/i.test(header.typ))
      throw new Error("unexpected typ");
    if (typeof payload.exp !== "number") throw new Error("missing exp");
  },
});
aws.cacheJwks(jwks);

const keySet = createLocalJWKSet(jwks);
const joseOptions = {
  issuer: cfg.issuer,
  audience: cfg.audience,
  typ: "at+jwt",
  algorithms: ["RS256", "ES256"],
  requiredClaims: ["exp", "iat", "sub", "jti", "client_id"],
};
async function jose(token) {
  const { payload } = await jwtVerify(token, keySet, joseOptions);
  // jose has no scope option: the same check, by hand.
  if (typeof payload.scope !== "string" || !payload.scope.split(" ").includes(cfg.scope))
    throw new Error("insufficient scope");
  return payload;
}

const libraries = [
  { name: "aws-jwt-verify", sync: true, verify: (t) => aws.verifySync(t) },
  { name: "jose", sync: false, verify: jose },
];

function forge(token) {
  const i = token.length - 20;
  return token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
}

async function measure(lib, tokens, seconds) {
  let n = 0;
  let i = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  if (lib.sync) {
    while (performance.now() < until) {
      for (let k = 0; k < 64; k++) {
        lib.verify(tokens[i++ % tokens.length]);
        n++;
      }
    }
  } else {
    while (performance.now() < until) {
      for (let k = 0; k < 64; k++) {
        await lib.verify(tokens[i++ % tokens.length]);
        n++;
      }
    }
  }
  return n / ((performance.now() - started) / 1000);
}

for (const alg of ["RS256", "ES256"]) {
  const all = readFileSync(`${dir}/tokens-${alg}.txt`, "utf8").trim().split("\n");
  for (const [workload, tokens] of [["new", all], ["reused", all.slice(0, cfg.reused)]]) {
    for (const lib of libraries) {
      for (const t of tokens.slice(0, 3)) await lib.verify(t);
      let refused = false;
      try { await lib.verify(forge(tokens[0])); } catch { refused = true; }
      assert.ok(refused, `${lib.name} accepted a forged ${alg} token`);
      await measure(lib, tokens, 0.5);
      const perSecond = await measure(lib, tokens, SECONDS);
      console.log(JSON.stringify({ library: lib.name, alg, workload, per_second: Math.round(perSecond) }));
    }
  }
}
