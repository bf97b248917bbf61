/**
 * Who did it, and who may see it: under oidc a request records the principal that submitted it,
 * an Idempotency-Key belongs to its principal, and with rbac.config.ownRequestsOnly a token reads
 * only its own principal's requests unless it holds an admin role.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';
import { TestIdp } from '../support/oidc.js';

const REALM = 'owners';
const CLIENT = 'async-engine';

describe('request owners', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  let e: TestEngine;
  const tokens: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };
  before(async () => {
    idp = await TestIdp.start({ realm: REALM, clientId: CLIENT, clientSecret: 's3cret', users: {} });
    e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: 'http://127.0.0.1:9/x' }],
        extra: {
          'server.config': { auth: 'oidc' },
          'openid.config': { realm: REALM, 'auth-server-url': idp.authServerUrl, resource: CLIENT, 'principal-attribute': 'preferred_username' },
          'rbac.config': { apiMappings: [{ url: '/api', roles: ['async-engine'] }], ownRequestsOnly: true, adminRoles: ['auditor'] },
        },
      }),
    );
    await e.runtime.engine.close(); // the requests stay queued, to be read
    const roles = (...names: string[]) => ({ realm_access: { roles: ['async-engine', ...names] } });
    tokens.alice = await idp.sign({ sub: 'id-alice', preferred_username: 'alice', ...roles() });
    tokens.bob = await idp.sign({ sub: 'id-bob', preferred_username: 'bob', ...roles() });
    tokens.carol = await idp.sign({ sub: 'id-carol', preferred_username: 'carol', ...roles('auditor') });
  });
  after(() => idp.close());

  const as = (who: keyof typeof tokens, path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${e.url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${tokens[who]}` } });
  const submitAs = async (who: keyof typeof tokens, headers: Record<string, string> = {}): Promise<{ id: string; replayed: boolean }> => {
    const response = await as(who, '/api/flows/flow', { method: 'POST', body: '{"n":1}', headers: { 'content-type': 'application/json', ...headers } });
    assert.equal(response.status, 202, await response.clone().text());
    return { id: ((await response.json()) as { id: string }).id, replayed: response.headers.get('idempotent-replayed') === 'true' };
  };
  const listedBy = async (who: keyof typeof tokens): Promise<string[]> =>
    ((await (await as(who, '/api/requests?flow=flow')).json()) as { items: Array<{ id: string }> }).items.map((i) => i.id);

  it('records the submitting principal and shows it as submittedBy', async () => {
    const { id } = await submitAs('alice');
    const status = (await (await as('alice', `/api/requests/${id}`)).json()) as Record<string, unknown>;
    assert.equal(status['submittedBy'], 'alice');
  });

  it('lets a token read only its own principal\'s requests, as if the others did not exist', async () => {
    const { id: alices } = await submitAs('alice');
    const { id: bobs } = await submitAs('bob');
    assert.equal((await as('alice', `/api/requests/${alices}`)).status, 200);
    for (const path of [`/api/requests/${alices}`, `/api/requests/${alices}/result`]) {
      const answer = await as('bob', path);
      assert.equal(answer.status, 404, path);
      assert.match(((await answer.json()) as { detail: string }).detail, /there is no request with id/);
    }
    const alicesList = await listedBy('alice');
    assert.ok(alicesList.includes(alices) && !alicesList.includes(bobs));
    const bobsList = await listedBy('bob');
    assert.ok(bobsList.includes(bobs) && !bobsList.includes(alices));
  });

  it('lets a token with an admin role read every request', async () => {
    const { id: alices } = await submitAs('alice');
    const { id: bobs } = await submitAs('bob');
    assert.equal((await as('carol', `/api/requests/${alices}`)).status, 200);
    const all = await listedBy('carol');
    assert.ok(all.includes(alices) && all.includes(bobs));
  });

  it('scopes an Idempotency-Key to its principal: the same key from another client is another request', async () => {
    const key = { 'idempotency-key': 'order-4711' };
    const first = await submitAs('alice', key);
    const again = await submitAs('alice', key);
    const bobs = await submitAs('bob', key);
    assert.equal(again.id, first.id);
    assert.equal(again.replayed, true);
    assert.notEqual(bobs.id, first.id, 'bob learns nothing of alice\'s request');
    assert.equal(bobs.replayed, false);
  });
});
