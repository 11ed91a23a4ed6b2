// A real OpenID provider for sammen's end-to-end tests: panva's oidc-provider on
// 127.0.0.1 over plain HTTP, with static clients and accounts from a JSON file.
//
//   node tests/js/oidc-provider.mjs <config.json>
//
// Prints exactly one stdout line, {"issuer":"http://127.0.0.1:PORT"}, once it listens;
// everything else (oidc-provider's notices included) goes to stderr. Runs until killed.
// The login and consent pages are this file's own minimal forms (see README.md for the
// exact HTTP sequence). No claim value (a CPR number least of all) is ever logged.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

// oidc-provider prints notices with console.info (stdout); stdout carries only the ready line.
for (const name of ['log', 'info', 'debug']) console[name] = (...args) => console.error(...args);

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node tests/js/oidc-provider.mjs <config.json>');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const accounts = config.accounts ?? {};
if (!Array.isArray(config.clients) || config.clients.length === 0) {
  console.error('config: "clients" must be a non-empty array');
  process.exit(2);
}

// Claims of the Danish MitID brokers (Signaturgruppen's names) plus whatever the accounts carry.
const accountClaims = new Set(['dk.cpr', 'loa', 'identity_type', 'name', 'mitid.uuid']);
for (const claims of Object.values(accounts)) for (const k of Object.keys(claims)) accountClaims.add(k);

const html = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html(title)}</title></head>
<body><main><h1>${html(title)}</h1>
${body}
</main></body>
</html>`;
}

function loginForm(uid, error) {
  return page('Sign in', `${error ? `<p role="alert">${html(error)}</p>` : ''}
<form method="post" action="/interaction/${html(uid)}">
<input type="hidden" name="prompt" value="login">
<p><label for="login">Account</label> <input id="login" name="login" required autocomplete="off"></p>
<p><label for="password">Password (anything)</label> <input id="password" name="password" type="password"></p>
<p><button type="submit">Sign in</button></p>
</form>`);
}

function consentForm(uid, clientId, details) {
  const scopes = (details.missingOIDCScope ?? []).join(' ');
  const claims = (details.missingOIDCClaims ?? []).join(' ');
  return page('Allow access', `<p>${html(clientId)} asks for: ${html(scopes)} ${html(claims)}</p>
<form method="post" action="/interaction/${html(uid)}">
<input type="hidden" name="prompt" value="consent">
<p><button type="submit">Continue</button></p>
</form>`);
}

async function formBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The interaction pages: GET /interaction/<uid> shows the form for the pending prompt;
// POST /interaction/<uid> with prompt=login (login=<account id>) or prompt=consent.
const interactions = (provider) => async (ctx, next) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(ctx.path);
  if (!m) return next();
  ctx.set('cache-control', 'no-store');
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Session expired', `<p>${html(err.message)}</p>`);
    return undefined;
  }
  const { uid, prompt, params, session, grantId } = details;
  if (uid !== m[1]) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Wrong interaction', '<p>This sign-in belongs to another request.</p>');
    return undefined;
  }
  ctx.type = 'html';
  if (ctx.method === 'GET') {
    ctx.body = prompt.name === 'login' ? loginForm(uid) : consentForm(uid, params.client_id, prompt.details);
    return undefined;
  }
  if (ctx.method !== 'POST') {
    ctx.status = 405;
    ctx.body = page('Method not allowed', '');
    return undefined;
  }
  const form = await formBody(ctx.req);
  let result;
  if (form.get('prompt') === 'login' && prompt.name === 'login') {
    const login = form.get('login') ?? '';
    if (!Object.hasOwn(accounts, login)) {
      ctx.status = 400;
      ctx.body = loginForm(uid, 'Unknown account.');
      return undefined;
    }
    result = { login: { accountId: login } };
  } else if (form.get('prompt') === 'consent' && prompt.name === 'consent') {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scope.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    ctx.status = 400;
    ctx.body = page('Unexpected form', `<p>This step expects the ${html(prompt.name)} form.</p>`);
    return undefined;
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: prompt.name !== 'login',
  });
  ctx.status = 303;
  ctx.redirect(returnTo);
  return undefined;
};

const server = createServer();
server.listen(config.port ?? 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `test-${randomBytes(6).toString('hex')}`, use: 'sig', alg: 'RS256' };

  const provider = new Provider(issuer, {
    clients: config.clients.map((c) => ({
      response_types: ['code'],
      grant_types: ['authorization_code'],
      ...c,
    })),
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // Every account claim is released under the scope `openid` (plus `ssn`/`mitid` as
    // the brokers name them), and put in the ID token, not only at userinfo.
    claims: {
      openid: ['sub', ...accountClaims],
      ssn: ['dk.cpr'],
      mitid: ['mitid.uuid', 'loa', 'identity_type', 'name'],
    },
    conformIdTokenClaims: false,
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    pkce: { methods: ['S256'], required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = page('Sign out', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (ctx, id) => {
      if (!Object.hasOwn(accounts, id)) return undefined;
      return { accountId: id, claims: () => ({ sub: id, ...accounts[id] }) };
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<p>${html(out.error)}: ${html(out.error_description ?? '')}</p>`);
    },
  });
  provider.use(interactions(provider));
  provider.on('server_error', (ctx, err) => console.error(`server_error on ${ctx.path}: ${err.message}`));
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
