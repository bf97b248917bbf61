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

  async function receiveOne(visibilityTimeoutInSeconds: number): Promise<{ messageId: string; popReceipt: string }> {
    await queue.send('aGVsbG8=', { timeToLiveInSeconds: 600, abortSignal: AbortSignal.timeout(10_000) });
    const [message] = await queue.receive(1, { visibilityTimeoutInSeconds, abortSignal: AbortSignal.timeout(10_000) });
    assert.ok(message);
    return message;
  }

  it('keeps the message hidden past its visibility timeout and tracks the newest pop receipt', async () => {
    const message = await receiveOne(1);
    const lease = new Lease({ queue, ...message, visibilityTimeoutInSeconds: 1, parentSignal: new AbortController().signal, log });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal((await queue.receive(1, { visibilityTimeoutInSeconds: 1, abortSignal: AbortSignal.timeout(10_000) })).length, 0, 'still hidden');
    await lease.stop();
    assert.notEqual(lease.popReceipt, message.popReceipt, 'renewals returned new receipts');
    await queue.delete(message.messageId, lease.popReceipt, AbortSignal.timeout(10_000));
    lease.release();
  });

  it('aborts its signal when the message is gone', async () => {
    const message = await receiveOne(2);
    const lease = new Lease({ queue, ...message, visibilityTimeoutInSeconds: 2, parentSignal: new AbortController().signal, log });
    await queue.delete(message.messageId, message.popReceipt, AbortSignal.timeout(10_000));
    await eventually(() => assert.equal(lease.signal.aborted, true), { timeoutInMs: 10_000 });
    assert.equal(lease.isLost, true);
    await lease.stop();
    lease.release();
  });

  it('aborts when the engine gives up, and leaves no listener on the engine\'s signal once released', async () => {
    const engine = new AbortController();
    const leases = await Promise.all(
      [0, 1, 2].map(async () => new Lease({ queue, ...(await receiveOne(30)), visibilityTimeoutInSeconds: 30, parentSignal: engine.signal, log })),
    );
    assert.equal(getEventListeners(engine.signal, 'abort').length, 3);
    for (const lease of leases.slice(0, 2)) {
      await lease.stop();
      lease.release();
    }
    assert.equal(getEventListeners(engine.signal, 'abort').length, 1, 'released leases let go of the engine signal');
    engine.abort();
    assert.equal(leases[2]!.signal.aborted, true);
    await leases[2]!.stop();
    leases[2]!.release();
  });
});
