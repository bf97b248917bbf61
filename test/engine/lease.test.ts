import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { Lease } from '../../src/engine/lease.js';
import { createLogger } from '../../src/observability/log.js';
import { createStepQueue, type StepQueue } from '../../src/storage/queues.js';
import { clientsFor, startAzurite, uniqueQueueName, type TestAzurite } from '../support/azurite.js';
import { eventually } from '../support/eventually.js';

const log = createLogger({ level: 'silent' });

describe('Lease', () => {
  let azurite: TestAzurite;
  let queue: StepQueue;
  before(async () => {
    azurite = await startAzurite();
    const client = clientsFor(azurite).queues.getQueueClient(uniqueQueueName('lease'));
    await client.create();
    queue = createStepQueue(client);
  });
  after(() => azurite.close());

  async function receiveOne(visibilityTimeoutInMs: number): Promise<{ messageId: string; popReceipt: string }> {
    await queue.send('aGVsbG8=', { timeToLiveInMs: 600_000, abortSignal: AbortSignal.timeout(10_000) });
    const [message] = await queue.receive(1, { visibilityTimeoutInMs, abortSignal: AbortSignal.timeout(10_000) });
    assert.ok(message);
    return message;
  }

  it('keeps the message hidden past its visibility timeout and tracks the newest pop receipt', async () => {
    const message = await receiveOne(1000);
    const lease = new Lease({ queue, ...message, visibilityTimeoutInMs: 1000, parentSignal: new AbortController().signal, log });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal((await queue.receive(1, { visibilityTimeoutInMs: 1000, abortSignal: AbortSignal.timeout(10_000) })).length, 0, 'still hidden');
    await lease.close();
    assert.notEqual(lease.popReceipt, message.popReceipt, 'renewals returned new receipts');
    await queue.delete(message.messageId, lease.popReceipt, AbortSignal.timeout(10_000));
  });

  it('aborts its signal when the message is gone', async () => {
    const message = await receiveOne(2000);
    const lease = new Lease({ queue, ...message, visibilityTimeoutInMs: 2000, parentSignal: new AbortController().signal, log });
    await queue.delete(message.messageId, message.popReceipt, AbortSignal.timeout(10_000));
    await eventually(() => assert.equal(lease.signal.aborted, true), { timeoutInMs: 10_000 });
    assert.equal(lease.isLost, true);
    await lease.close();
  });

  it('aborts when the engine gives up, and leaves no listener on the engine\'s signal once closed', async () => {
    const engine = new AbortController();
    const leases = await Promise.all(
      [0, 1, 2].map(async () => new Lease({ queue, ...(await receiveOne(30_000)), visibilityTimeoutInMs: 30_000, parentSignal: engine.signal, log })),
    );
    assert.equal(getEventListeners(engine.signal, 'abort').length, 3);
    for (const lease of leases.slice(0, 2)) await lease.close();
    assert.equal(getEventListeners(engine.signal, 'abort').length, 1, 'closed leases let go of the engine signal');
    engine.abort();
    assert.equal(leases[2]!.signal.aborted, true);
    await leases[2]!.close();
  });
});
