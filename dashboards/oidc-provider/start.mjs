// A standards-conforming OpenID provider (the certified npm package
// `oidc-provider`) standing in for a trust's identity provider in the
// sign-in tests, shaped like one of:
//
// - NHS CIS2 (PF_PROVIDER_SHAPE=cis2): the ID token carries only `sub`; the
//   person's name, national RBAC roles (each with its role code, ODS
//   organisation and id), associated organisations and selected role come
//   from the userinfo endpoint, under the custom scopes `profile`,
//   `nationalrbacaccess`, `associatedorgs` and `selectedrole`.
// - Microsoft Entra ID (PF_PROVIDER_SHAPE=entra): app roles and groups are
//   in the ID token's `roles` and `groups` claims.
//
// Test accounts sign in without a form when the authorization request's
// `login_hint` names the account, else through a one-field sign-in page
// (in a browser); an unknown account is refused with access_denied. The account `slow-code` gets authorization codes that
// expire after 1 second, for the expired-code refusal.
//
// Settings (environment): PF_PROVIDER_PORT, PF_PROVIDER_SHAPE, PF_CLIENT_ID,
// PF_CLIENT_SECRET, PF_CLIENT_AUTH (client_secret_basic, client_secret_post
// or private_key_jwt, then PF_CLIENT_JWKS: the client's public key set),
// PF_REDIRECT_URI. Prints `listening <issuer>` once it serves.
import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
};

const port = Number(env('PF_PROVIDER_PORT'));
const shape = env('PF_PROVIDER_SHAPE');
const issuer = `http://127.0.0.1:${port}`;

const nrbac = (id, code, org) => ({
  person_orgid: `${id}0`,
  person_roleid: id,
  org_code: org,
  role_name: '"Synthetic":"Test role"',
  role_code: code,
});

// CIS2-shaped people: national RBAC roles held at ODS organisations.
const cis2 = {
  'cis2-coordinator': { name: 'Asha Coordinator (test)', roles: [nrbac('5001', 'S8000:G8000:R8001', 'RWE')] },
  'cis2-viewer': { name: 'Bo Viewer (test)', roles: [nrbac('5002', 'S8000:G8000:R8008', 'QK1')] },
  'cis2-admin': { name: 'Cy Admin (test)', roles: [nrbac('5003', 'S8000:G8001:R5080', 'QK1')] },
  // Two roles; the one selected at sign-in (selectedrole) is the viewer's.
  'cis2-two-roles': {
    name: 'Di Two-Roles (test)',
    roles: [nrbac('5004', 'S8000:G8000:R8001', 'RWE'), nrbac('5005', 'S8000:G8000:R8008', 'QK1')],
    selected: '5005',
  },
  'cis2-no-role': { name: 'Ed No-Role (test)', roles: [nrbac('5006', 'S8000:G8000:R8000', 'RWE')] },
  'cis2-wrong-org': { name: 'Fi Wrong-Org (test)', roles: [nrbac('5007', 'S8000:G8000:R8001', 'RXX')] },
  'slow-code': { name: 'Gu Slow (test)', roles: [nrbac('5008', 'S8000:G8000:R8001', 'RWE')] },
};

// Entra-ID-shaped people: app roles and group ids in the ID token.
const entra = {
  'entra-coordinator': { name: 'Hal Coordinator (test)', roles: ['PatientFlow.DischargeCoordinator'], groups: [] },
  'entra-viewer': { name: 'Ida Viewer (test)', roles: ['PatientFlow.ControlRoom'], groups: [] },
  // An administrator by group membership, not by app role.
  'entra-admin': { name: 'Jo Admin (test)', roles: [], groups: ['7d1c2a9e-5b7a-4c1e-9f00-00000000a001'] },
  'entra-no-role': { name: 'Kit No-Role (test)', roles: ['Finance.Reader'], groups: [] },
  'slow-code': { name: 'Gu Slow (test)', roles: ['PatientFlow.DischargeCoordinator'], groups: [] },
};

const people = shape === 'cis2' ? cis2 : entra;

const claimsOf = (id) => {
  const person = people[id];
  if (shape === 'cis2') {
    return {
      sub: id,
      name: person.name,
      nhsid_nrbac_roles: person.roles,
      nhsid_user_orgs: [...new Set(person.roles.map((r) => r.org_code))].map((org_code) => ({ org_code, org_name: `Organisation ${org_code}` })),
      selected_roleid: person.selected,
      id_assurance_level: '3',
      authentication_assurance_level: '3',
    };
  }
  return { sub: id, name: person.name, roles: person.roles, groups: person.groups };
};

const clientAuth = env('PF_CLIENT_AUTH', 'client_secret_basic');
const client = {
  client_id: env('PF_CLIENT_ID'),
  redirect_uris: [env('PF_REDIRECT_URI')],
  token_endpoint_auth_method: clientAuth,
  grant_types: ['authorization_code'],
  response_types: ['code'],
};
if (clientAuth === 'private_key_jwt') {
  // The client's public keys, as registered for signed client assertions.
  client.jwks = JSON.parse(env('PF_CLIENT_JWKS'));
} else {
  client.client_secret = env('PF_CLIENT_SECRET');
}

const configuration = {
  clients: [client],
  scopes: shape === 'cis2'
    ? ['openid', 'profile', 'nationalrbacaccess', 'associatedorgs', 'selectedrole']
    : ['openid', 'profile', 'email'],
  claims: shape === 'cis2'
    ? {
      openid: ['sub'],
      profile: ['name'],
      nationalrbacaccess: ['nhsid_nrbac_roles', 'id_assurance_level', 'authentication_assurance_level'],
      associatedorgs: ['nhsid_user_orgs'],
      selectedrole: ['selected_roleid'],
    }
    // Entra ID puts app roles and groups in the ID token whatever the scope.
    : { openid: ['sub', 'roles', 'groups'], profile: ['name'] },
  // CIS2: scope-requested claims only from userinfo (the default). Entra:
  // in the ID token too.
  conformIdTokenClaims: shape === 'cis2',
  findAccount: async (ctx, id) => (people[id]
    ? { accountId: id, claims: async () => claimsOf(id) }
    : undefined),
  // Test accounts are first-party: consent is given once signed in.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // Access tokens are opaque (the default); resource servers introspect them.
  features: { devInteractions: { enabled: false }, introspection: { enabled: true } },
  pkce: { required: () => true },
  ttl: {
    AuthorizationCode: (ctx, code) => (code.accountId === 'slow-code' ? 1 : 60),
    AccessToken: 600,
    IdToken: 600,
    Session: 600,
    Interaction: 600,
    Grant: 600,
  },
  cookies: { keys: ['test-only-cookie-key-not-a-secret'] },
};

const provider = new Provider(issuer, configuration);

const readForm = (req) => new Promise((resolve, reject) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; if (body.length > 4096) reject(new Error('too large')); });
  req.on('end', () => resolve(new URLSearchParams(body)));
  req.on('error', reject);
});

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The interaction: sign in the account `login_hint` names, or the one typed
// into the provider's own sign-in page (in a browser); an unknown account
// is refused with access_denied.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match) {
    await next();
    return;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let account = details.params.login_hint;
  if (!account && ctx.method === 'POST') {
    account = (await readForm(ctx.req)).get('account') || '';
  } else if (!account) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body><main><h1>Sign in to the test identity provider (${escapeHtml(shape)})</h1>
<form method="post" action="/interaction/${escapeHtml(match[1])}">
<label for="account">Account</label> <input id="account" name="account" autocomplete="username">
<button type="submit">Sign in</button></form></main></body></html>`;
    return;
  }
  const result = account && people[account]
    ? { login: { accountId: account } }
    : { error: 'access_denied', error_description: 'no such test account' };
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
