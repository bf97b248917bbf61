import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueClient } from '@azure/storage-queue';
import { type DlqEntry, DlqTable } from '../../src/storage/dlq-table.js';
import { encodeEnvelope, type Envelope } from '../../src/storage/envelope.js';
import type { EndpointServer } from '../support/endpoints.js';
import { engineSuite, flowDocument, submit, type TestEngine, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

/** A well-formed envelope of the first step of "flow", as a forger (or a bug) could write it. */
function envelope(overrides: Partial<Envelope>): Envelope {
  return {
    v: 1,
    requestId: '00000000-0000-4000-8000-000000000001',
    flow: 'flow',
    step: 0,
    attempt: 1,
    contentType: 'application/json',
    statusEtag: '*',
    traceparent: null,
    callbackUrl: null,
    acceptedAt: new Date().toISOString(),
    body: { kind: 'inline', encoding: 'utf8', data: '{}' },
    blobs: [],
    ...overrides,
  };
}

describe('envelopes whose fields storage cannot use', () => {
  const suite = engineSuite();

  /** An engine whose one step's queue the test writes to, and that endpoint, never to be called. */
  const poisonEngine = async (): Promise<{ e: TestEngine; server: EndpointServer; queue: QueueClient }> => {
    const server = await suite.endpoint();
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: server.url() }], queue: { visibilityTimeout: 1000, maxDequeueCount: 2 } }));
    const queueName = e.runtime.flows.get('flow')?.steps[0]?.source.queue.name;
    assert.ok(queueName);
    return { e, server, queue: e.runtime.storage.clients.queues.getQueueClient(queueName) };
  };

  /** Sends `texts` and waits until each has its DLQ entry. */
  const dlqEntriesOf = async (e: TestEngine, queue: QueueClient, texts: string[]): Promise<DlqEntry[]> => {
    for (const text of texts) await queue.sendMessage(text);
    const dlq = new DlqTable(e.runtime.storage.clients.dlqTable);
    return eventually(
      async () => {
        const { items } = await dlq.list('flow', 100, null, AbortSignal.timeout(10_000));
        assert.equal(items.length, texts.length);
        return items;
      },
      { timeoutInMs: 20_000 },
    );
  };

  const assertQueueEmptyAndUncalled = async (queue: QueueClient, server: EndpointServer): Promise<void> => {
    await eventually(async () => assert.equal((await queue.getProperties()).approximateMessagesCount, 0), { timeoutInMs: 10_000 });
    assert.equal(server.calls.length, 0, 'no endpoint saw a poison message');
  };

  // Found by test/fuzz/queue-messages.test.ts: a request id holding U+0085 made every status write
  // fail with 400, the dead-letter write included, so the message came back after each visibility
  // timeout, had its endpoint called every time, and never reached the DLQ.
  it('dead-letters a message whose request id no table key may hold as poison at once, without an endpoint call', async () => {
    const { e, server, queue } = await poisonEngine();
    const texts = ['\u0085', 'a/b', 'a#b?c', 'req-1'].map((requestId) => encodeEnvelope(envelope({ requestId })));
    const entries = await dlqEntriesOf(e, queue, texts);
    for (const entry of entries) {
      assert.equal(entry.reason, 'poison');
      assert.equal(entry.requestId, null);
      assert.match(entry.error, /invalid fields: requestId$/);
      assert.ok(entry.replay.kind === 'raw' && texts.includes(entry.replay.messageText), 'the raw text is kept');
    }
    await assertQueueEmptyAndUncalled(queue, server);
    const id = await submit(e, 'flow', '{"fine":true}');
    await waitForStatus(e, id, 'completed');
  });

  // Found by test/fuzz/queue-messages.test.ts: an ETag no header can carry (a "☃", 20 000
  // characters) failed every status write before it left the client or with HTTP 431; a version or
  // flow of 40 000 characters made the poison error too large for its DLQ entry (64 KiB a
  // property). Each message came back after every visibility timeout and never reached the DLQ.
  it('dead-letters envelopes whose ETag no header can carry, or whose version or flow would not fit a DLQ entry, as poison at once', async () => {
    const { e, server, queue } = await poisonEngine();
    const asText = (fields: Record<string, unknown>): string => Buffer.from(JSON.stringify({ ...envelope({}), ...fields }), 'utf8').toString('base64');
    const texts = [asText({ statusEtag: '☃' }), asText({ statusEtag: 'x'.repeat(20_000) }), asText({ v: 'v'.repeat(40_000) }), asText({ flow: 'f'.repeat(40_000) })];
    const entries = await dlqEntriesOf(e, queue, texts);
    for (const entry of entries) {
      assert.equal(entry.reason, 'poison');
      assert.ok(entry.error.length < 200, `a short error: ${entry.error.slice(0, 300)}`);
    }
    await assertQueueEmptyAndUncalled(queue, server);
  });
});
