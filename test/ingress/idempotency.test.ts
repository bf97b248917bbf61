import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';

async function post(e: TestEngine, flow: string, body: string, key: string): Promise<{ status: number; id: string | undefined; isReplayed: boolean }> {
  const response = await fetch(`${e.url}/api/flows/${flow}`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'idempotency-key': key } });
  const json = (await response.json()) as { id?: string };
  return { status: response.status, id: json.id, isReplayed: response.headers.get('idempotent-replayed') === 'true' };
}

async function requestsOf(e: TestEngine, flow: string): Promise<string[]> {
  const listing = (await (await fetch(`${e.url}/api/requests?flow=${flow}`)).json()) as { items: Array<{ id: string }> };
  return listing.items.map((i) => i.id);
}

describe('Idempotency-Key', () => {
  const suite = engineSuite();
  /** Two flows on one engine whose pollers are stopped: every accepted request stays to be counted. */
  async function engine(): Promise<TestEngine> {
    const doc = flowDocument(suite.azurite, { flowName: 'one', steps: [{ url: 'http://127.0.0.1:9/x' }] });
    const [first] = doc['flow.config'] as Array<Record<string, unknown>>;
    doc['flow.config'] = [first, { ...first, flowName: 'two', queueMappings: [{ ...(first!['queueMappings'] as object[])[0], sourceQueueName: `${(doc['queue.config'] as Array<{ name: string }>)[0]!.name}-2` }] }];
    doc['queue.config'] = [...(doc['queue.config'] as object[]), { name: `${(doc['queue.config'] as Array<{ name: string }>)[0]!.name}-2` }];
    const e = await suite.engine(doc);
    await e.runtime.engine.close();
    return e;
  }

  it('answers the same key and flow again with 202, the same id and Idempotent-Replayed, creating nothing new', async () => {
    const e = await engine();
    const first = await post(e, 'one', '{"a":1}', 'order-42');
    assert.deepEqual([first.status, first.isReplayed], [202, false]);
    const again = await post(e, 'one', '{"a":1}', 'order-42');
    assert.deepEqual([again.status, again.id, again.isReplayed], [202, first.id, true]);
    assert.deepEqual(await requestsOf(e, 'one'), [first.id]);
  });

  it('answers the same key with a different body with 422', async () => {
    const e = await engine();
    await post(e, 'one', '{"a":1}', 'order-43');
    const response = await fetch(`${e.url}/api/flows/one`, { method: 'POST', body: '{"a":2}', headers: { 'idempotency-key': 'order-43' } });
    assert.equal(response.status, 422);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
    assert.equal((await requestsOf(e, 'one')).length, 1);
  });

  it('treats the same key on another flow as another request', async () => {
    const e = await engine();
    const one = await post(e, 'one', '{}', 'shared-key');
    const two = await post(e, 'two', '{}', 'shared-key');
    assert.equal(two.status, 202);
    assert.equal(two.isReplayed, false);
    assert.notEqual(two.id, one.id);
  });

  it('creates one request from ten concurrent submissions with one key', async () => {
    const e = await engine();
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(e, 'one', '{"race":true}', 'race-key')));
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([202]));
    assert.equal(new Set(answers.map((a) => a.id)).size, 1, 'one id for all');
    assert.equal(answers.filter((a) => !a.isReplayed).length, 1, 'one of them created it');
    assert.deepEqual(await requestsOf(e, 'one'), [answers[0]!.id]);
    const queued = await e.runtime.storage.clients.queues.getQueueClient([...e.runtime.flows.values()][0]!.steps[0]!.source.queue.name).peekMessages({ numberOfMessages: 32 });
    assert.equal(queued.peekedMessageItems.length, 1, 'one message');
  });

  it('refuses a key that is not 1 to 255 printable ASCII characters with 400', async () => {
    const e = await engine();
    for (const key of ['x'.repeat(256), 'caf\u00e9']) {
      const response = await fetch(`${e.url}/api/flows/one`, { method: 'POST', body: '{}', headers: { 'idempotency-key': key } });
      assert.equal(response.status, 400, JSON.stringify(key));
    }
    assert.deepEqual(await requestsOf(e, 'one'), []);
  });
});
