import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, submit, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

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
});
