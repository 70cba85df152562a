// Time from process start to the first successful token of the oidc-provider
// peer: spawns `node server.js` (from the module cache dir that install.sh
// fills, as run.sh does), polls the token endpoint every 2 ms, and prints the
// milliseconds from spawn to the first 200 response carrying an access_token.
//
// Usage: node bench/oidc-provider/first-token.js [RUNS]
// Env:   ALG (RS256|ES256, default RS256), PORT (default 3011),
//        AUTHDOMAIN_CACHE (as for install.sh / run.sh)
// Output: one "first_token_ms <ms>" line per run, then
//         "first_token_ms_median <ms>" when RUNS > 1.

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import * as http from 'node:http';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cache = join(process.env.AUTHDOMAIN_CACHE ?? join(homedir(), '.cache', 'authdomain'), 'oidc-provider');
const runs = Number.parseInt(process.argv[2] ?? '1', 10);
const port = Number.parseInt(process.env.PORT ?? '3011', 10);
const alg = process.env.ALG ?? 'RS256';
const secret = 'bench-secret-7f3a9c1e5b2d48f6a0e4c8b19d3f5a72e6c0b4d8f1a3e5c7';
const auth = `Basic ${Buffer.from(`bench-client:${secret}`).toString('base64')}`;
const body = 'grant_type=client_credentials&scope=read';
const POLL_MS = 2;
const TIMEOUT_MS = 30_000;

if (!existsSync(join(cache, 'node_modules', 'oidc-provider'))) {
  console.error(`modules missing in ${cache}; run bench/oidc-provider/install.sh first`);
  process.exit(1);
}
copyFileSync(join(here, 'server.js'), join(cache, 'server.js'));

function tryToken() {
  return new Promise((resolve) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/token',
      method: 'POST',
      agent: false,
      headers: {
        authorization: auth,
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
      },
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve(res.statusCode === 200 && data.includes('"access_token"')));
    });
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

async function once() {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(cache, 'server.js')], {
    cwd: cache,
    env: { ...process.env, PORT: String(port), ALG: alg, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let exited = false;
  const exitP = new Promise((r) => { child.on('exit', () => { exited = true; r(); }); });
  try {
    while (performance.now() - t0 < TIMEOUT_MS) {
      if (exited) throw new Error('server exited before issuing a token');
      if (await tryToken()) return performance.now() - t0;
      await sleep(POLL_MS);
    }
    throw new Error(`no token within ${TIMEOUT_MS} ms`);
  } finally {
    if (!exited) child.kill('SIGTERM');
    await exitP;
  }
}

const times = [];
for (let i = 0; i < runs; i += 1) {
  const ms = await once();
  times.push(ms);
  console.log(`first_token_ms ${ms.toFixed(1)}`);
}
if (runs > 1) {
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`first_token_ms_median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)}`);
}
