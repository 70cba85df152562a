// A real OpenID Connect provider for browser tests of the portal's sign-in,
// built on oidc-provider 9.x (pinned in bench/oidc-provider/package.json and
// installed by bench/oidc-provider/install.sh into
// ${AUTHDOMAIN_CACHE:-~/.cache/authdomain}/oidc-provider). The test harness
// copies this file next to that node_modules and runs `node idp.mjs` there.
//
// Env:
//   PORT                       listen port (required)
//   HOST                       listen address (default 127.0.0.1)
//   ISSUER                     issuer, used verbatim (default http://127.0.0.1:$PORT,
//                              no trailing slash)
//   CLIENT_ID, CLIENT_SECRET   the one confidential client (required)
//   REDIRECT_URIS              space-separated redirect_uris (required)
//   POST_LOGOUT_REDIRECT_URIS  space-separated post_logout_redirect_uris (optional)
//   OIDC_VERBOSE=1             keep oidc-provider's start-up notices
//
// Prints exactly "READY <port>" on stdout once listening (oidc-provider's own
// notices go to stderr); exits 0 on SIGTERM/SIGINT.
//
// Client: client_secret_basic (client_secret_post is accepted too),
// response_type code, grant_type authorization_code, PKCE S256 required for
// every client (plain is not supported by oidc-provider 9.x). Scopes
// openid profile email groups; the ID token carries name, email and groups
// (conformIdTokenClaims: false). ID tokens are RS256; jwks_uri is /jwks.
//
// Accounts (password = login name): alice, bob, carol. Any other login, or a
// wrong password, is refused: the browser is sent back (303) to the same
// login form, which then shows <p class="login-error" role="alert">.
//
// Endpoints: discovery /.well-known/openid-configuration, /auth, /token,
// /me (userinfo), /jwks, /session/end (RP-initiated logout).
//
// What a browser sees (consent is never shown: loadExistingGrant grants every
// requested scope and claim):
//   1. GET  /auth?response_type=code&client_id=..&redirect_uri=..&scope=openid..
//           &state=..&nonce=..&code_challenge=..&code_challenge_method=S256
//           -> 303 to /interaction/<uid>   (sets cookies _interaction,
//              _interaction_resume and their .sig)
//   2. GET  /interaction/<uid>: the dev login form, title "Sign-in":
//        <form action="/interaction/<uid>" method="post">
//          <input type="hidden" name="prompt" value="login">
//          input[name=login]      (type=text, placeholder "Enter any login")
//          input[name=password]   (type=password)
//          button[type=submit]    (text "Sign-in", class "login-submit")
//        and a "[ Cancel ]" link to /interaction/<uid>/abort (-> access_denied).
//   3. POST /interaction/<uid>  login=alice&password=alice&prompt=login
//           -> 303 /auth/<uid> -> 303 <redirect_uri>?code=..&state=..&iss=..
//              (sets the _session cookie; `iss` is added to the redirect, RFC 9207)
//      A wrong login/password -> 303 /interaction/<uid>?error=invalid_credentials
//      (the form again, with the error paragraph).
//   A second /auth with the _session cookie goes straight to the redirect_uri.
//
// RP-initiated logout: GET /session/end?id_token_hint=..&post_logout_redirect_uri=..
// &state=.. shows "Do you want to sign-out from <host>?" with
//   button[name=logout][value=yes]  ("Yes, sign me out")  and a "No, stay
//   signed in" button; "Yes" posts to /session/end/confirm -> 303 to the
//   post_logout_redirect_uri?state=.. (or to the /session/end/success page
//   without one). With no IdP session the confirm form auto-submits (JS).
// Not exercised: an RP sending prompt=consent would get the dev "Authorize"
// page, whose only action is button[type=submit] "Continue".
//
// The built-in pages @import a web font; that import is stripped here so pages
// load without any outside network.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

function need(name) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    console.error(`idp.mjs: ${name} is required`);
    process.exit(2);
  }
  return v;
}

const PORT = Number.parseInt(need('PORT'), 10);
const HOST = process.env.HOST ?? '127.0.0.1';
const ISSUER = process.env.ISSUER ?? `http://127.0.0.1:${PORT}`;
const CLIENT_ID = need('CLIENT_ID');
const CLIENT_SECRET = need('CLIENT_SECRET');
const words = (s) => (s ?? '').split(/\s+/).filter(Boolean);
const REDIRECT_URIS = words(need('REDIRECT_URIS'));
const POST_LOGOUT_REDIRECT_URIS = words(process.env.POST_LOGOUT_REDIRECT_URIS);

// oidc-provider's one-time notices that do not apply to a test IdP. The rest
// of its console.info notices go to stderr so stdout only has "READY <port>".
if (process.env.OIDC_VERBOSE !== '1') {
  const quiet = [
    'quick start development-only in-memory adapter',
    'Unsupported runtime',
    'quick start development-only feature devInteractions',
    'already parsed request body detected',
  ];
  const drop = (args) => quiet.some((q) => String(args[0] ?? '').includes(q));
  const origWarn = console.warn;
  console.warn = (...args) => { if (!drop(args)) origWarn(...args); };
  console.info = (...args) => { if (!drop(args)) console.error(...args); };
} else {
  console.info = (...args) => console.error(...args);
}

const ACCOUNTS = {
  alice: { name: 'Alice Adams', email: 'alice@example.com', groups: ['payments-devs'] },
  bob: { name: 'Bob Brown', email: 'bob@example.com', groups: ['search-devs'] },
  carol: { name: 'Carol Chen', email: 'carol@example.com', groups: ['platform-admins'] },
};
const isAccount = (id) => typeof id === 'string' && Object.hasOwn(ACCOUNTS, id);

function signingJwk() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg: 'RS256', use: 'sig', kid: `idp-${crypto.randomUUID().slice(0, 8)}` };
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>${title}</title></head>
<body>
  ${body}
</body>
</html>`;

// Imported after the console filter so its import-time notice is filtered too.
const { default: Provider } = await import('oidc-provider');

const provider = new Provider(ISSUER, {
  jwks: { keys: [signingJwk()] },
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      // client_secret_post is accepted as well for a client_secret_basic client.
      token_endpoint_auth_method: 'client_secret_basic',
      response_types: ['code'],
      grant_types: ['authorization_code'],
      redirect_uris: REDIRECT_URIS,
      post_logout_redirect_uris: POST_LOGOUT_REDIRECT_URIS,
      id_token_signed_response_alg: 'RS256',
    },
  ],
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email'],
    groups: ['groups'],
  },
  // Scope claims go into the ID token too, not only to userinfo.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    // oidc-provider only sets `secure` when the request is https, so these
    // work over plain http on 127.0.0.1.
    long: { httpOnly: true, sameSite: 'lax', secure: false },
    short: { httpOnly: true, sameSite: 'lax', secure: false },
  },
  async findAccount(_ctx, sub) {
    if (!isAccount(sub)) return undefined;
    const a = ACCOUNTS[sub];
    return {
      accountId: sub,
      async claims() {
        return { sub, name: a.name, email: a.email, groups: [...a.groups] };
      },
    };
  },
  // Skip consent: the (new or existing) grant gets every requested scope and
  // claim, so the user only ever sees the login form.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    if (!grant) {
      grant = new oidc.provider.Grant({ accountId: oidc.session.accountId, clientId: oidc.client.clientId });
    }
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    const claims = [...oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    await grant.save();
    return grant;
  },
  // oidc-provider's defaults, given explicitly to avoid its notices.
  ttl: {
    AccessToken: 60 * 60,
    AuthorizationCode: 60,
    IdToken: 60 * 60,
    Interaction: 60 * 60,
    Session: 14 * 24 * 60 * 60,
    Grant: 14 * 24 * 60 * 60,
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // The default pages, without the web font; `form` is oidc-provider's
      // <form id="op.logoutForm" action="/session/end/confirm"> with the xsrf input.
      async logoutSource(ctx, form) {
        ctx.type = 'html';
        ctx.body = page('Logout Request', `<h1>Do you want to sign-out from ${esc(ctx.host)}?</h1>
  ${form}
  <button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
  <button type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = 'html';
        ctx.body = page('Sign-out Success', '<h1>Sign-out Success</h1>\n  <p>Your sign-out was successful.</p>');
      },
    },
  },
});

// The dev interactions accept any login and ignore the password: check both
// here, before oidc-provider's router sees the POST. A valid body is handed on
// through req.body (oidc-provider falls back to it once the stream is read).
const INTERACTION = /^\/interaction\/([^/]+)$/;
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && INTERACTION.test(ctx.path) && ctx.is('application/x-www-form-urlencoded')) {
    const chunks = [];
    let size = 0;
    for await (const chunk of ctx.req) {
      size += chunk.length;
      if (size > 56 * 1024) ctx.throw(413);
      chunks.push(chunk);
    }
    const raw = Buffer.concat(chunks).toString('utf8');
    const form = new URLSearchParams(raw);
    if (form.get('prompt') === 'login') {
      const login = form.get('login');
      if (!isAccount(login) || form.get('password') !== login) {
        ctx.status = 303;
        ctx.set('Cache-Control', 'no-store');
        ctx.redirect(`${ctx.path}?error=invalid_credentials`);
        return;
      }
    }
    ctx.req.body = raw;
  }
  await next();
});

// Pages: drop the web-font @import (no outside network in tests) and show the
// failed-login message on the re-rendered login form.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body !== 'string' || !ctx.body.startsWith('<')) return;
  let body = ctx.body.replace(/@import url\([^)]*\);?/g, '');
  if (ctx.method === 'GET' && INTERACTION.test(ctx.path) && ctx.query.error === 'invalid_credentials') {
    body = body.replace('<form ', '<p class="login-error" role="alert">Invalid login or password</p>\n<form ');
  }
  ctx.body = body;
});

provider.on('server_error', (_ctx, err) => {
  console.error('server_error:', err);
});

const server = http.createServer(provider.callback());
server.listen(PORT, HOST, () => {
  console.log(`READY ${server.address().port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
