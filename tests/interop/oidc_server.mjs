// A real, independent OAuth 2.0 / OpenID Connect authorization server for loctocat's interop
// tests: panva's `oidc-provider` (see package.json for the pinned version) with the RFC 8628
// device authorization grant enabled, listening on plain http on 127.0.0.1.
//
// Usage: node tests/interop/oidc_server.mjs [PORT]      (or env OIDC_PORT; 0 = pick a free port)
//
// Environment:
//   OIDC_PORT              port when none is given as argument (default 0)
//   OIDC_DEVICE_CODE_TTL   device code lifetime in seconds (default 600)
//   OIDC_VERBOSE=1         keep oidc-provider's development notices/warnings (stderr)
//
// When ready it prints exactly ONE line of JSON to stdout and nothing else ever after:
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT}
// All logging goes to stderr. The process exits when its stdin closes, or on SIGTERM/SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import process from 'node:process';

const verbose = process.env.OIDC_VERBOSE === '1';

// stdout is reserved for the ready line. oidc-provider prints development notices with
// console.info (stdout) and warnings with console.warn (stderr): route everything to stderr and
// drop the development chatter unless OIDC_VERBOSE=1.
const toStderr = (...args) => console.error(...args);
const isDevChatter = (args) => typeof args[0] === 'string'
  && /^(\x1b\[[0-9;]*m)?oidc-provider (NOTICE|WARNING):/.test(args[0]);
console.log = toStderr;
console.info = (...args) => { if (verbose || !isDevChatter(args)) toStderr(...args); };
console.warn = (...args) => { if (verbose || !isDevChatter(args)) toStderr(...args); };

const { default: Provider } = await import('oidc-provider');

const portArg = process.argv[2] ?? process.env.OIDC_PORT ?? '0';
const port = Number.parseInt(portArg, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`oidc_server: invalid port ${JSON.stringify(portArg)}`);
  process.exit(2);
}
const deviceCodeTtl = Number.parseInt(process.env.OIDC_DEVICE_CODE_TTL ?? '600', 10);

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const actualPort = server.address().port;
const issuer = `http://127.0.0.1:${actualPort}`;

// A fresh signing key per run (otherwise oidc-provider uses a fixed, public development key).
// RS256 because it is the default id_token_signed_response_alg of clients.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'interop', alg: 'RS256', use: 'sig' };

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

const configuration = {
  clients: [
    {
      client_id: 'loctocat-interop',
      client_name: 'loctocat interop',
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_GRANT, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'loctocat-interop-secret',
      client_secret: 'loctocat-interop-secret-value',
      client_name: 'loctocat interop (confidential)',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [DEVICE_GRANT, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'loctocat-interop-secret-post',
      client_secret: 'loctocat-interop-secret-value',
      client_name: 'loctocat interop (confidential, post)',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: [DEVICE_GRANT, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'profile'],
  claims: { openid: ['sub'], profile: ['name'] },
  features: {
    deviceFlow: { enabled: true },
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    introspection: { enabled: true },
  },
  // The default already issues refresh tokens when the client may use the refresh_token grant
  // and `offline_access` was granted; spelled out here so the interop contract is explicit.
  issueRefreshToken(_ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },
  ttl: {
    AccessToken: 3600,
    DeviceCode: deviceCodeTtl,
    Grant: 86400,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 86400,
    Session: 3600,
  },
  // The development login page accepts any user name (and any password).
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: sub };
      },
    };
  },
  // Keep error details visible in responses for debugging; they are RFC 6749 errors anyway.
  renderError(ctx, out, error) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head>`
      + `<body><h1>oops! something went wrong</h1><pre id="error">${
        Object.entries(out).map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, '')}`).join('\n')
      }</pre></body></html>`;
    if (ctx.status >= 500) console.error('oidc_server: render error', error);
  },
};

const provider = new Provider(issuer, configuration);

provider.on('server_error', (_ctx, err) => console.error('oidc_server: server_error', err));
provider.on('jwks.error', (_ctx, err) => console.error('oidc_server: jwks.error', err));
provider.on('adapter.error', (_ctx, err) => console.error('oidc_server: adapter.error', err));
if (verbose) {
  for (const event of ['grant.error', 'device_authorization.error', 'code_verification.error',
    'device_resume.error', 'revocation.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => console.error(`oidc_server: ${event}`, err.message));
  }
}

server.on('request', provider.callback());

let closing = false;
function shutdown(code = 0) {
  if (closing) return;
  closing = true;
  server.close();
  server.closeAllConnections();
  process.exit(code);
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();

process.stdout.write(`${JSON.stringify({ issuer, port: actualPort })}\n`);
