import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DlqTable } from '../../src/storage/dlq-table.js';
import { callbackQueueName } from '../../src/config/callback-queue.js';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, getStatus, submit, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

/** Later than any margin the sweep allows (longest visibility timeout + 1 minute). */
const LATER_IN_MS = 10 * 60_000;

async function stoppedEngine(suite: ReturnType<typeof engineSuite>, timeToLive: number): Promise<TestEngine> {
  const server = await suite.endpoint(echo);
  const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: server.url() }], queue: { timeToLive, visibilityTimeout: 1 } }));
  await e.runtime.engine.close(); // no poller: messages wait in the queue until they expire
  return e;
}

describe('the expiry sweep', () => {
  const suite = engineSuite();

  it('records a request whose message expired unprocessed as dead-lettered, reason expired, once even when two sweeps race', async () => {
    const e = await stoppedEngine(suite, 0.001); // 3.6 s
    const id = await submit(e, 'flow', '{}');
    // The sweep judges by the clock it is given: ten minutes on, the message is long expired.
    const later = new Date(Date.now() + LATER_IN_MS);

    const [a, b] = await Promise.all([e.runtime.engine.sweepExpired(later), e.runtime.engine.sweepExpired(later)]);
    assert.equal(a + b, 1, 'one sweep recorded it');

    const status = await getStatus(e, id);
    assert.equal(status['status'], 'dead-lettered');
    assert.match(String(status['error']), /expired in queue .* before it was processed/);
    const { items } = await new DlqTable(e.runtime.storage.clients.dlqTable).list('flow', 10, null, AbortSignal.timeout(10_000));
    assert.equal(items.length, 1);
    assert.equal(items[0]!.reason, 'expired');
    assert.equal(items[0]!.requestId, id);

    const replay = await fetch(`${e.url}/api/dlq/${items[0]!.dlqId}/replay`, { method: 'POST' });
    assert.equal(replay.status, 409, 'its input expired with the message');
    assert.equal(await e.runtime.engine.sweepExpired(later), 0, 'a dead-lettered request is not swept again');
  });

  it('leaves recent requests and queues whose messages never expire alone', async () => {
    const recent = await stoppedEngine(suite, 1);
    const recentId = await submit(recent, 'flow', '{}');
    assert.equal(await recent.runtime.engine.sweepExpired(new Date()), 0);
    assert.equal((await getStatus(recent, recentId))['status'], 'queued');

    const forever = await stoppedEngine(suite, -1);
    const foreverId = await submit(forever, 'flow', '{}');
    assert.equal(await forever.runtime.engine.sweepExpired(new Date(Date.now() + 365 * 24 * 3600_000)), 0);
    assert.equal((await getStatus(forever, foreverId))['status'], 'queued');
  });

  it("queues an expired request's callback hidden before its status write, and an engine delivers it once visible", async () => {
    const server = await suite.endpoint(echo);
    const receiver = await suite.endpoint(echo);
    const document = flowDocument(suite.azurite, {
      steps: [{ url: server.url() }],
      queue: { timeToLive: 0.001, visibilityTimeout: 1 },
      extra: { 'callback.config': { allowedHosts: ['127.0.0.1'] } },
    });
    const sweeping = await suite.engine(document);
    await sweeping.runtime.engine.close();
    const id = await submit(sweeping, 'flow', '{}', { 'x-callback-url': receiver.url('/hook') });
    assert.equal(await sweeping.runtime.engine.sweepExpired(new Date(Date.now() + LATER_IN_MS)), 1);

    // Sent hidden: none of it is visible yet, and nothing was posted.
    const { clients } = sweeping.runtime.storage;
    const callbacks = clients.queues.getQueueClient(callbackQueueName(clients.statusTable.tableName));
    assert.equal((await callbacks.getProperties()).approximateMessagesCount, 1);
    assert.equal((await callbacks.peekMessages()).peekedMessageItems.length, 0);
    assert.equal(receiver.calls.length, 0);

    // Any engine delivers it once it shows (about 30 s later), with the outcome the sweep wrote.
    const delivering = await suite.engine(document);
    await eventually(async () => assert.deepEqual((await getStatus(delivering, id))['callback'], { url: receiver.url('/hook'), status: 'delivered' }), {
      timeoutInMs: 120_000,
    });
    assert.equal(receiver.calls.length, 1);
    assert.equal((JSON.parse(receiver.calls[0]!.body.toString()) as Record<string, unknown>)['status'], 'dead-lettered');
  });
});
