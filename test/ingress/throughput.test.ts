import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { engineSuite, flowDocument, submit, waitForStatus, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { TestIdp } from '../support/oidc.js';

interface ThroughputJson {
  flow: string;
  role: string;
  bucketSeconds: number;
  buckets: Array<{ start: string; completed: number; deadLettered: number }>;
  lastMinute: { completed: number; deadLettered: number };
  steps: Array<{ step: number; completed: number; failed: number }>;
}

async function throughputOf(e: TestEngine, flow: string, headers: Record<string, string> = {}): Promise<ThroughputJson> {
  const response = await fetch(`${e.url}/api/flows/${flow}/throughput`, { headers });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as ThroughputJson;
}

describe('GET /api/flows/{flowName}/throughput', () => {
  const suite = engineSuite();
  let e: TestEngine;
  let document: Record<string, unknown>;

  before(async () => {
    // Step 1 refuses bodies that say "fail" with a 400, which is dead-lettered at once.
    const first = await suite.endpoint();
    const second = await suite.endpoint((call) => (call.body.toString().includes('fail') ? { status: 400, body: 'no' } : { body: call.body }));
    document = flowDocument(suite.azurite, {
      steps: [{ url: first.url() }, { url: second.url() }],
      extra: { 'redelivery.config': { default: { count: 0, delay: 0 } } },
    });
    e = await suite.engine(document);
  });

  it('counts what this process completed and dead-lettered, per flow and per step', async () => {
    const done = await submit(e, 'flow', '{"ok":true}');
    const failed = await submit(e, 'flow', '{"fail":true}');
    await waitForStatus(e, done, 'completed');
    await waitForStatus(e, failed, 'dead-lettered');
    // The status row is written first; the step counts once it has settled the message.
    const answer = await eventually(
      async () => {
        const series = await throughputOf(e, 'flow');
        assert.deepEqual(series.lastMinute, { completed: 1, deadLettered: 1 });
        return series;
      },
      { timeoutInMs: 10_000 },
    );
    assert.equal(answer.flow, 'flow');
    assert.equal(answer.role, 'all');
    assert.equal(answer.bucketSeconds, 10);
    assert.equal(answer.buckets.length, 90);
    assert.ok(answer.buckets.every((b, i) => i === 0 || Date.parse(b.start) - Date.parse(answer.buckets[i - 1]!.start) === 10_000));
    assert.deepEqual(
      answer.buckets.reduce((sum, b) => ({ completed: sum.completed + b.completed, deadLettered: sum.deadLettered + b.deadLettered }), { completed: 0, deadLettered: 0 }),
      { completed: 1, deadLettered: 1 },
    );
    assert.deepEqual(answer.lastMinute, { completed: 1, deadLettered: 1 });
    assert.deepEqual(answer.steps, [
      { step: 0, completed: 2, failed: 0 },
      { step: 1, completed: 1, failed: 1 },
    ]);
  });

  it('answers 404 problem+json for a flow that is not configured', async () => {
    const response = await fetch(`${e.url}/api/flows/nope/throughput`);
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
    assert.equal(((await response.json()) as { type: string }).type, 'urn:async-engine:problem:unknown-flow');
  });

  it("is each process's own: an ingress runs no steps, counts nothing and says it is an ingress", async () => {
    const ingress = await suite.engine(document, {}, 'ingress');
    const id = await submit(ingress, 'flow', '{"via":"ingress"}');
    await waitForStatus(ingress, id, 'completed');
    const own = await throughputOf(ingress, 'flow');
    assert.equal(own.role, 'ingress');
    assert.deepEqual(own.lastMinute, { completed: 0, deadLettered: 0 });
    await eventually(async () => assert.equal((await throughputOf(e, 'flow')).lastMinute.completed, 2), { timeoutInMs: 10_000 });
  });
});

describe('GET /api/flows/{flowName}/throughput under oidc', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  let e: TestEngine;
  before(async () => {
    idp = await TestIdp.start({ realm: 'throughput', clientId: 'async-engine', clientSecret: 's3cret', users: {} });
    e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: 'http://127.0.0.1:9/x' }],
        extra: {
          'server.config': { auth: 'oidc' },
          'openid.config': { realm: 'throughput', 'auth-server-url': idp.authServerUrl, resource: 'async-engine' },
          'rbac.config': { apiMappings: [{ url: '/api/flows', roles: ['flows'] }] },
        },
      }),
    );
    await e.runtime.engine.close();
  });
  after(() => idp.close());

  it('needs a token, and the role rbac.config gives /api/flows', async () => {
    const url = `${e.url}/api/flows/flow/throughput`;
    assert.equal((await fetch(url)).status, 401);
    const other = await idp.sign({ realm_access: { roles: ['dlq'] } });
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${other}` } })).status, 403);
    const reader = await idp.sign({ realm_access: { roles: ['flows'] } });
    // The pollers are stopped: any storage call now would be the route's.
    const callsBefore = e.storageCalls.total();
    assert.equal((await throughputOf(e, 'flow', { authorization: `Bearer ${reader}` })).flow, 'flow');
    assert.equal(e.storageCalls.total() - callsBefore, 0, 'the series costs no storage call');
  });
});
