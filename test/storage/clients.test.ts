/**
 * The engine's clients without the SDK policies that can do nothing for it (Performance issue), and
 * still doing everything the engine asks of storage. The queue and blob pipelines are reached by an
 * SDK field: when an SDK update moves it, the first test fails rather than the engine quietly
 * paying for the policies again.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TableClient } from '@azure/data-tables';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { createStorageClients, idlePolicies, isProxyConfigured, removeIdlePolicies, type StorageClients } from '../../src/storage/clients.js';
import { clientsFor, startAzurite, uniqueQueueName, type TestAzurite } from '../support/azurite.js';

/** A server on 127.0.0.1 that answers every request with `answer`, and counts what it got. */
async function listen(answer: (url: string) => { status: number; headers?: Record<string, string> }): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization === undefined ? 'unsigned' : 'signed'}`);
    const { status, headers = {} } = answer(req.url ?? '/');
    res.writeHead(status, headers).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

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

  it('takes tracing, logging, form data, multipart, redirects, signal wrapping, the proxy and the browser policy out of all four pipelines when tracing, SDK logging and proxies are off', () => {
    const clients = clientsFor(azurite);
    const before = policyNames(clients);
    for (const names of Object.values(before)) {
      for (const expected of ['tracingPolicy', 'logPolicy', 'formDataPolicy', 'multipartPolicy', 'redirectPolicy', 'wrapAbortSignalLikePolicy', 'proxyPolicy']) assert.ok(names.includes(expected), `${expected} in ${names.join(' ')}`);
    }
    assert.ok(before['queue']?.includes('storageBrowserPolicy'));

    removeIdlePolicies(clients, { isTracingOn: false, isSdkLogOn: false, isProxyOn: false });

    const idle = idlePolicies({ isTracingOn: false, isSdkLogOn: false, isProxyOn: false });
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

  it('keeps the tracing policy when tracing is on, the log policy when AZURE_LOG_LEVEL asks for SDK logs, and the proxy policy when a proxy is set', () => {
    const clients = clientsFor(azurite);
    removeIdlePolicies(clients, { isTracingOn: true, isSdkLogOn: true, isProxyOn: true });
    for (const names of Object.values(policyNames(clients))) {
      assert.ok(names.includes('tracingPolicy'));
      assert.ok(names.includes('logPolicy'));
      assert.ok(names.includes('proxyPolicy'));
      assert.ok(!names.includes('formDataPolicy'));
      assert.ok(!names.includes('redirectPolicy'));
    }
  });

  it('reads a proxy from HTTPS_PROXY, HTTP_PROXY or ALL_PROXY in either case, as the SDKs do, and sends the calls through it', async () => {
    const names = ['HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'https_proxy', 'http_proxy', 'all_proxy', 'NO_PROXY', 'no_proxy'];
    const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    const proxy = await listen(() => ({ status: 502 }));
    try {
      for (const n of names) delete process.env[n];
      assert.equal(isProxyConfigured(), false);
      for (const n of ['HTTPS_PROXY', 'http_proxy', 'ALL_PROXY']) {
        process.env[n] = proxy.url;
        assert.equal(isProxyConfigured(), true, n);
        delete process.env[n];
      }
      // A plain-http account, so HTTP_PROXY is the one its calls go through. Its host resolves
      // nowhere and is in no NO_PROXY list (the SDK reads that once per process): only the proxy
      // can answer, and it does with 502.
      process.env['HTTP_PROXY'] = proxy.url;
      const account = 'devstoreaccount1';
      const key = Buffer.from('not-a-real-key').toString('base64');
      const endpoint = `http://storage.invalid:10001/${account}`;
      const connectionString = `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};QueueEndpoint=${endpoint};TableEndpoint=${endpoint};BlobEndpoint=${endpoint};`;
      const clients = createStorageClients({ kind: 'connection-string', connectionString }, { statusTable: 'Status', dlqTable: 'Dlq', container: 'payloads' }, new StorageCallCounter());
      removeIdlePolicies(clients, { isTracingOn: false, isSdkLogOn: false, isProxyOn: isProxyConfigured() });
      assert.ok(policyNames(clients)['queue']?.includes('proxyPolicy'));
      await assert.rejects(clients.queues.getQueueClient('q').create(), (err: { statusCode?: number }) => err.statusCode === 502);
      assert.ok(proxy.requests.length >= 1, 'the call went to the proxy');
      assert.match(proxy.requests[0] ?? '', /^PUT http:\/\/storage\.invalid:10001\/devstoreaccount1\/q/);
    } finally {
      proxy.server.close();
      for (const n of names) {
        if (saved[n] === undefined) delete process.env[n];
        else process.env[n] = saved[n];
      }
    }
  });

  it('leaves clients that send, receive, update and delete messages, write and read table rows, and store and read blobs', async () => {
    const clients = clientsFor(azurite);
    removeIdlePolicies(clients, { isTracingOn: false, isSdkLogOn: false, isProxyOn: false });
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

  it('never sends a storage call on to where a 3xx answer points: the call fails with the 3xx, and nothing is sent again', async () => {
    // The SDK would follow a same-origin 307 (cross-origin ones it leaves alone), unsigned.
    const redirecting = await listen((url) => (url.startsWith('/elsewhere/') ? { status: 201 } : { status: 307, headers: { location: `/elsewhere${url}` } }));
    try {
      const account = 'devstoreaccount1';
      const key = Buffer.from('not-a-real-key').toString('base64');
      const connectionString =
        `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};` +
        `QueueEndpoint=${redirecting.url}/${account};TableEndpoint=${redirecting.url}/${account};BlobEndpoint=${redirecting.url}/${account};`;
      const clients = createStorageClients({ kind: 'connection-string', connectionString }, { statusTable: 'Status', dlqTable: 'Dlq', container: 'payloads' }, new StorageCallCounter());
      removeIdlePolicies(clients, { isTracingOn: false, isSdkLogOn: false, isProxyOn: false });
      const is307 = (err: { statusCode?: number }): boolean => err.statusCode === 307;
      await assert.rejects(clients.queues.getQueueClient('q').sendMessage('aGVsbG8='), is307);
      await assert.rejects(clients.statusTable.updateEntity({ partitionKey: 'p', rowKey: 'r', Status: 'x' }, 'Merge', { etag: '*' }), is307);
      await assert.rejects(clients.payloads.getBlockBlobClient('b').uploadData(Buffer.from('x')), is307);
      assert.equal(redirecting.requests.length, 3, redirecting.requests.join('; '));
      assert.ok(redirecting.requests.every((r) => !r.includes('/elsewhere/') && r.endsWith(' signed')), redirecting.requests.join('; '));
    } finally {
      redirecting.server.close();
    }
  });

  it('counts queue, table and blob calls with a core policy in each pipeline, with no compatibility layer', async () => {
    const counter = new StorageCallCounter();
    const clients = clientsFor(azurite, undefined, counter);
    for (const [pipeline, names] of Object.entries(policyNames(clients))) {
      assert.ok(!names.includes('RequestPolicyFactoryPolicy'), `${pipeline}: ${names.join(' ')}`);
      assert.equal(names.filter((n) => n.startsWith('async-engine-count-')).length, 1, `${pipeline}: ${names.join(' ')}`);
      // Before the retries: the calls the engine makes are counted, not the SDK's retries of them.
      assert.ok(names.findIndex((n) => n.startsWith('async-engine-count-')) < names.findIndex((n) => /retryPolicy$/i.test(n)), `${pipeline}: ${names.join(' ')}`);
    }
    const queue = clients.queues.getQueueClient(uniqueQueueName());
    await queue.create();
    await queue.sendMessage('aGVsbG8=');
    const [message] = (await queue.receiveMessages({ numberOfMessages: 1 })).receivedMessageItems;
    await queue.deleteMessage(message!.messageId, message!.popReceipt);
    await clients.payloads.create();
    await clients.payloads.getBlockBlobClient('b').uploadData(Buffer.from('payload'));
    await clients.statusTable.createTable();
    await clients.statusTable.upsertEntity({ partitionKey: 'p', rowKey: 'r', Status: 'queued' }, 'Merge');
    assert.deepEqual(counter.snapshot(), {
      'blob.admin': 1,
      'blob.write': 1,
      'queue.admin': 1,
      'queue.delete': 1,
      'queue.receive': 1,
      'queue.send': 1,
      'table.admin': 1,
      'table.update': 1,
    });
  });
});
