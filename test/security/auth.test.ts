import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { isTransportAllowed } from '../../src/ingress/auth.js';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { TestIdp } from '../support/oidc.js';
import { occupyPort } from '../support/ports.js';

const REALM = 'test';
const CLIENT = 'async-engine';
const API_ROLE = { realm_access: { roles: ['async-engine'] } };

function authDocument(suite: ReturnType<typeof engineSuite>, idp: { authServerUrl: string }, openid: Record<string, unknown> = {}, server: Record<string, unknown> = {}): Record<string, unknown> {
  return flowDocument(suite.azurite, {
    steps: [{ url: 'http://127.0.0.1:9/x' }],
    extra: {
      'server.config': { auth: 'oidc', ...server },
      'openid.config': { realm: REALM, 'auth-server-url': idp.authServerUrl, resource: CLIENT, ...openid },
      'rbac.config': { apiMappings: [{ url: '/api', roles: ['async-engine'] }], applicationMappings: [{ url: '/actuator', roles: ['ops'] }] },
    },
  });
}

async function submitWith(e: TestEngine, token: string | null, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${e.url}/api/flows/flow`, { method: 'POST', body: '{}', headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
}

describe('bearer authentication and RBAC', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  let e: TestEngine;
  before(async () => {
    idp = await TestIdp.start({ realm: REALM, clientId: CLIENT, clientSecret: 's3cret', users: {} });
  });
  after(() => idp.close());
  before(async () => {
    e = await suite.engine(authDocument(suite, idp));
    await e.runtime.engine.close(); // nothing needs processing here
  });

  it('accepts a good token with the role: 202', async () => {
    const response = await submitWith(e, await idp.sign(API_ROLE));
    assert.equal(response.status, 202, await response.text());
  });

  it('answers 401 with WWW-Authenticate: Bearer and no detail to learn from when the token is missing', async () => {
    const response = await submitWith(e, null);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${REALM}"`);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
  });

  const bad: Array<[string, () => Promise<string>]> = [
    ['alg none', async () => new UnsecuredJWT({ ...API_ROLE, iss: idp.issuer, aud: CLIENT, sub: 'x' }).setExpirationTime('5m').encode()],
    [
      'HS256 signed with the public key',
      async () =>
        new SignJWT({ ...API_ROLE, iss: idp.issuer, aud: CLIENT, sub: 'x' })
          .setProtectedHeader({ alg: 'HS256', kid: idp.publicJwk.kid! })
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(JSON.stringify(idp.publicJwk))),
    ],
    ['a wrong issuer', async () => idp.sign({ ...API_ROLE, iss: 'http://127.0.0.1:1/auth/realms/test' })],
    ['a wrong audience', async () => idp.sign({ ...API_ROLE, aud: 'another-client' })],
    ['an expired token', async () => idp.sign({ ...API_ROLE, exp: Math.floor(Date.now() / 1000) - 120 })],
    ['nbf in the future', async () => idp.sign({ ...API_ROLE, nbf: Math.floor(Date.now() / 1000) + 600 })],
    ['an unknown kid', async () => idp.sign(API_ROLE, { kid: 'no-such-key', key: (await generateKeyPair('RS256')).privateKey })],
    [
      'a tampered payload',
      async () => {
        const [header, , signature] = (await idp.sign({ realm_access: { roles: [] } })).split('.');
        const payload = Buffer.from(JSON.stringify({ ...API_ROLE, iss: idp.issuer, aud: CLIENT, sub: 'x', exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
    ],
    ['a signature by another key under the right kid', async () => idp.sign(API_ROLE, { key: (await generateKeyPair('RS256')).privateKey })],
    ['garbage', async () => 'not.a.jwt'],
    ['an ID token (typ ID), signed by the provider', async () => idp.sign({ ...API_ROLE, typ: 'ID' })],
    ['a refresh token (typ Refresh), signed by the provider', async () => idp.sign({ ...API_ROLE, typ: 'Refresh' })],
    ['a logout token (typ Logout)', async () => idp.sign({ ...API_ROLE, typ: 'Logout' })],
    ['a token whose header says it is no JWT access token', async () => idp.sign(API_ROLE, { typ: 'logout+jwt' })],
  ];
  for (const [what, token] of bad) {
    it(`refuses ${what} with 401 invalid_token, saying nothing of why`, async () => {
      const response = await submitWith(e, await token());
      assert.equal(response.status, 401);
      assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${REALM}", error="invalid_token", error_description="the access token is invalid or expired"`);
      assert.equal(((await response.json()) as { detail: string }).detail, 'the access token is invalid or expired');
    });
  }

  it('accepts access tokens as Keycloak and RFC 9068 mark them', async () => {
    assert.equal((await submitWith(e, await idp.sign({ ...API_ROLE, typ: 'Bearer' }))).status, 202, 'Keycloak: typ Bearer');
    assert.equal((await submitWith(e, await idp.sign(API_ROLE, { typ: 'at+jwt' }))).status, 202, 'RFC 9068: header typ at+jwt');
    assert.equal((await submitWith(e, await idp.sign(API_ROLE, { typ: 'application/at+jwt' }))).status, 202, 'its media type form');
  });

  it('accepts a token whose azp, not aud, is the client', async () => {
    assert.equal((await submitWith(e, await idp.sign({ ...API_ROLE, aud: 'account', azp: CLIENT }))).status, 202);
  });

  it('answers 403 problem+json for a valid token without the role', async () => {
    const response = await submitWith(e, await idp.sign({ realm_access: { roles: ['someone-else'] } }));
    assert.equal(response.status, 403);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
  });

  it('answers 403 for a resource role while use-resource-role-mappings is false', async () => {
    const response = await submitWith(e, await idp.sign({ resource_access: { [CLIENT]: { roles: ['async-engine'] } } }));
    assert.equal(response.status, 403);
  });

  it('protects /actuator and /openapi.json too: the longest prefix decides, and unmapped URLs need a token only', async () => {
    const ops = await idp.sign({ realm_access: { roles: ['ops'] } });
    const api = await idp.sign(API_ROLE);
    assert.equal((await fetch(`${e.url}/actuator/info`)).status, 401);
    assert.equal((await fetch(`${e.url}/actuator/info`, { headers: { authorization: `Bearer ${api}` } })).status, 403);
    assert.equal((await fetch(`${e.url}/actuator/info`, { headers: { authorization: `Bearer ${ops}` } })).status, 200);
    assert.equal((await fetch(`${e.url}/openapi.json`)).status, 401);
    assert.equal((await fetch(`${e.url}/openapi.json`, { headers: { authorization: `Bearer ${ops}` } })).status, 200, 'no mapping covers it: any valid token');
  });

  it('takes roles from resource_access when use-resource-role-mappings is true', async () => {
    const resourceRoles = await suite.engine(authDocument(suite, idp, { 'use-resource-role-mappings': true }));
    assert.equal((await submitWith(resourceRoles, await idp.sign({ resource_access: { [CLIENT]: { roles: ['async-engine'] } } }))).status, 202);
    assert.equal((await submitWith(resourceRoles, await idp.sign(API_ROLE))).status, 403, 'realm roles no longer count');
  });

  it('picks up a key rotation at the provider without a restart', async () => {
    // The engine fetches the keys again for an unknown kid at most once per cool-down (5 s in use).
    const rotating = await suite.engine(authDocument(suite, idp), { jwksCooldownInMs: 100 });
    await rotating.runtime.engine.close();
    assert.equal((await submitWith(rotating, await idp.sign(API_ROLE))).status, 202);
    await idp.rotate();
    await eventually(async () => assert.equal((await submitWith(rotating, await idp.sign(API_ROLE))).status, 202, 'a token under the new key'), { timeoutInMs: 10_000 });
  });
});

describe('ssl-required', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  before(async () => {
    idp = await TestIdp.start({ realm: REALM, clientId: CLIENT, clientSecret: 's3cret', users: {} });
  });
  after(() => idp.close());

  it('decides the transport by protocol, client address and mode', () => {
    // "all" needs an https provider too (a config check), so it is tested here rather than against the plain-HTTP test provider.
    for (const [protocol, ip, mode, expected] of [
      ['http', '127.0.0.1', 'all', false],
      ['https', '127.0.0.1', 'all', true],
      ['http', '203.0.113.7', 'external', false],
      ['http', '::ffff:10.1.2.3', 'external', true],
      ['http', '::1', 'external', true],
      ['https', '203.0.113.7', 'external', true],
      ['http', '203.0.113.7', 'none', true],
    ] as const) {
      assert.equal(isTransportAllowed(protocol, ip, mode), expected, `${protocol} from ${ip} under ${mode}`);
    }
  });

  it('"external" refuses plain HTTP from a public client, and "none" requires nothing', async () => {
    const token = await idp.sign(API_ROLE);
    const external = await suite.engine(authDocument(suite, idp, {}, { trustProxy: true }));
    assert.equal((await submitWith(external, token, { 'x-forwarded-for': '203.0.113.7' })).status, 403);
    assert.equal((await submitWith(external, token, { 'x-forwarded-for': '10.1.2.3' })).status, 202);
    const none = await suite.engine(authDocument(suite, idp, { 'ssl-required': 'none' }, { trustProxy: true }));
    assert.equal((await submitWith(none, token, { 'x-forwarded-for': '203.0.113.7' })).status, 202);
  });

  it('"external" is not passed by a client that writes a private X-Forwarded-For through one proxy', async () => {
    const token = await idp.sign(API_ROLE);
    // The proxy appends the address it saw; the client wrote the entry on the left.
    const spoofed = { 'x-forwarded-for': '10.0.0.1, 203.0.113.7', 'x-forwarded-proto': 'http' };
    const nearestHop = await suite.engine(authDocument(suite, idp, {}, { trustProxy: true }));
    assert.equal((await submitWith(nearestHop, token, spoofed)).status, 403);
    const listed = await suite.engine(authDocument(suite, idp, {}, { trustProxy: true, trustedProxies: ['127.0.0.0/8'] }));
    assert.equal((await submitWith(listed, token, spoofed)).status, 403);
    assert.equal((await submitWith(listed, token, { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' })).status, 202, 'https at the proxy');
    // A peer that is not a listed proxy: its headers count for nothing, its own (loopback) address does.
    const elsewhere = await suite.engine(authDocument(suite, idp, {}, { trustProxy: true, trustedProxies: ['10.9.9.9'] }));
    assert.equal((await submitWith(elsewhere, token, { 'x-forwarded-for': '203.0.113.7' })).status, 202);
  });
});

describe('an unreachable OpenID provider', () => {
  const suite = engineSuite();

  it('does not stop the engine from starting: requests get 503 and health says why, until the provider answers', async () => {
    const { port, release } = await occupyPort();
    release(); // nothing listens there now
    const e = await suite.engine(authDocument(suite, { authServerUrl: `http://127.0.0.1:${port}/auth` }));
    const early = await submitWith(e, 'a.b.c');
    assert.equal(early.status, 503);
    assert.ok(Number(early.headers.get('retry-after')) > 0);

    const idp = await TestIdp.start({ realm: REALM, clientId: CLIENT, clientSecret: 's3cret', users: {}, port });
    suite.onClose(() => idp.close());
    const token = await idp.sign({ realm_access: { roles: ['async-engine', 'ops'] } });
    await eventually(async () => assert.equal((await submitWith(e, token)).status, 202), { timeoutInMs: 60_000, intervalInMs: 500 });
    const health = await fetch(`${e.url}/actuator/health`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await health.json()) as { components: Record<string, { status: string }> };
    assert.equal(body.components['auth']?.status, 'UP');
  });
});
