import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { echo, type EndpointServer } from '../support/endpoints.js';
import { configOf, engineSuite, flowDocument, getStatus, submit, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

interface DlqJson {
  dlqId: string;
  requestId: string | null;
  flow: string;
  step: number;
  sourceQueue: string;
  endpoint: string;
  attempts: number;
  lastHttpStatus?: number;
  error: string;
  reason: string;
  deadLetteredAt: string;
}

const noRetries = { 'redelivery.config': { default: { count: 0, delay: 0 } } };

async function json<T>(response: Response, status: number): Promise<T> {
  assert.equal(response.status, status, await response.clone().text());
  return (await response.json()) as T;
}

describe('the DLQ routes', () => {
  const suite = engineSuite();

  /** An endpoint that fails until `heal()`, then echoes. */
  async function breakable(): Promise<{ server: EndpointServer; heal: () => void }> {
    let isHealed = false;
    const server = await suite.endpoint((call, i) => (isHealed ? echo(call, i) : { status: 503, body: 'down' }));
    return { server, heal: () => (isHealed = true) };
  }

  it('replays a request dead-lettered at its second step once the endpoint heals: attempts reset, entry removed', async () => {
    const first = await suite.endpoint(echo);
    const second = await breakable();
    const doc = flowDocument(suite.azurite, { steps: [{ url: first.url() }, { url: second.server.url() }], extra: noRetries });
    const e = await suite.engine(doc);
    const id = await submit(e, 'flow', '{"n":1}');
    await waitForStatus(e, id, 'dead-lettered');

    const { items } = await json<{ items: DlqJson[] }>(await fetch(`${e.url}/api/dlq?flow=flow`), 200);
    assert.equal(items.length, 1);
    const entry = items[0]!;
    assert.deepEqual(
      { requestId: entry.requestId, flow: entry.flow, step: entry.step, endpoint: entry.endpoint, attempts: entry.attempts, lastHttpStatus: entry.lastHttpStatus, reason: entry.reason },
      { requestId: id, flow: 'flow', step: 1, endpoint: second.server.url(), attempts: 1, lastHttpStatus: 503, reason: 'exhausted' },
    );
    assert.equal(entry.sourceQueue, configOf(doc).flows[0]!.steps[1]!.sourceQueueName);
    assert.match(entry.error, /HTTP 503: down/);
    const got = await fetch(`${e.url}/api/dlq/${entry.dlqId}`);
    assert.equal(got.headers.get('x-request-id'), id, 'an answer about a request names it');
    assert.deepEqual(await json(got, 200), entry);

    second.heal();
    const replay = await fetch(`${e.url}/api/dlq/${entry.dlqId}/replay`, { method: 'POST' });
    assert.deepEqual(await json(replay, 202), { id });
    assert.equal(replay.headers.get('x-request-id'), id);

    const done = await waitForStatus(e, id, 'completed');
    assert.equal(done['attempt'], 1, 'attempts were reset');
    assert.equal(first.calls.length, 1, 'the replay started at the failed step');
    assert.equal(second.server.calls.length, 2);
    assert.equal(await (await fetch(`${e.url}/api/requests/${id}/result`)).text(), '{"n":1}');
    assert.equal((await fetch(`${e.url}/api/dlq/${entry.dlqId}`)).status, 404, 'the entry was removed');
  });

  it('lists newest first, a page at a time, with an opaque cursor', async () => {
    const broken = await breakable();
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: broken.server.url() }], extra: noRetries }));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(await submit(e, 'flow', `{"i":${i}}`));
      await waitForStatus(e, ids[i]!, 'dead-lettered');
    }
    const first = await json<{ items: DlqJson[]; nextCursor: string | null }>(await fetch(`${e.url}/api/dlq?flow=flow&limit=2`), 200);
    assert.equal(first.items.length, 2);
    assert.ok(first.nextCursor);
    const second = await json<{ items: DlqJson[]; nextCursor: string | null }>(
      await fetch(`${e.url}/api/dlq?flow=flow&limit=2&cursor=${encodeURIComponent(first.nextCursor)}`),
      200,
    );
    assert.equal(second.items.length, 1);
    assert.equal(second.nextCursor, null);
    assert.deepEqual([...first.items, ...second.items].map((x) => x.requestId), [...ids].reverse(), 'newest first');
    const all = await json<{ items: DlqJson[] }>(await fetch(`${e.url}/api/dlq`), 200);
    assert.deepEqual(all.items.map((x) => x.requestId), [...ids].reverse(), 'without a flow, the flow\'s entries are listed too');
  });

  it('replays every entry of a flow in a background job', async () => {
    const broken = await breakable();
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: broken.server.url() }], extra: noRetries }));
    const ids = await Promise.all([0, 1, 2].map((i) => submit(e, 'flow', `{"i":${i}}`)));
    for (const id of ids) await waitForStatus(e, id, 'dead-lettered');
    broken.heal();
    const started = await fetch(`${e.url}/api/dlq/replay?flow=flow`, { method: 'POST' });
    const { jobId } = await json<{ jobId: string }>(started, 202);
    assert.equal(started.headers.get('location'), `/api/dlq/replays/${jobId}`);
    for (const id of ids) await waitForStatus(e, id, 'completed');
    await eventually(
      async () => assert.deepEqual(await json(await fetch(`${e.url}${started.headers.get('location')}`), 200), { jobId, flow: 'flow', replayed: 3, skipped: 0, failed: 0, done: true }),
      { timeoutInMs: 10_000 },
    );
    assert.deepEqual((await json<{ items: unknown[] }>(await fetch(`${e.url}/api/dlq?flow=flow`), 200)).items, []);
  });

  it('deletes an entry with 204, then answers 404, and removes its payload blobs', async () => {
    const broken = await breakable();
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: broken.server.url() }], extra: noRetries }));
    const id = await submit(e, 'flow', randomBytes(100 * 1024), { 'content-type': 'application/octet-stream' });
    await waitForStatus(e, id, 'dead-lettered');
    const [entry] = (await json<{ items: DlqJson[] }>(await fetch(`${e.url}/api/dlq?flow=flow`), 200)).items;
    const blobs = async (): Promise<number> => {
      let n = 0;
      for await (const _ of e.runtime.storage.clients.payloads.listBlobsFlat({ prefix: `${id}/` })) n++;
      return n;
    };
    assert.equal(await blobs(), 1, 'the dead-lettered input is kept for a replay');

    assert.equal((await fetch(`${e.url}/api/dlq/${entry!.dlqId}`, { method: 'DELETE' })).status, 204);
    assert.equal(await blobs(), 0);
    const again = await fetch(`${e.url}/api/dlq/${entry!.dlqId}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal(again.headers.get('content-type'), 'application/problem+json');
    assert.equal((await getStatus(e, id))['status'], 'dead-lettered', 'the request stays dead-lettered');
  });

  it('answers 400 and 404 problems for bad queries and unknown ids, and never passes a query into a table filter', async () => {
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    for (const [url, init, status] of [
      ['/api/dlq?limit=0', {}, 400],
      ['/api/dlq?limit=abc', {}, 400],
      ['/api/dlq?limit=1001', {}, 400],
      ["/api/dlq?flow=x'%20or%20'a'%20eq%20'a", {}, 404],
      ['/api/dlq/replay', { method: 'POST' }, 400],
      ['/api/dlq/replay?flow=nope', { method: 'POST' }, 404],
      ['/api/dlq/not-an-id', {}, 404],
      ['/api/dlq/flow~9999999999999-nothing', {}, 404],
      ['/api/dlq/not-an-id/replay', { method: 'POST' }, 404],
    ] as const) {
      const response = await fetch(`${e.url}${url}`, init);
      assert.equal(response.status, status, url);
      assert.equal(response.headers.get('content-type'), 'application/problem+json', url);
    }
  });

  it('replays an unreadable poison message as it was', async () => {
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    const queueName = [...e.runtime.flows.values()][0]!.steps[0]!.source.queue.name;
    await e.runtime.storage.clients.queues.getQueueClient(queueName).sendMessage('garbage');
    const entry = await eventually(
      async () => {
        const { items } = await json<{ items: DlqJson[] }>(await fetch(`${e.url}/api/dlq?flow=flow`), 200);
        assert.equal(items.length, 1);
        return items[0]!;
      },
      { timeoutInMs: 30_000 },
    );
    assert.deepEqual(await json(await fetch(`${e.url}/api/dlq/${entry.dlqId}/replay`, { method: 'POST' }), 202), { id: null });
    // Still garbage: it comes back to the DLQ as a new entry.
    await eventually(
      async () => {
        const { items } = await json<{ items: DlqJson[] }>(await fetch(`${e.url}/api/dlq?flow=flow`), 200);
        assert.equal(items.length, 1);
        assert.notEqual(items[0]!.dlqId, entry.dlqId);
      },
      { timeoutInMs: 30_000 },
    );
  });
});
