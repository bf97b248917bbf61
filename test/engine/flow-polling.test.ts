import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, submit, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { LatencyProxy } from '../support/latency-proxy.js';

/** A poll delay far longer than any test waits: only greedy polling can take a second message in time. */
const LONG_DELAY_IN_MS = 60_000;

describe('polling', () => {
  const suite = engineSuite();
  const engine = (doc: Record<string, unknown>): Promise<TestEngine> => suite.engine(doc);
  /** Submits through an engine whose pollers are stopped, so the messages wait in the queue. */
  async function backlog(doc: Record<string, unknown>, count: number): Promise<void> {
    const idle = await engine(doc);
    await idle.runtime.engine.close();
    for (let i = 0; i < count; i++) await submit(idle, 'flow', `{"i":${i}}`);
  }

  /** `doc` with its queues behind a proxy that adds `latencyInMs` to every queue call. */
  async function withSlowQueues(doc: Record<string, unknown>, latencyInMs: number): Promise<Record<string, unknown>> {
    const proxy = await LatencyProxy.start(suite.azurite.ports.queue, latencyInMs);
    suite.onClose(() => proxy.close());
    const connectionString = suite.azurite.connectionString.replace(`:${suite.azurite.ports.queue}/`, `:${proxy.port}/`);
    return { ...doc, 'azure.storage.config': { connectionString } };
  }

  for (const greedy of [true, false]) {
    it(greedy ? 'with greedy, polls again at once while polls return messages' : 'without greedy, waits delay between polls even with a backlog', async () => {
      const server = await suite.endpoint(echo);
      const doc = flowDocument(suite.azurite, { steps: [{ url: server.url(), maxThreads: 8 }], queue: { maxMessages: 1, delay: LONG_DELAY_IN_MS, greedy } });
      await backlog(doc, 4);

      await engine(doc);
      if (greedy) {
        await eventually(() => assert.equal(server.calls.length, 4), { timeoutInMs: 30_000 });
      } else {
        await eventually(() => assert.equal(server.calls.length, 1), { timeoutInMs: 30_000 });
        await sleep(3000);
        assert.equal(server.calls.length, 1, 'one message per poll, and the next poll is a delay away');
      }
    });
  }

  it('receives no more messages than maxMessages in one poll', async () => {
    const server = await suite.endpoint((call) => ({ ...echo(call, 0), delayInMs: 200 }));
    const doc = flowDocument(suite.azurite, { steps: [{ url: server.url(), maxThreads: 16 }], queue: { maxMessages: 3, delay: LONG_DELAY_IN_MS, greedy: false } });
    await backlog(doc, 8);
    await engine(doc);
    await eventually(() => assert.equal(server.calls.length, 3), { timeoutInMs: 30_000 });
    await sleep(1000);
    assert.equal(server.calls.length, 3);
    assert.equal(server.maxConcurrent, 3);
  });

  it('with a backlog, gathers slots that free one by one into whole batches instead of a receive per slot', async () => {
    // Message i answers after (i % 8) * 10 ms, so the slots of one batch free one by one over 70 ms,
    // within the 100 ms a receive takes behind the proxy.
    const server = await suite.endpoint((call, index) => ({ ...echo(call, index), delayInMs: (index % 8) * 10 }));
    const doc = await withSlowQueues(flowDocument(suite.azurite, { steps: [{ url: server.url(), maxThreads: 8 }], queue: { maxMessages: 8, delay: 5000, greedy: true } }), 100);
    await backlog(doc, 32);

    const e = await engine(doc);
    await eventually(() => assert.equal(server.calls.length, 32), { timeoutInMs: 60_000 });
    const receives = e.storageCalls.snapshot()['queue.receive'] ?? 0;
    // 4 full batches; taking each slot as it freed would need twice as many receives or more.
    assert.ok(receives <= 6, `32 messages took ${receives} receives`);
    assert.ok(server.maxConcurrent <= 8, `${server.maxConcurrent} calls at once with 8 slots`);
  });
});
