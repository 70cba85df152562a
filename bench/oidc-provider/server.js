// Comparison peer for load tests: oidc-provider (the OpenID-certified Node.js
// library) issuing JWT access tokens for the OAuth 2.0 client_credentials grant.
//
// Env:
//   PORT        listen port (default 3001)
//   HOST        listen address (default 127.0.0.1)
//   ALG         RS256 | ES256 (default RS256): signing alg of the access tokens
//   ISSUER      issuer URL (default http://127.0.0.1:$PORT)
//   TOKEN_PATH  token endpoint path (default /token, oidc-provider's default)
//   OIDC_VERBOSE=1  keep oidc-provider's one-time start-up notices
//
// Prints "READY <port>" on stdout once listening.
//
// Token request (same body as for our server, thanks to defaultResource):
//   POST /token  Authorization: Basic base64(bench-client:BENCH_CLIENT_SECRET)
//   Content-Type: application/x-www-form-urlencoded
//   grant_type=client_credentials&scope=read

import * as crypto from 'node:crypto';
import * as http from 'node:http';

const PORT = Number.parseInt(process.env.PORT ?? '3001', 10);
const HOST = process.env.HOST ?? '127.0.0.1';
const ALG = process.env.ALG ?? 'RS256';
const ISSUER = process.env.ISSUER ?? `http://127.0.0.1:${PORT}`;
const TOKEN_PATH = process.env.TOKEN_PATH ?? '/token';

const CLIENT_ID = 'bench-client';
const CLIENT_SECRET = 'bench-secret-7f3a9c1e5b2d48f6a0e4c8b19d3f5a72e6c0b4d8f1a3e5c7';
const RESOURCE = 'https://api.example.com';

// oidc-provider prints a few one-time notices that do not apply to a
// benchmark peer (the in-memory adapter it is asked to use, and the Node.js
// LTS line check). Drop just those unless OIDC_VERBOSE=1. They are printed
// once at start-up, never per request.
if (process.env.OIDC_VERBOSE !== '1') {
  const quiet = [
    'quick start development-only in-memory adapter',
    'Unsupported runtime',
  ];
  const origWarn = console.warn;
  console.warn = (...args) => {
    const first = String(args[0] ?? '');
    if (quiet.some((q) => first.includes(q))) return;
    origWarn(...args);
  };
}

function signingJwk(alg) {
  let pair;
  switch (alg) {
    case 'RS256':
      pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ES256':
      pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    default:
      throw new Error(`ALG must be RS256 or ES256, got ${alg}`);
  }
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `bench-${alg.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}` };
}

// Imported after the console filter so its import-time notice is filtered too.
const { default: Provider, errors } = await import('oidc-provider');

const resourceServer = {
  scope: 'read write',
  audience: RESOURCE,
  accessTokenTTL: 300,
  accessTokenFormat: 'jwt',
  jwt: { sign: { alg: ALG } },
};

const provider = new Provider(ISSUER, {
  // Default in-memory adapter (no `adapter`). JWT access tokens are not
  // stored by oidc-provider, so the adapter is not touched per token.
  jwks: { keys: [signingJwk(ALG)] },
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: ALG,
    },
  ],
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: ALG,
  },
  routes: { token: TOKEN_PATH },
  // Same value as the library default, given explicitly to avoid its notice.
  ttl: {
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 300,
  },
  clientBasedCORS: () => true,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A request without `resource` gets the one resource server, so a
      // plain grant_type=client_credentials&scope=read body yields a JWT.
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (resourceIndicator === RESOURCE) return resourceServer;
        throw new errors.InvalidTarget();
      },
    },
  },
});

provider.on('server_error', (_ctx, err) => {
  console.error('server_error:', err);
});

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST, () => {
  console.log(`READY ${server.address().port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)).closeAllConnections());
}
