import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, submit, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { isQueueReceive, LatencyProxy, queueNameOf } from '../support/latency-proxy.js';

/** A poll delay far longer than any test waits: only greedy polling can take a second message in time. */
const LONG_DELAY_IN_MS = 60_000;
/**
 * How long a receive takes in the coalescing test: the longest the poller waits for a whole batch,
 * so it is made far longer than a busy machine's scheduling stalls (a few hundred ms at worst).
 */
const RECEIVE_LATENCY_IN_MS = 1000;
/** The coalescing test's slots, and so its batch: few, so that a batch's work is little CPU. */
const SLOTS = 4;
/** How many whole batches wait in the coalescing test's queue. */
const BATCHES = 4;
/** How far apart the slots of one batch free in the coalescing test. */
const SLOT_SPACING_IN_MS = 20;

describe('polling', () => {
  const suite = engineSuite();
  const engine = (doc: Record<string, unknown>): Promise<TestEngine> => suite.engine(doc);
  /** Submits through an engine whose pollers are stopped, so the messages wait in the queue. */
  async function backlog(doc: Record<string, unknown>, count: number): Promise<void> {
    const idle = await engine(doc);
    await idle.runtime.engine.close();
    for (let i = 0; i < count; i++) await submit(idle, 'flow', `{"i":${i}}`);
  }

  /**
   * `doc` with its queue service behind a proxy that holds the answer to every receive for
   * RECEIVE_LATENCY_IN_MS, and counts the receives on the first step's queue (the engine's callback
   * queue is polled too, and its receives are not the step's).
   */
  async function withSlowReceives(doc: Record<string, unknown>): Promise<{ doc: Record<string, unknown>; stepReceives: () => number }> {
    const stepQueue = (doc['queue.config'] as Array<{ name: string }>)[0]?.name;
    let count = 0;
    const onRequest = (method: string, url: URL): void => {
      if (isQueueReceive(method, url) && queueNameOf(url) === stepQueue) count++;
    };
    const proxy = await LatencyProxy.start({ upstreamPort: suite.azurite.ports.queue, latencyInMs: RECEIVE_LATENCY_IN_MS, isDelayed: isQueueReceive, onRequest });
    suite.onClose(() => proxy.close());
    const connectionString = suite.azurite.connectionString.replace(`:${suite.azurite.ports.queue}/`, `:${proxy.port}/`);
    return { doc: { ...doc, 'azure.storage.config': { connectionString } }, stepReceives: () => count };
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
    // Message i answers after (i % SLOTS) * SLOT_SPACING_IN_MS, so the slots of a batch free one by
    // one over 60 ms, and a receive takes over RECEIVE_LATENCY_IN_MS. After a full receive the
    // poller waits up to that receive's duration for all the slots, so a batch splits only if its
    // few messages take over 900 ms longer than planned. delay 0 caps that wait at 0 (the poller
    // without coalescing): the same scenario run beside it takes a receive at the first free slot
    // and splits batches, which shows the bound below tells coalescing from its absence. (On 2 cores
    // kept busy by two spinning processes and the rest of the suite: 4 receives with coalescing,
    // 8 without, in 8 runs of 8.)
    const [coalesced, uncoalesced] = await Promise.all([receivesForBacklog(5000), receivesForBacklog(0)]);
    const messages = SLOTS * BATCHES;
    assert.ok(coalesced <= BATCHES + 1, `${messages} messages took ${coalesced} receives with coalescing, where ${BATCHES} whole batches would do`);
    assert.ok(uncoalesced > BATCHES + 1, `${messages} messages took only ${uncoalesced} receives without coalescing: this scenario cannot show coalescing`);
  });

  /** The receives an engine with SLOTS slots and `delay` has made when the last of BATCHES batches of waiting messages reaches the endpoint. */
  async function receivesForBacklog(delay: number): Promise<number> {
    const messages = SLOTS * BATCHES;
    let stepReceives: (() => number) | undefined;
    let receives: number | undefined;
    const server = await suite.endpoint((call, index) => {
      // Counted at the last message's call: any receive after it can only find the queue empty.
      if (index === messages - 1) receives = stepReceives?.();
      return { ...echo(call, index), delayInMs: (index % SLOTS) * SLOT_SPACING_IN_MS };
    });
    const doc = flowDocument(suite.azurite, { steps: [{ url: server.url(), maxThreads: SLOTS }], queue: { maxMessages: SLOTS, delay, greedy: true } });
    await backlog(doc, messages);
    const slow = await withSlowReceives(doc);
    stepReceives = slow.stepReceives;
    await engine(slow.doc);
    await eventually(() => assert.equal(server.calls.length, messages), { timeoutInMs: 60_000 });
    assert.ok(server.maxConcurrent <= SLOTS, `${server.maxConcurrent} calls at once with ${SLOTS} slots`);
    assert.notEqual(receives, undefined, 'the last call came while the engine ran');
    return receives!;
  }
});
