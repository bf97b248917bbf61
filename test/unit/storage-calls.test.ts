import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import type { PipelineResponse } from '@azure/core-rest-pipeline';
import { StorageCallCounter, classify } from '../../src/observability/storage-calls.js';
import type { StorageService } from '../../src/observability/storage-calls.js';

const QUEUE = 'https://acct.queue.core.windows.net';
const AZURITE_QUEUE = 'http://127.0.0.1:10001/devstoreaccount1';
const TABLE = 'https://acct.table.core.windows.net';
const AZURITE_TABLE = 'http://127.0.0.1:10002/devstoreaccount1';
const BLOB = 'https://acct.blob.core.windows.net';

type Case = [method: string, url: string, methodOverride: string | undefined, expected: string];

const table: Record<StorageService, Case[]> = {
  queue: [
    ['POST', `${QUEUE}/step-1/messages?messagettl=3600`, undefined, 'queue.send'],
    ['POST', `${AZURITE_QUEUE}/step-1/messages`, undefined, 'queue.send'],
    ['GET', `${QUEUE}/step-1/messages?numofmessages=32&visibilitytimeout=30`, undefined, 'queue.receive'],
    ['get', `${AZURITE_QUEUE}/step-1/messages?numofmessages=1`, undefined, 'queue.receive'],
    ['GET', `${QUEUE}/step-1/messages?peekonly=true`, undefined, 'queue.peek'],
    ['GET', `${QUEUE}/step-1/messages?peekonly=false`, undefined, 'queue.receive'],
    ['DELETE', `${QUEUE}/step-1/messages/3b6f0b6e-0c1d?popreceipt=AgAAAA`, undefined, 'queue.delete'],
    ['DELETE', `${QUEUE}/step-1/messages`, undefined, 'queue.clear'],
    ['PUT', `${QUEUE}/step-1/messages/3b6f0b6e-0c1d?popreceipt=AgAAAA&visibilitytimeout=60`, undefined, 'queue.update'],
    ['PUT', `${AZURITE_QUEUE}/step-1/messages/3b6f0b6e-0c1d?popreceipt=AgAAAA&visibilitytimeout=0`, undefined, 'queue.update'],
    ['PUT', `${QUEUE}/step-1`, undefined, 'queue.admin'],
    ['DELETE', `${QUEUE}/step-1`, undefined, 'queue.admin'],
    ['GET', `${QUEUE}/step-1?comp=metadata`, undefined, 'queue.admin'],
    ['GET', `${QUEUE}/?comp=list`, undefined, 'queue.admin'],
    ['PUT', `${QUEUE}/step-1/messages`, undefined, 'queue.admin'],
    // A queue may be called "messages": only the path below the service's own counts.
    ['GET', `${QUEUE}/messages?comp=metadata`, undefined, 'queue.admin'],
    ['DELETE', `${QUEUE}/messages`, undefined, 'queue.admin'],
    ['DELETE', `${QUEUE}/messages/messages`, undefined, 'queue.clear'],
    ['GET', `${AZURITE_QUEUE}/messages?comp=metadata`, undefined, 'queue.admin'],
    ['DELETE', `${AZURITE_QUEUE}/messages`, undefined, 'queue.admin'],
    ['GET', `${AZURITE_QUEUE}/messages/messages?numofmessages=1`, undefined, 'queue.receive'],
    ['DELETE', `${AZURITE_QUEUE}/messages/messages/3b6f0b6e-0c1d?popreceipt=AgAAAA`, undefined, 'queue.delete'],
  ],
  table: [
    ['POST', `${TABLE}/Tables`, undefined, 'table.admin'],
    ['GET', `${AZURITE_TABLE}/Tables`, undefined, 'table.admin'],
    ['DELETE', `${TABLE}/Tables('status')`, undefined, 'table.admin'],
    ['POST', `${TABLE}/status`, undefined, 'table.insert'],
    ['POST', `${AZURITE_TABLE}/status`, undefined, 'table.insert'],
    ['GET', `${TABLE}/status(PartitionKey='a',RowKey='b')`, undefined, 'table.read'],
    ['GET', `${TABLE}/status(PartitionKey=%27a%27,RowKey=%27b%27)`, undefined, 'table.read'],
    ['GET', `${TABLE}/status()`, undefined, 'table.query'],
    ['GET', `${TABLE}/status()?$filter=Status%20eq%20%27queued%27`, undefined, 'table.query'],
    ['GET', `${TABLE}/status`, undefined, 'table.query'],
    ['PATCH', `${TABLE}/status(PartitionKey='a',RowKey='b')`, undefined, 'table.update'],
    ['PUT', `${TABLE}/status(PartitionKey='a',RowKey='b')`, undefined, 'table.update'],
    ['POST', `${TABLE}/status(PartitionKey='a',RowKey='b')`, 'MERGE', 'table.update'],
    ['POST', `${TABLE}/status(PartitionKey='a',RowKey='b')`, 'PATCH', 'table.update'],
    ['POST', `${TABLE}/status(PartitionKey='a',RowKey='b')`, 'merge', 'table.update'],
    ['DELETE', `${TABLE}/status(PartitionKey='a',RowKey='b')`, undefined, 'table.delete'],
    ['POST', `${TABLE}/status(PartitionKey='a',RowKey='b')`, 'DELETE', 'table.delete'],
    ['OPTIONS', `${TABLE}/status`, undefined, 'table.admin'],
    // An entity-group transaction, whatever it holds.
    ['POST', `${TABLE}/$batch`, undefined, 'table.batch'],
    ['POST', `${AZURITE_TABLE}/$batch`, undefined, 'table.batch'],
  ],
  blob: [
    ['PUT', `${BLOB}/payloads/req-1-step-0`, undefined, 'blob.write'],
    ['GET', `${BLOB}/payloads/req-1-step-0`, undefined, 'blob.read'],
    ['HEAD', `${BLOB}/payloads/req-1-step-0`, undefined, 'blob.read'],
    ['DELETE', `${BLOB}/payloads/req-1-step-0`, undefined, 'blob.delete'],
    ['PUT', `${BLOB}/payloads?restype=container`, undefined, 'blob.admin'],
    ['DELETE', `${BLOB}/payloads?restype=container`, undefined, 'blob.admin'],
    ['GET', `${BLOB}/payloads?restype=container&comp=list`, undefined, 'blob.list'],
    ['GET', `${BLOB}/payloads?restype=container&comp=list&prefix=req-1%2F`, undefined, 'blob.list'],
    ['POST', `${BLOB}/?comp=batch`, undefined, 'blob.batch'],
    ['POST', `${BLOB}/payloads?restype=container&comp=batch`, undefined, 'blob.batch'],
    ['POST', `${BLOB}/payloads/req-1-step-0`, undefined, 'blob.admin'],
    ['PUT', `${BLOB}/payloads/locks/sweeper?comp=lease`, undefined, 'blob.lease'],
    ['PUT', `${BLOB}/payloads?restype=container&comp=lease`, undefined, 'blob.admin'],
  ],
};

describe('classify', () => {
  for (const [service, cases] of Object.entries(table) as Array<[StorageService, Case[]]>) {
    for (const [method, url, methodOverride, expected] of cases) {
      const via = methodOverride === undefined ? '' : ` (x-http-method: ${methodOverride})`;
      it(`counts ${method} ${url.replace(/^https?:\/\/[^/]+/, '')}${via} on the ${service} service as ${expected}`, () => {
        const servicePath = url.startsWith('http://127.0.0.1') ? '/devstoreaccount1' : '';
        assert.equal(classify(service, method, url, methodOverride, servicePath), expected);
      });
    }
  }
});

describe('StorageCallCounter', () => {
  it('starts with no calls', () => {
    const counter = new StorageCallCounter();
    assert.deepEqual(counter.snapshot(), {});
    assert.equal(counter.total(), 0);
  });

  it('counts recorded calls by kind, in a snapshot sorted by kind, and in total', () => {
    const counter = new StorageCallCounter();
    for (const kind of ['table.update', 'queue.send', 'queue.receive', 'queue.send', 'blob.write', 'queue.send']) counter.record(kind);
    const snapshot = counter.snapshot();
    assert.deepEqual(snapshot, { 'blob.write': 1, 'queue.receive': 1, 'queue.send': 3, 'table.update': 1 });
    assert.deepEqual(Object.keys(snapshot), ['blob.write', 'queue.receive', 'queue.send', 'table.update']);
    assert.equal(counter.total(), 6);
  });

  it('gives a snapshot that later calls do not change', () => {
    const counter = new StorageCallCounter();
    counter.record('queue.send');
    const before = counter.snapshot();
    counter.record('queue.send');
    assert.deepEqual(before, { 'queue.send': 1 });
  });

  it('forgets the counts on reset and counts again from zero', () => {
    const counter = new StorageCallCounter();
    counter.record('queue.send');
    counter.record('table.read');
    counter.reset();
    assert.deepEqual(counter.snapshot(), {});
    assert.equal(counter.total(), 0);
    counter.record('queue.send');
    assert.deepEqual(counter.snapshot(), { 'queue.send': 1 });
  });

  it('tells every listener about each call as it is recorded, also after a reset', () => {
    const counter = new StorageCallCounter();
    const first: string[] = [];
    const second: string[] = [];
    counter.onCall((kind) => first.push(kind));
    counter.record('queue.receive');
    counter.onCall((kind) => second.push(`${kind}@${counter.total()}`));
    counter.record('queue.delete');
    counter.reset();
    counter.record('blob.read');
    assert.deepEqual(first, ['queue.receive', 'queue.delete', 'blob.read']);
    // A listener runs after the count went up.
    assert.deepEqual(second, ['queue.delete@2', 'blob.read@1']);
  });

  it('counts a queue request on Azurite by the path below the account, as on Azure', async () => {
    const counter = new StorageCallCounter();
    for (const [service, url] of [[AZURITE_QUEUE, `${AZURITE_QUEUE}/step-1/messages?numofmessages=32`], [QUEUE, `${QUEUE}/step-1/messages?numofmessages=32`]] as const) {
      const request = createPipelineRequest({ url, method: 'GET' });
      await counter.corePolicy('queue', service).sendRequest(request, async () => ({ request, status: 200, headers: createHttpHeaders() }));
    }
    assert.deepEqual(counter.snapshot(), { 'queue.receive': 2 });
  });

  it('counts a Tables SDK request by its x-http-method override and passes it on unchanged', async () => {
    const counter = new StorageCallCounter();
    const policy = counter.corePolicy('table');
    const request = createPipelineRequest({
      url: `${TABLE}/status(PartitionKey='a',RowKey='b')`,
      method: 'POST',
      headers: createHttpHeaders({ 'x-http-method': 'MERGE' }),
    });
    const response: PipelineResponse = { request, status: 204, headers: createHttpHeaders() };
    const passed: unknown[] = [];
    const answered = await policy.sendRequest(request, async (next) => {
      passed.push(next);
      return response;
    });
    assert.equal(answered, response);
    assert.deepEqual(passed, [request]);
    assert.deepEqual(counter.snapshot(), { 'table.update': 1 });
  });
});

describe('storage failures', () => {
  const failures: Array<[status: number, expected: string | null]> = [
    [200, null],
    [201, null],
    [204, null],
    // Answers the engine expects: a message or row gone, a conditional write that lost, a lease held elsewhere.
    [404, null],
    [409, null],
    [412, null],
    [400, null],
    [401, '4xx'],
    [403, '4xx'],
    [429, '4xx'],
    [500, '5xx'],
    [503, '5xx'],
  ];
  for (const [status, expected] of failures) {
    it(`records an answer ${status} ${expected === null ? 'as no failure' : `as a ${expected} failure`}, through either pipeline`, async () => {
      const counter = new StorageCallCounter();
      const seen: string[] = [];
      counter.onFailure((kind, failure) => seen.push(`${kind} ${failure}`));
      const request = createPipelineRequest({ url: `${TABLE}/status(PartitionKey='a',RowKey='b')`, method: 'GET' });
      await counter.corePolicy('table').sendRequest(request, async () => ({ request, status, headers: createHttpHeaders() }));
      const send = createPipelineRequest({ url: `${QUEUE}/step-1/messages`, method: 'POST' });
      await counter.corePolicy('queue', QUEUE).sendRequest(send, async () => ({ request: send, status, headers: createHttpHeaders() }));
      assert.deepEqual(seen, expected === null ? [] : [`table.read ${expected}`, `queue.send ${expected}`]);
      assert.equal(counter.total(), 2, 'every call counts as a call');
    });
  }

  it('records a call that got no answer as an error, unless the engine aborted it', async () => {
    const counter = new StorageCallCounter();
    const seen: string[] = [];
    counter.onFailure((kind, failure) => seen.push(`${kind} ${failure}`));
    const refused = async (): Promise<never> => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    };
    const request = createPipelineRequest({ url: `${TABLE}/status`, method: 'POST' });
    await assert.rejects(counter.corePolicy('table').sendRequest(request, refused), /ECONNREFUSED/);
    const aborted = createPipelineRequest({ url: `${TABLE}/status`, method: 'POST', abortSignal: AbortSignal.abort() });
    await assert.rejects(counter.corePolicy('table').sendRequest(aborted, refused), /ECONNREFUSED/);
    assert.deepEqual(seen, ['table.insert error']);
  });
});
