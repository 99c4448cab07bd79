// A real, independent OpenID Connect client for loctocat's interop tests: panva's
// `openid-client` 6 (see package.json for the pinned version) runs the device authorization
// grant (RFC 8628) against an issuer on plain http, such as loctocat's fake authorization server
// on 127.0.0.1, and validates the ID tokens it receives the way an application would.
//
// Usage: node tests/interop/openid_client_device.mjs ISSUER CLIENT_ID [SCOPE]
//        (SCOPE defaults to "openid profile email")
//
// It discovers the issuer's metadata, requests a device code, then prints exactly one line of
// JSON to stdout and waits for someone to approve the code:
//   {"user_code": "...", "verification_uri": "..."}
// It polls until the token comes, validates the ID token (signature against the issuer's JWKS,
// `alg`, `iss`, `aud`, `azp`, `exp`, required claims), refreshes once (if it got a refresh token)
// and validates that ID token too, then prints one more line and exits 0:
//   {"claims": {...}, "refreshed_claims": {...} or null}
// On any error, including an ID token it refuses, it prints one line to stderr,
//   openid_client_device: <error name> [<code>]: <message>: <the message of its cause>...
// and exits 1. Usage errors exit 2.

import process from 'node:process';

import * as client from 'openid-client';

const [issuerArg, clientId, scope = 'openid profile email'] = process.argv.slice(2);
if (!issuerArg || !clientId) {
  console.error('usage: node openid_client_device.mjs ISSUER CLIENT_ID [SCOPE]');
  process.exit(2);
}

function print(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

try {
  // Plain http is only for loopback test servers: openid-client refuses it unless told.
  const config = await client.discovery(new URL(issuerArg), clientId, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
    timeout: 10,
  });
  // By default openid-client trusts the TLS connection to the token endpoint for the ID
  // token's origin (OpenID Connect Core §3.1.3.7) and checks its claims only; this makes it
  // verify the signature against the issuer's JWKS as well.
  client.enableNonRepudiationChecks(config);

  const device = await client.initiateDeviceAuthorization(config, { scope });
  print({ user_code: device.user_code, verification_uri: device.verification_uri });

  const tokens = await client.pollDeviceAuthorizationGrant(config, device);
  const claims = tokens.claims();
  if (claims === undefined) {
    throw new Error('the token response has no ID token');
  }
  let refreshedClaims = null;
  if (tokens.refresh_token) {
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    refreshedClaims = refreshed.claims() ?? null;
  }
  print({ claims, refreshed_claims: refreshedClaims });
  process.exit(0);
} catch (error) {
  console.error(`openid_client_device: ${describe(error)}`);
  process.exit(1);
}

// openid-client wraps the precise complaint of its protocol layer (oauth4webapi) in a general
// one: name the error, its code, and every message down the chain of causes.
function describe(error) {
  const code = error?.code ? ` [${error.code}]` : '';
  const messages = [];
  for (let cause = error; cause instanceof Error && messages.length < 5; cause = cause.cause) {
    if (cause.message !== messages.at(-1)) messages.push(cause.message);
  }
  return `${error?.name ?? 'Error'}${code}: ${messages.length ? messages.join(': ') : error}`;
}
