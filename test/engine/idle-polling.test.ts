/**
 * What an idle engine costs, and what a request at an idle moment waits: the poll wait backs off up
 * to maxIdleDelay while a queue is empty (counted in receives), resets when messages come, and work
 * this engine knows is coming (a submission, a forward, a retry falling due) wakes the poller.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, submit, type TestEngine, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { isQueueReceive, LatencyProxy, queueNameOf } from '../support/latency-proxy.js';

/** Every step's current poll wait, from GET /api/flows. */
async function pollDelays(e: TestEngine): Promise<number[]> {
  const { items } = (await (await fetch(`${e.url}/api/flows`)).json()) as { items: Array<{ steps: Array<{ pollDelay: number }> }> };
  return items.flatMap((flow) => flow.steps.map((step) => step.pollDelay));
}

describe('idle polling', () => {
  const suite = engineSuite();

  /**
   * `doc` with its queue service behind a proxy that counts the receives on the queue of its first
   * step: the engine's callback queue is polled too, and its receives are not the step's.
   */
  async function countingReceives(doc: Record<string, unknown>): Promise<{ doc: Record<string, unknown>; receives: () => number }> {
    const stepQueue = (doc['queue.config'] as Array<{ name: string }>)[0]?.name;
    let count = 0;
    const onRequest = (method: string, url: URL): void => {
      if (isQueueReceive(method, url) && queueNameOf(url) === stepQueue) count++;
    };
    const proxy = await LatencyProxy.start({ upstreamPort: suite.azurite.ports.queue, latencyInMs: 0, isDelayed: () => false, onRequest });
    suite.onClose(() => proxy.close());
    const connectionString = suite.azurite.connectionString.replace(`:${suite.azurite.ports.queue}/`, `:${proxy.port}/`);
    return { doc: { ...doc, 'azure.storage.config': { connectionString } }, receives: () => count };
  }

  it('backs off to maxIdleDelay while the queue is empty, and costs about one receive per maxIdleDelay', async () => {
    const { doc, receives } = await countingReceives(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }], queue: { delay: 50, maxIdleDelay: 1000 } }));
    const e = await suite.engine(doc);
    await eventually(async () => assert.ok((await pollDelays(e))[0]! >= 800, 'backed off to the cap, less its jitter'), { timeoutInMs: 30_000, intervalInMs: 20 });
    const before = receives();
    // Counts, not times: over 4 s at 800..1200 ms a wait the poller receives 3 to 6 times; polling
    // every 50 ms, as without the back-off, would be some 80 receives.
    await sleep(4000);
    const made = receives() - before;
    assert.ok(made >= 2 && made <= 6, `${made} receives in 4 s`);
    assert.ok((await pollDelays(e))[0]! <= 1200, 'never beyond the cap plus its jitter');
  });

  it('polls at delay again once messages come', async () => {
    const { doc, receives } = await countingReceives(flowDocument(suite.azurite, { steps: [{ url: (await suite.endpoint(echo)).url() }], queue: { delay: 50, maxIdleDelay: 2000 } }));
    const e = await suite.engine(doc);
    await eventually(async () => assert.ok((await pollDelays(e))[0]! >= 1600), { timeoutInMs: 30_000, intervalInMs: 20 });
    // Straight into the queue, as another engine's forward would come: nothing here wakes the poller.
    const queue = e.runtime.flows.get('flow')?.steps[0]?.source.queue.name ?? '';
    const id = await submit(e, 'flow', '{}'); // processed, so the queue has just had a message
    await waitForStatus(e, id, 'completed');
    const before = receives();
    await sleep(2000);
    // After a message the waits start again at 50 ms: 50, 100, 200, 400, 800 ... fit four or more
    // receives into 2 s, where a poller still at its 1600..2400 ms cap makes one or two.
    assert.ok(receives() - before >= 3, `${receives() - before} receives in the 2 s after a message (queue ${queue})`);
  });

  it('wakes each step of a flow for a request submitted while every poller waits 10 s', async () => {
    const endpoint = await suite.endpoint(echo);
    const steps = [{ url: endpoint.url() }, { url: endpoint.url() }, { url: endpoint.url() }];
    const e = await suite.engine(flowDocument(suite.azurite, { steps, queue: { delay: 10_000, maxIdleDelay: 10_000 } }));
    await eventually(async () => assert.deepEqual(await pollDelays(e), [10_000, 10_000, 10_000], 'every poller sleeps'), { timeoutInMs: 30_000, intervalInMs: 20 });
    const started = performance.now();
    const id = await submit(e, 'flow', '{"wake":1}');
    await waitForStatus(e, id, 'completed', 30_000);
    // Without wake-ups each step would wait out its poller's 10 s: at least 10 s for the first.
    const tookInMs = performance.now() - started;
    assert.ok(tookInMs < 8000, `three steps took ${Math.round(tookInMs)} ms`);
    assert.equal(endpoint.calls.length, 3);
  });

  it('wakes the poller when a retry of this engine falls due', async () => {
    const endpoint = await suite.endpoint((call, i) => (i === 0 ? { status: 503 } : echo(call, i)));
    const e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: endpoint.url() }],
        queue: { delay: 10_000, maxIdleDelay: 10_000 },
        extra: { 'redelivery.config': { default: { count: 1, delay: 300 } } },
      }),
    );
    await eventually(async () => assert.deepEqual(await pollDelays(e), [10_000]), { timeoutInMs: 30_000, intervalInMs: 20 });
    const started = performance.now();
    const id = await submit(e, 'flow', '{}');
    const status = await waitForStatus(e, id, 'completed', 30_000);
    assert.equal(status['attempt'], 2);
    const tookInMs = performance.now() - started;
    assert.ok(tookInMs < 8000, `the retry came after ${Math.round(tookInMs)} ms, not after the poller's 10 s`);
  });
});
