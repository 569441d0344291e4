// A strict oidc-provider (8.x) authorization server for pkceflow's end-to-end tests.
//
//   node server.mjs [--port N] [--access-token-ttl SECONDS] [--always-issue-refresh]
//                   [--exit-on-stdin-close]
//
// Environment equivalents: E2E_PORT, E2E_ACCESS_TOKEN_TTL, E2E_ALWAYS_ISSUE_REFRESH=1.
// Command-line flags win over the environment.
//
// It listens on 127.0.0.1 only (port 0, the default, picks a free port), and the first and
// only line it writes to stdout is one JSON object: {"issuer": "http://127.0.0.1:PORT",
// "port": PORT}. Every log line goes to stderr. SIGTERM or SIGINT end it cleanly; with
// --exit-on-stdin-close it also ends when its stdin closes (so that a test runner that dies
// does not leave it behind).
//
// Development-only: plain http, in-memory storage, throw-away signing keys, devInteractions.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

// oidc-provider writes its notices with console.info; keep stdout for the one JSON line.
console.info = console.error; // eslint-disable-line no-console
console.log = console.error; // eslint-disable-line no-console

const PUBLIC_CLIENT_ID = 'pkceflow-public';
const CONFIDENTIAL_CLIENT_ID = 'pkceflow-confidential';
const CONFIDENTIAL_CLIENT_SECRET = 'pkceflow-confidential-secret';
// A public client whose access tokens live 20 s, whatever the server's access token TTL.
const SHORT_LIVED_CLIENT_ID = 'pkceflow-short-lived';
const SHORT_LIVED_ACCESS_TOKEN_TTL = 20;

// Registered without a port: for native clients oidc-provider accepts any port on these
// loopback redirect URIs (RFC 8252 section 7.3), see Client#redirectUriAllowed.
const LOOPBACK_REDIRECT_URIS = [
  'http://127.0.0.1/callback',
  'http://[::1]/callback',
  'http://localhost/callback',
];
const LOOPBACK_HOSTNAMES = new Set(['127.0.0.1', '[::1]', '::1', 'localhost']);

function fail(message) {
  process.stderr.write(`server.mjs: ${message}\n`);
  process.exit(2);
}

function truthy(value) {
  return ['1', 'true', 'yes', 'on'].includes(String(value ?? '').trim().toLowerCase());
}

function nonNegativeInteger(name, raw, fallback) {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) fail(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return value;
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      port: { type: 'string' },
      'access-token-ttl': { type: 'string' },
      'always-issue-refresh': { type: 'boolean' },
      'exit-on-stdin-close': { type: 'boolean' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail(err.message);
}

const port = nonNegativeInteger('port', parsed.port ?? process.env.E2E_PORT, 0);
if (port > 65535) fail(`port out of range: ${port}`);
const accessTokenTTL = nonNegativeInteger(
  'access token ttl',
  parsed['access-token-ttl'] ?? process.env.E2E_ACCESS_TOKEN_TTL,
  3600,
);
if (accessTokenTTL < 1) fail('access token ttl must be at least 1 second');
const alwaysIssueRefresh = parsed['always-issue-refresh'] ?? truthy(process.env.E2E_ALWAYS_ISSUE_REFRESH);

function signingKeys() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    keys: [{
      ...privateKey.export({ format: 'jwk' }), kid: 'e2e-rs256', alg: 'RS256', use: 'sig',
    }],
  };
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function configuration() {
  const clientCommon = {
    application_type: 'native',
    redirect_uris: LOOPBACK_REDIRECT_URIS,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };

  const config = {
    clients: [
      { ...clientCommon, client_id: PUBLIC_CLIENT_ID, token_endpoint_auth_method: 'none' },
      { ...clientCommon, client_id: SHORT_LIVED_CLIENT_ID, token_endpoint_auth_method: 'none' },
      {
        ...clientCommon,
        client_id: CONFIDENTIAL_CLIENT_ID,
        client_secret: CONFIDENTIAL_CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'],
    pkce: {
      methods: ['S256'],
      required: () => true, // every client, confidential ones too
    },
    rotateRefreshToken: true,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    async findAccount(ctx, id) {
      // devInteractions accept any login name (and any password): it becomes the subject.
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: `${id}@example.test`,
            email_verified: true,
            name: id.charAt(0).toUpperCase() + id.slice(1),
            preferred_username: id,
          };
        },
      };
    },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      introspection: {
        enabled: true,
        // Confidential (authenticated) clients may introspect any token, public clients only
        // their own (oidc-provider's default policy, made explicit).
        async allowedPolicy(ctx, client, token) {
          if (client.clientAuthMethod === 'none') return token.clientId === client.clientId;
          return true;
        },
      },
    },
    // Plain http on loopback: cookies cannot be `Secure`, and browsers drop SameSite=None
    // cookies that are not Secure, so the long-lived session cookie uses Lax too.
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    jwks: signingKeys(),
    ttl: {
      AccessToken: (ctx, token, client) => (
        client?.clientId === SHORT_LIVED_CLIENT_ID ? SHORT_LIVED_ACCESS_TOKEN_TTL : accessTokenTTL
      ),
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 60 * 60,
      Interaction: 3600,
      Session: 14 * 24 * 60 * 60,
      Grant: 14 * 24 * 60 * 60,
    },
    clientBasedCORS: () => false,
    // Nothing in this configuration makes the provider fetch anything (no jwks_uri,
    // sector_identifier_uri or request_uri clients), but refuse outright just in case.
    httpOptions(url) {
      if (!LOOPBACK_HOSTNAMES.has(url.hostname)) {
        throw new Error(`e2e server: outbound request to ${url.href} refused`);
      }
      return {};
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>oops! something went wrong</title></head>
<body><h1>oops! something went wrong</h1>
<pre id="op-error">${escapeHtml(JSON.stringify(out))}</pre>
</body></html>`;
    },
  };

  if (alwaysIssueRefresh) {
    // Default (switch off): refresh tokens only for scope offline_access with prompt=consent.
    config.issueRefreshToken = async (ctx, client, code) => (
      code.kind === 'AuthorizationCode' && client.grantTypeAllowed('refresh_token')
    );
  }

  return config;
}

// Know the port before building the issuer: listen first, then attach the provider.
const server = http.createServer();
server.listen(port, '127.0.0.1');
server.once('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
await new Promise((resolve) => { server.once('listening', resolve); });

const actualPort = server.address().port;
const issuer = `http://127.0.0.1:${actualPort}`;
const provider = new Provider(issuer, configuration());

// One stderr line per request, for tests that check which endpoints a client called:
//   e2e request: METHOD PATH STATUS [grant_type=G] [client_id=C]
// (no query string, no tokens). The harness reads them with OidcProviderServer.requests().
provider.use(async (ctx, next) => {
  try {
    await next();
  } finally {
    const grant = ctx.oidc?.params?.grant_type;
    const client = ctx.oidc?.client?.clientId;
    process.stderr.write(
      `e2e request: ${ctx.method} ${ctx.path} ${ctx.status}`
      + `${grant ? ` grant_type=${grant}` : ''}${client ? ` client_id=${client}` : ''}\n`,
    );
  }
});

// devInteractions' pages @import a web font from the internet: strip it, no outbound traffic.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.body.includes('@import url(https://')) {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/[^)]*\);?/g, '');
  }
});

provider.on('server_error', (ctx, err) => {
  process.stderr.write(`server_error: ${err?.stack ?? err}\n`);
});

server.on('request', provider.callback());

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (parsed['exit-on-stdin-close']) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

process.stdout.on('error', () => {}); // a reader that went away must not crash the server
process.stdout.write(`${JSON.stringify({ issuer, port: actualPort })}\n`);
process.stderr.write(
  `e2e oidc-provider listening: issuer=${issuer} access_token_ttl=${accessTokenTTL}s `
  + `always_issue_refresh=${alwaysIssueRefresh}\n`,
);
