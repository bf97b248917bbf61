import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { engineSuite, flowDocument, submit } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

describe('flow.config[].maxBacklog', () => {
  const suite = engineSuite();

  it('answers 429 with Retry-After once the initial queue holds maxBacklog messages, and stores nothing', async () => {
    const doc = flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] });
    (doc['flow.config'] as Array<Record<string, unknown>>)[0]!['maxBacklog'] = 3;
    const e = await suite.engine(doc);
    await e.runtime.engine.close(); // nothing is processed: the backlog only grows
    for (let i = 0; i < 3; i++) await submit(e, 'flow', `{"i":${i}}`);
    // The count is read at most once a second: the refusal comes within about that.
    const refused = await eventually(
      async () => {
        const response = await fetch(`${e.url}/api/flows/flow`, { method: 'POST', body: '{"i":"late"}' });
        assert.equal(response.status, 429, await response.clone().text());
        return response;
      },
      { timeoutInMs: 10_000, intervalInMs: 100 },
    );
    assert.equal(refused.headers.get('retry-after'), '5');
    assert.equal(refused.headers.get('content-type'), 'application/problem+json');
    const problem = (await refused.json()) as { type: string; detail: string };
    assert.equal(problem.type, 'urn:async-engine:problem:backlog-full');
    assert.match(problem.detail, /3 or more requests waiting \(maxBacklog\)/);
    const listed = (await (await fetch(`${e.url}/api/requests?flow=flow`)).json()) as { items: unknown[] };
    const accepted = listed.items.length;
    const queue = e.runtime.flows.get('flow')?.steps[0]?.source.queue.name ?? '';
    const queued = await e.runtime.storage.clients.queues.getQueueClient(queue).getProperties();
    assert.equal(queued.approximateMessagesCount, accepted, 'every stored request has its message, and no refused one was stored');
  });

  it('reads the queue\'s count at most once a second, however many submit', async () => {
    const doc = flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] });
    (doc['flow.config'] as Array<Record<string, unknown>>)[0]!['maxBacklog'] = 1000;
    const e = await suite.engine(doc);
    await e.runtime.engine.close();
    e.storageCalls.reset();
    const started = performance.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => submit(e, 'flow', `{"i":${i}}`)));
    const seconds = Math.ceil((performance.now() - started) / 1000);
    const reads = e.storageCalls.snapshot()['queue.admin'] ?? 0;
    assert.ok(reads >= 1 && reads <= seconds + 1, `${reads} count reads for 20 submissions in ${seconds} s`);
  });

  it('lets every submission through for a flow without maxBacklog, reading no count', async () => {
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    await e.runtime.engine.close();
    e.storageCalls.reset();
    for (let i = 0; i < 5; i++) await submit(e, 'flow', `{"i":${i}}`);
    assert.equal(e.storageCalls.snapshot()['queue.admin'] ?? 0, 0);
  });
});
