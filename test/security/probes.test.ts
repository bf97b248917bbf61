/**
 * Liveness and readiness probes need no token under oidc, say only UP or DOWN, and open no other
 * route: /actuator/health with its details stays behind authentication.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAzurite } from '../support/azurite.js';
import { configOf, engineSuite, flowDocument, startEngine, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { TestIdp } from '../support/oidc.js';

const REALM = 'probes';
const CLIENT = 'async-engine';

describe('probes under auth "oidc"', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  before(async () => {
    idp = await TestIdp.start({ realm: REALM, clientId: CLIENT, clientSecret: 's3cret', users: {} });
  });
  after(() => idp.close());

  const oidcDocument = (azurite: Parameters<typeof flowDocument>[0]): Record<string, unknown> =>
    flowDocument(azurite, {
      steps: [{ url: 'http://127.0.0.1:9/x' }],
      extra: {
        'server.config': { auth: 'oidc' },
        'openid.config': { realm: REALM, 'auth-server-url': idp.authServerUrl, resource: CLIENT },
        'rbac.config': { applicationMappings: [{ url: '/actuator', roles: ['ops'] }] },
      },
    });

  it('answer without a token, with nothing but their status', async () => {
    const e = await suite.engine(oidcDocument(suite.azurite), { healthCacheInMs: 50 });
    for (const probe of ['liveness', 'readiness']) {
      const answer = await eventually(
        async () => {
          const response = await fetch(`${e.url}/actuator/health/${probe}`);
          assert.equal(response.status, 200, `${probe}: ${await response.clone().text()}`);
          return response;
        },
        { timeoutInMs: 10_000 },
      );
      assert.deepEqual(await answer.json(), { status: 'UP' });
    }
  });

  it('open nothing else: health with its details, info and near paths still need a token', async () => {
    const e = await suite.engine(oidcDocument(suite.azurite));
    for (const path of ['/actuator/health', '/actuator/info', '/actuator/prometheus', '/actuator/health/livenessx', '/actuator/health/liveness/../../info']) {
      const response = await fetch(`${e.url}${path}`);
      assert.equal(response.status, 401, path);
    }
    assert.equal((await fetch(`${e.url}/ACTUATOR/HEALTH/LIVENESS`)).status, 401, 'letter case opens nothing');
  });

  it('say DOWN: liveness once the engine stops polling, readiness once storage is gone', async () => {
    const own = await startAzurite();
    let e: TestEngine | undefined;
    try {
      e = await startEngine(configOf(oidcDocument(own)), { healthCacheInMs: 50 });
      const engine = e;
      await eventually(async () => assert.equal((await fetch(`${engine.url}/actuator/health/readiness`)).status, 200), { timeoutInMs: 10_000 });
      await own.close();
      const down = await eventually(
        async () => {
          const response = await fetch(`${engine.url}/actuator/health/readiness`);
          assert.equal(response.status, 503);
          return response;
        },
        { timeoutInMs: 20_000 },
      );
      assert.deepEqual(await down.json(), { status: 'DOWN' });
      assert.equal((await fetch(`${engine.url}/actuator/health/liveness`)).status, 200, 'storage down is no reason to restart');
      await engine.runtime.engine.close();
      const dead = await fetch(`${engine.url}/actuator/health/liveness`);
      assert.equal(dead.status, 503);
      assert.deepEqual(await dead.json(), { status: 'DOWN' });
    } finally {
      await e?.close();
      await own.close();
    }
  });
});
