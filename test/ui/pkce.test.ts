/**
 * The sign-in the dashboard relies on, over plain HTTP: the test provider's authorization code
 * flow with PKCE refuses what a real provider refuses (a wrong verifier, a redirect URI other than
 * the one registered and used, a code twice, no PKCE at all), and the tokens it gives the public
 * client pass the engine's own checks (audience, roles), so the browser tests prove something.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';
import { s256, TestIdp } from '../support/oidc.js';

const UI_CLIENT = 'async-engine-ui';
const REDIRECT_URI = 'http://127.0.0.1:1/ui';
const USERS = { operator: 'operator-pw', viewer: 'viewer-pw' };

describe("the test provider's authorization code flow with PKCE, and the engine's view of its tokens", () => {
  const suite = engineSuite();
  let idp: TestIdp;
  let e: TestEngine;

  before(async () => {
    idp = await TestIdp.start({
      realm: 'pkce',
      clientId: 'async-engine',
      clientSecret: 's3cret',
      users: USERS,
      roles: { operator: ['operator'], viewer: ['viewer'] },
      publicClients: [{ clientId: UI_CLIENT, redirectUris: [REDIRECT_URI] }],
    });
    e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: 'http://127.0.0.1:9/x' }],
        extra: {
          'server.config': { auth: 'oidc' },
          'openid.config': { realm: 'pkce', 'auth-server-url': idp.authServerUrl, resource: 'async-engine' },
          'rbac.config': {
            apiMappings: [
              { url: '/api', roles: ['viewer', 'operator'] },
              { url: '/api/dlq', roles: ['operator'] },
            ],
          },
          'ui.config': { clientId: UI_CLIENT },
        },
      }),
    );
    await e.runtime.engine.close();
  });
  after(() => idp.close());

  const authorizeUrl = (params: Record<string, string>): string => `${idp.issuer}/protocol/openid-connect/auth?${new URLSearchParams(params)}`;
  const authorizeParams = (challenge: string, redirectUri = REDIRECT_URI): Record<string, string> => ({
    response_type: 'code',
    client_id: UI_CLIENT,
    redirect_uri: redirectUri,
    scope: 'openid',
    state: 'st-1',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });

  /** Signs `user` in through the login form; returns the code the provider redirected with. */
  async function codeFor(verifier: string, user: keyof typeof USERS = 'operator'): Promise<string> {
    const params = authorizeParams(s256(verifier));
    const form = await fetch(authorizeUrl(params));
    assert.equal(form.status, 200);
    assert.match(await form.text(), /<form method="post">/);
    const login = await fetch(`${idp.issuer}/protocol/openid-connect/auth`, {
      method: 'POST',
      body: new URLSearchParams({ ...params, username: user, password: USERS[user] }),
      redirect: 'manual',
    });
    assert.equal(login.status, 302);
    const location = new URL(login.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, REDIRECT_URI);
    assert.equal(location.searchParams.get('state'), 'st-1');
    return location.searchParams.get('code') ?? '';
  }

  async function exchange(fields: Record<string, string>): Promise<Response> {
    return fetch(`${idp.issuer}/protocol/openid-connect/token`, { method: 'POST', body: new URLSearchParams({ client_id: UI_CLIENT, ...fields }) });
  }

  const newVerifier = (): string => randomBytes(32).toString('base64url');

  it('never sends the user to a redirect URI the client has not registered, and requires PKCE', async () => {
    const wrongUri = await fetch(authorizeUrl(authorizeParams(s256(newVerifier()), 'http://127.0.0.1:1/elsewhere')), { redirect: 'manual' });
    assert.equal(wrongUri.status, 400);
    assert.equal(wrongUri.headers.get('location'), null);
    const { code_challenge: _, ...withoutPkce } = authorizeParams('');
    const noPkce = await fetch(authorizeUrl(withoutPkce), { redirect: 'manual' });
    assert.equal(noPkce.status, 302);
    assert.equal(new URL(noPkce.headers.get('location') ?? '').searchParams.get('error'), 'invalid_request');
    const plain = await fetch(authorizeUrl({ ...authorizeParams('x'.repeat(43)), code_challenge_method: 'plain' }), { redirect: 'manual' });
    assert.equal(new URL(plain.headers.get('location') ?? '').searchParams.get('error'), 'invalid_request');
  });

  it('shows the form again for a wrong password, with no code', async () => {
    const params = authorizeParams(s256(newVerifier()));
    const login = await fetch(`${idp.issuer}/protocol/openid-connect/auth`, { method: 'POST', body: new URLSearchParams({ ...params, username: 'operator', password: 'wrong' }), redirect: 'manual' });
    assert.equal(login.status, 200);
    assert.match(await login.text(), /Invalid username or password/);
  });

  it('refuses a code with a wrong verifier, a wrong redirect_uri, or a second time', async () => {
    const verifier = newVerifier();
    const wrongVerifier = await exchange({ grant_type: 'authorization_code', code: await codeFor(verifier), redirect_uri: REDIRECT_URI, code_verifier: newVerifier() });
    assert.equal(wrongVerifier.status, 400);
    assert.equal(((await wrongVerifier.json()) as { error: string }).error, 'invalid_grant');

    const wrongUri = await exchange({ grant_type: 'authorization_code', code: await codeFor(verifier), redirect_uri: 'http://127.0.0.1:1/elsewhere', code_verifier: verifier });
    assert.equal(wrongUri.status, 400);
    assert.equal(((await wrongUri.json()) as { error: string }).error, 'invalid_grant');

    const code = await codeFor(verifier);
    const first = await exchange({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
    assert.equal(first.status, 200);
    const again = await exchange({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
    assert.equal(again.status, 400);
  });

  it("gives tokens the engine accepts, with the API's audience and the user's roles, renewed with a refresh token used once", async () => {
    const verifier = newVerifier();
    const answer = await exchange({ grant_type: 'authorization_code', code: await codeFor(verifier, 'viewer'), redirect_uri: REDIRECT_URI, code_verifier: verifier });
    assert.equal(answer.status, 200);
    const tokens = (await answer.json()) as { access_token: string; refresh_token: string; expires_in: number };
    const claims = decodeJwt(tokens.access_token);
    assert.deepEqual(claims.aud, ['async-engine'], "the engine's resource, as Keycloak's audience mapper adds it");
    assert.equal(claims['azp'], UI_CLIENT);
    const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });
    assert.equal((await fetch(`${e.url}/api/flows`, bearer(tokens.access_token))).status, 200);
    assert.equal((await fetch(`${e.url}/api/dlq`, bearer(tokens.access_token))).status, 403, 'a viewer lacks the role of /api/dlq');

    const renewed = await exchange({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(renewed.status, 200);
    const next = (await renewed.json()) as { access_token: string; refresh_token: string };
    assert.notEqual(next.refresh_token, tokens.refresh_token);
    assert.equal((await fetch(`${e.url}/api/flows/flow/throughput`, bearer(next.access_token))).status, 200);
    assert.equal((await exchange({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).status, 400, 'a refresh token is used once');
  });
});
