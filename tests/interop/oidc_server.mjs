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
//   OIDC_STATE_DIR=DIR     keep what a deployment keeps across restarts in DIR: the signing
//                          keys (jwks.json), the cookie keys, the grants and tokens (a file
//                          adapter, state.json), and an access log (access.log, one
//                          "METHOD /path" line per request). Without it, all is in memory.
//   OIDC_ROTATE_SIGNING_KEY=1  (with OIDC_STATE_DIR) generate a new signing key at start, sign
//                          with it from now on and keep publishing the previous ones after it
//   OIDC_DPOP_NONCES=1     DPoP (RFC 9449, always on) with server nonces: every DPoP proof, at
//                          the token endpoint and at the userinfo endpoint, must carry the
//                          server's current nonce (features.dPoP.nonceSecret, requireNonce);
//                          one without it is refused with "use_dpop_nonce" and a DPoP-Nonce
//
// Key rotation is done the way oidc-provider documents it for the `jwks` configuration: the
// keystore is read once, when the Provider is constructed, so keys change by editing the JWKS
// and reloading the process, with the signing key first in "keys" and the keys that may still
// be met after it. A fleet first publishes a new key last and reloads, so that every process
// knows it before any signs with it, then moves it first and reloads again; this server is one
// process, so it does both in one restart. Grants, tokens and sessions survive the restart in
// the state directory, as they would in a deployment's database.
//
// When ready it prints exactly ONE line of JSON to stdout and nothing else ever after:
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT}
// All logging goes to stderr. The process exits when its stdin closes, or on SIGTERM/SIGINT.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
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
const stateDir = process.env.OIDC_STATE_DIR || null;
const rotateSigningKey = process.env.OIDC_ROTATE_SIGNING_KEY === '1';
const dpopNonces = process.env.OIDC_DPOP_NONCES === '1';
if (rotateSigningKey && !stateDir) {
  console.error('oidc_server: OIDC_ROTATE_SIGNING_KEY=1 needs OIDC_STATE_DIR (where the keys are)');
  process.exit(2);
}

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const actualPort = server.address().port;
const issuer = `http://127.0.0.1:${actualPort}`;

// A fresh signing key per run (otherwise oidc-provider uses a fixed, public development key).
// RS256 because it is the default id_token_signed_response_alg of clients.
function newSigningKey(kid) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

// Files in the state directory are written whole and renamed into place, mode 0600.
function writeState(name, value) {
  const file = path.join(stateDir, name);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(value), { mode: 0o600 });
  fs.renameSync(temporary, file);
}

function readState(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, name), 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
}

let jwks;
let cookieKeys;
if (stateDir) {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  jwks = readState('jwks.json') ?? { keys: [newSigningKey('interop')] };
  if (rotateSigningKey) {
    // The new key signs from now on (oidc-provider signs with the first key that fits); the
    // previous ones stay published after it, for the ID tokens they signed.
    jwks = { keys: [newSigningKey(`interop-${crypto.randomUUID()}`), ...jwks.keys] };
  }
  writeState('jwks.json', jwks);
  cookieKeys = readState('cookie-keys.json') ?? [crypto.randomBytes(32).toString('base64url')];
  writeState('cookie-keys.json', cookieKeys);
} else {
  jwks = { keys: [newSigningKey('interop')] };
  cookieKeys = [crypto.randomBytes(32).toString('base64url')];
}

// What oidc-provider keeps (grants, device codes, tokens, sessions, interactions), in one JSON
// file: oidc-provider's adapter interface, enough for one process. Every change is written
// before it is acknowledged, so a restart finds it; expired entries are never answered.
const GRANT_MEMBERS = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest',
]);
let stored = stateDir ? readState('state.json') ?? {} : {};

class FileAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  static save() {
    writeState('state.json', stored);
  }

  static live(entry) {
    return entry !== undefined && (entry.expiresAt === null || entry.expiresAt > Date.now());
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null;
    stored[this.key(id)] = { payload, expiresAt };
    FileAdapter.save();
  }

  async find(id) {
    const entry = stored[this.key(id)];
    return FileAdapter.live(entry) ? structuredClone(entry.payload) : undefined;
  }

  findBy(field, value) {
    const prefix = `${this.model}:`;
    const found = Object.entries(stored).find(([key, entry]) => key.startsWith(prefix)
      && FileAdapter.live(entry) && entry.payload[field] === value);
    return found ? structuredClone(found[1].payload) : undefined;
  }

  async findByUserCode(userCode) {
    return this.findBy('userCode', userCode);
  }

  async findByUid(uid) {
    return this.findBy('uid', uid);
  }

  async consume(id) {
    const entry = stored[this.key(id)];
    if (entry) {
      entry.payload.consumed = Math.floor(Date.now() / 1000);
      FileAdapter.save();
    }
  }

  async destroy(id) {
    delete stored[this.key(id)];
    FileAdapter.save();
  }

  async revokeByGrantId(grantId) {
    stored = Object.fromEntries(Object.entries(stored).filter(([key, entry]) => !(
      GRANT_MEMBERS.has(key.slice(0, key.indexOf(':'))) && entry.payload.grantId === grantId)));
    FileAdapter.save();
  }
}

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
  jwks,
  cookies: { keys: cookieKeys },
  ...(stateDir ? { adapter: FileAdapter } : {}),
  scopes: ['openid', 'offline_access', 'profile'],
  claims: { openid: ['sub'], profile: ['name'] },
  features: {
    deviceFlow: { enabled: true },
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    introspection: { enabled: true },
    // A proof with a token request binds the tokens to the proof's key (token_type DPoP; for a
    // public client the refresh token too); a bound access token is accepted only as
    // "Authorization: DPoP" with a proof of that key. Without OIDC_DPOP_NONCES, proofs need no
    // nonce (their iat must be recent) and the server sends none.
    dPoP: {
      enabled: true,
      ...(dpopNonces ? { nonceSecret: crypto.randomBytes(32), requireNonce: () => true } : {}),
    },
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
  // The development login page accepts any user name (and any password): the account ID, and
  // so the `sub`, is the name typed in; the account's `name` (profile scope) is that name with
  // a capital ("ada" is "Ada"), so that the two can be told apart.
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: sub.charAt(0).toUpperCase() + sub.slice(1) };
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

if (stateDir) {
  const accessLog = path.join(stateDir, 'access.log');
  server.on('request', (req) => {
    fs.appendFileSync(accessLog, `${req.method} ${req.url.split('?', 1)[0]}\n`, { mode: 0o600 });
  });
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
