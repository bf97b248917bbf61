/**
 * The engine's clients without the SDK policies that can do nothing for it (Performance issue), and
 * still doing everything the engine asks of storage. The queue and blob pipelines are reached by an
 * SDK field: when an SDK update moves it, the first test fails rather than the engine quietly
 * paying for the policies again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TableClient } from '@azure/data-tables';
import { idlePolicies, removeIdlePolicies, type StorageClients } from '../../src/storage/clients.js';
import { clientsFor, startAzurite, uniqueQueueName, type TestAzurite } from '../support/azurite.js';

type CorePipeline = TableClient['pipeline'];

/** The policy names of each of the four pipelines, in order. */
function policyNames(clients: StorageClients): Record<string, string[]> {
  const sdkPipeline = (client: object): CorePipeline => {
    const pipeline = (client as { pipeline?: { _corePipeline?: CorePipeline } }).pipeline?._corePipeline;
    assert.ok(pipeline, 'the storage SDK keeps its core pipeline where removeIdlePolicies looks for it');
    return pipeline;
  };
  const names = (pipeline: CorePipeline): string[] => pipeline.getOrderedPolicies().map((p) => p.name);
  return {
    queue: names(sdkPipeline(clients.queues)),
    blob: names(sdkPipeline(clients.payloads)),
    status: names(clients.statusTable.pipeline),
    dlq: names(clients.dlqTable.pipeline),
  };
}

describe('removeIdlePolicies', () => {
  let azurite: TestAzurite;
  before(async () => {
    azurite = await startAzurite();
  });
  after(() => azurite.close());

  it('takes tracing, logging, form data, multipart and the browser policy out of all four pipelines when tracing and SDK logging are off', () => {
    const clients = clientsFor(azurite);
    const before = policyNames(clients);
    for (const names of Object.values(before)) {
      for (const expected of ['tracingPolicy', 'logPolicy', 'formDataPolicy', 'multipartPolicy']) assert.ok(names.includes(expected), `${expected} in ${names.join(' ')}`);
    }
    assert.ok(before['queue']?.includes('storageBrowserPolicy'));

    removeIdlePolicies(clients, { isTracingOn: false, isSdkLogOn: false });

    const idle = idlePolicies({ isTracingOn: false, isSdkLogOn: false });
    for (const [pipeline, names] of Object.entries(policyNames(clients))) {
      assert.deepEqual(
        names.filter((n) => idle.includes(n)),
        [],
        `${pipeline}: ${names.join(' ')}`,
      );
      // Everything else stays: signing, retries, (de)serialization.
      assert.deepEqual(
        names,
        before[pipeline]?.filter((n) => !idle.includes(n)),
      );
      assert.ok(names.includes('deserializationPolicy'));
    }
  });

  it('keeps the tracing policy when tracing is on, and the log policy when AZURE_LOG_LEVEL asks for SDK logs', () => {
    const clients = clientsFor(azurite);
    removeIdlePolicies(clients, { isTracingOn: true, isSdkLogOn: true });
    for (const names of Object.values(policyNames(clients))) {
      assert.ok(names.includes('tracingPolicy'));
      assert.ok(names.includes('logPolicy'));
      assert.ok(!names.includes('formDataPolicy'));
    }
  });

  it('leaves clients that send, receive, update and delete messages, write and read table rows, and store and read blobs', async () => {
    const clients = clientsFor(azurite);
    removeIdlePolicies(clients, { isTracingOn: false, isSdkLogOn: false });
    const queue = clients.queues.getQueueClient(uniqueQueueName());
    await queue.create();
    await queue.sendMessage('aGVsbG8=');
    const [message] = (await queue.receiveMessages({ numberOfMessages: 1 })).receivedMessageItems;
    assert.equal(message?.messageText, 'aGVsbG8=');
    const updated = await queue.updateMessage(message.messageId, message.popReceipt, 'd29ybGQ=', 0);
    await queue.deleteMessage(message.messageId, updated.popReceipt ?? '');
    assert.equal((await queue.getProperties()).approximateMessagesCount, 0);

    await clients.statusTable.createTable();
    await clients.statusTable.createEntity({ partitionKey: 'p', rowKey: 'r', Status: 'queued' });
    await clients.statusTable.submitTransaction([['update', { partitionKey: 'p', rowKey: 'r', Status: 'completed' }, 'Merge']]);
    assert.equal((await clients.statusTable.getEntity<{ Status: string }>('p', 'r')).Status, 'completed');

    await clients.payloads.create();
    const blob = clients.payloads.getBlockBlobClient('b');
    await blob.uploadData(Buffer.from('payload'));
    assert.equal((await blob.downloadToBuffer()).toString(), 'payload');
  });
});
