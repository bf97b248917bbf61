import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEnvelope } from '../../src/storage/envelope.js';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, submit, waitForStatus } from '../support/engine.js';

/** What users see in Azure Storage Explorer (contract section 5), read with the raw SDK clients. */
describe('the storage layout', () => {
  const suite = engineSuite();

  it('keeps one status entity per request, PartitionKey = request id, with readable property names', async () => {
    const server = await suite.endpoint(echo);
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: server.url() }, { url: server.url() }] }));
    const id = await submit(e, 'flow', '{"n":1}');
    await waitForStatus(e, id, 'completed');
    const entity = await e.runtime.storage.clients.statusTable.getEntity<Record<string, unknown>>(id, 'status');
    assert.equal(entity.partitionKey, id);
    assert.equal(entity['Flow'], 'flow');
    assert.equal(entity['Status'], 'completed');
    assert.equal(entity['Step'], 1);
    assert.equal(entity['StepQueue'], e.runtime.flows.get('flow')!.steps[1]!.source.queue.name);
    assert.equal(entity['Attempt'], 1);
    assert.equal(entity['LastHttpStatus'], 200);
    for (const key of ['CreatedAt', 'UpdatedAt', 'CompletedAt']) assert.ok(entity[key] instanceof Date, `${key} is a DateTime`);
    assert.equal(entity['ResultContentType'], 'application/json');
    assert.equal(Buffer.from(entity['Result'] as Uint8Array).toString(), '{"n":1}');
  });

  it('keeps DLQ entities under PartitionKey = flow, and queue messages as base64 JSON envelopes with a version', async () => {
    const server = await suite.endpoint(() => ({ status: 400 }));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: server.url() }], extra: { 'redelivery.config': { default: { count: 0, delay: 0 } } } }));
    const stopped = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: server.url() }] }));
    await stopped.runtime.engine.close();
    const waiting = await submit(stopped, 'flow', '{"w":1}');
    const queue = stopped.runtime.storage.clients.queues.getQueueClient(stopped.runtime.flows.get('flow')!.steps[0]!.source.queue.name);
    const [message] = (await queue.peekMessages()).peekedMessageItems;
    const raw = JSON.parse(Buffer.from(message!.messageText, 'base64').toString('utf8')) as Record<string, unknown>;
    assert.equal(raw['v'], 1);
    assert.equal(decodeEnvelope(message!.messageText).requestId, waiting);

    const id = await submit(e, 'flow', '{}');
    const status = await waitForStatus(e, id, 'dead-lettered');
    assert.equal(status['step'], 0);
    const entities = [];
    for await (const entity of e.runtime.storage.clients.dlqTable.listEntities<Record<string, unknown>>()) entities.push(entity);
    assert.equal(entities.length, 1);
    assert.equal(entities[0]!.partitionKey, 'flow');
    assert.equal(entities[0]!['RequestId'], id);
    assert.equal(entities[0]!['Reason'], 'exhausted');
  });
});
