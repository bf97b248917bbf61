/**
 * Retention (retention.config) through the time index: what is deleted when, what stays, and what
 * the sweep does with index rows it did not write or that lost their target.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { DlqTable } from '../../src/storage/dlq-table.js';
import { bucketOf, DueIndexTable, partitionKeyOf, shardOf } from '../../src/storage/due-index.js';
import { IndexCommitter } from '../../src/storage/index-committer.js';
import { PayloadStore } from '../../src/storage/payloads.js';
import { type RequestStatus, StatusTable } from '../../src/storage/status-table.js';
import { echo, type Handler } from '../support/endpoints.js';
import { engineSuite, getStatus, submit, type TestEngine, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { indexRowsOf, retentionDocument, statusTableRows } from '../support/retention.js';

const WAIT = { timeoutInMs: 60_000, intervalInMs: 200 };
const signal = (): AbortSignal => AbortSignal.timeout(30_000);
const later = (ms: number): Date => new Date(Date.now() + ms);

async function statusCode(url: string): Promise<number> {
  const response = await fetch(url);
  await response.arrayBuffer();
  return response.status;
}

async function blobsOf(e: TestEngine, requestId: string): Promise<string[]> {
  return new PayloadStore({ container: e.runtime.storage.clients.payloads, inlineLimitBytes: 0 }).listOfRequest(requestId, signal());
}

async function dlqEntries(e: TestEngine): Promise<string[]> {
  return (await new DlqTable(e.runtime.storage.clients.dlqTable).list(null, 1000, null, signal())).items.map((i) => i.dlqId);
}

const tableOf = (e: TestEngine) => e.runtime.storage.clients.statusTable;

/** A completed request's row as the engine writes it, finished `ago` ms ago. */
function completedRow(id: string, flow: string, ago: number, extra: Partial<RequestStatus> = {}): RequestStatus {
  const at = new Date(Date.now() - ago);
  return {
    id,
    flow,
    status: 'completed',
    step: 0,
    stepQueue: 'q',
    attempt: 1,
    createdAt: at,
    updatedAt: at,
    completedAt: at,
    lastHttpStatus: 200,
    lastError: null,
    callbackUrl: null,
    callbackStatus: null,
    result: { contentType: 'text/plain', bytes: Buffer.from('done') },
    dlqId: null,
    lastMessageId: null,
    submittedBy: null,
    ...extra,
  };
}

describe('retention', () => {
  const suite = engineSuite();

  it("deletes a completed request's status row, result and every payload blob completedMs after completion, by itself; the DLQ is untouched", async () => {
    const server = await suite.endpoint(echo);
    const e = await suite.engine(
      retentionDocument(suite.azurite, { steps: [{ url: server.url() }, { url: server.url() }], retention: { completedMs: 1500 }, sweepInMs: 1000, inlineLimitBytes: 1000 }),
    );
    const large = await submit(e, 'flow', JSON.stringify({ pad: 'x'.repeat(5000) }));
    const small = await submit(e, 'flow', '{"small":true}');
    await waitForStatus(e, large, 'completed');
    await waitForStatus(e, small, 'completed');
    // A blob a crash left behind under the request's prefix goes too.
    await new PayloadStore({ container: e.runtime.storage.clients.payloads, inlineLimitBytes: 0 }).put(large, 'step-7', Buffer.from('orphan'), signal());
    assert.ok((await blobsOf(e, large)).length >= 2, 'the result blob and the orphan');

    for (const id of [large, small]) {
      await eventually(async () => assert.equal(await statusCode(`${e.url}/api/requests/${id}`), 404), WAIT);
      assert.equal(await statusCode(`${e.url}/api/requests/${id}/result`), 404);
    }
    assert.deepEqual(await blobsOf(e, large), []);
    assert.deepEqual(await dlqEntries(e), []);
    const rows = await statusTableRows(tableOf(e));
    assert.deepEqual([rows.requests, indexRowsOf(rows, large), indexRowsOf(rows, small)], [[], [], []]);
    const deleted = e.logged('retention.deleted').reduce((n, l) => n + Number(l['completed']), 0);
    assert.equal(deleted, 2);
    const metrics = await (await fetch(`${e.url}/actuator/prometheus`)).text();
    assert.match(metrics, /^async_engine_retention_deleted_total\{kind="completed"\} [1-9]\d*$/m);
    assert.match(metrics, /^async_engine_storage_operations_total\{kind="blob.batch"\} [1-9]\d*$/m);
  });

  it("deletes a dead-lettered request's status row after deadLetteredMs, keeps its DLQ entry and input; a replay makes the row again, indexed, and completedMs null keeps it", async () => {
    let handler: Handler = () => ({ status: 400 });
    const server = await suite.endpoint((call, i) => handler(call, i));
    const e = await suite.engine(
      retentionDocument(suite.azurite, {
        steps: [{ url: server.url() }],
        retention: { completedMs: null, deadLetteredMs: 1000 },
        inlineLimitBytes: 1000,
        extra: { 'redelivery.config': { default: { count: 0, delay: 0 } } },
      }),
    );
    const id = await submit(e, 'flow', JSON.stringify({ pad: 'y'.repeat(5000) }));
    await waitForStatus(e, id, 'dead-lettered');
    const [dlqId] = await dlqEntries(e);
    assert.ok(dlqId);
    const inputs = await blobsOf(e, id);
    assert.equal(inputs.length, 1, 'the input blob');

    const counts = await e.runtime.engine.sweep(later(5000));
    assert.equal(counts.deleted['dead-lettered'], 1);
    assert.equal(await statusCode(`${e.url}/api/requests/${id}`), 404);
    assert.deepEqual(await dlqEntries(e), [dlqId], 'the DLQ entry stays');
    assert.deepEqual(await blobsOf(e, id), inputs, 'and the input it replays');
    assert.deepEqual(indexRowsOf(await statusTableRows(tableOf(e)), id), []);

    handler = echo;
    const replay = await fetch(`${e.url}/api/dlq/${encodeURIComponent(dlqId)}/replay`, { method: 'POST' });
    assert.equal(replay.status, 202);
    assert.equal(indexRowsOf(await statusTableRows(tableOf(e)), id).length, 1, 'the row made again has its index row');
    const status = await waitForStatus(e, id, 'completed');
    assert.equal(status['step'], 0);
    assert.deepEqual(await dlqEntries(e), []);

    // completedMs null: kept for ever, and the index lets go of it.
    await e.runtime.engine.sweep(later(10 * 24 * 3_600_000));
    assert.equal((await getStatus(e, id))['status'], 'completed');
    assert.deepEqual(indexRowsOf(await statusTableRows(tableOf(e)), id), []);
  });

  it('does not delete a request whose callback is still pending, and deletes it once the callback is recorded', async () => {
    const e = await suite.engine(retentionDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }], retention: { completedMs: 1000 } }));
    const statusTable = new StatusTable(tableOf(e));
    const index = new DueIndexTable(tableOf(e));
    const id = randomUUID();
    // Written as an engine whose callback never settled would have left it.
    await statusTable.create(completedRow(id, 'flow', 3_600_000, { callbackUrl: 'http://127.0.0.1:9/hook', callbackStatus: 'pending' }), signal());
    await index.upsert([{ checkAt: later(1000), target: { kind: 'request', requestId: id, idempotencyPartitionKey: null }, createdAt: new Date() }], signal());

    const counts = await e.runtime.engine.sweep(later(5000));
    assert.deepEqual([counts.visited, counts.deleted.completed], [1, 0]);
    assert.equal((await getStatus(e, id))['status'], 'completed');
    const [next] = indexRowsOf(await statusTableRows(tableOf(e)), id);
    assert.ok(next, 'looked at again later');
    assert.ok(Number(next.rowKey.slice(0, 13)) >= Date.now() + 60_000, `not before a minute: ${next.rowKey}`);

    await statusTable.setCallbackStatus(id, 'delivered', signal());
    // An hour overdue: looked at again in half an hour (a callback that never settles costs little).
    assert.equal((await e.runtime.engine.sweep(later(2 * 3_600_000))).deleted.completed, 1);
    assert.equal(await statusCode(`${e.url}/api/requests/${id}`), 404);
  });

  it('deletes an idempotency record idempotencyMs after its claim, but not a key claimed again by a newer request', async () => {
    const server = await suite.endpoint(echo);
    const e = await suite.engine(retentionDocument(suite.azurite, { steps: [{ url: server.url() }], retention: { completedMs: null, idempotencyMs: 1000 } }));
    const key = { 'idempotency-key': `k-${randomUUID()}` };
    const first = await submit(e, 'flow', '{}', key);
    await waitForStatus(e, first, 'completed');
    // Once the key is past idempotencyMs, the same key starts a new request, which claims the record.
    const second = await eventually(async () => {
      const id = await submit(e, 'flow', '{}', key);
      assert.notEqual(id, first);
      return id;
    }, WAIT);
    const recordOf = async (): Promise<unknown> => {
      const rows = await statusTableRows(tableOf(e));
      assert.equal(rows.idempotency.length, 1);
      return (await tableOf(e).getEntity(rows.idempotency[0]!, 'idempotency'))['RequestId'];
    };
    assert.equal(await recordOf(), second);

    // The first request's index row is due, and names the record: it now protects the second.
    await e.runtime.engine.sweep(new Date());
    assert.equal(await recordOf(), second, 'the newer claim keeps its protection');

    const counts = await e.runtime.engine.sweep(later(5000));
    assert.equal(counts.deleted.idempotency, 1);
    assert.deepEqual((await statusTableRows(tableOf(e))).idempotency, []);
    assert.equal((await getStatus(e, first))['status'], 'completed', 'completedMs null keeps the requests');
    const third = await submit(e, 'flow', '{}', key);
    assert.ok(third !== first && third !== second, 'the key is free again');
  });

  it('keeps index, meta and idempotency rows out of the request listing, and answers 404 for ids that look like them without asking storage', async () => {
    const e = await suite.engine(retentionDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }], retention: {} }));
    await e.runtime.engine.close(); // requests stay queued
    const ids = [await submit(e, 'flow', '{}', { 'idempotency-key': 'listed' }), await submit(e, 'flow', '{}')];
    const rows = await statusTableRows(tableOf(e));
    assert.equal(rows.index.length, 2);
    assert.equal(rows.idempotency.length, 1);
    assert.deepEqual(rows.other, [{ partitionKey: 'meta~index', rowKey: 'meta' }]);
    const listing = (await (await fetch(`${e.url}/api/requests?limit=100`)).json()) as { items: Array<{ id: string }> };
    assert.deepEqual(listing.items.map((i) => i.id).sort(), [...ids].sort());

    e.storageCalls.reset();
    const lookalikes = [rows.index[0]!.partitionKey, `${rows.index[0]!.partitionKey}/result`, 'meta~index', rows.idempotency[0]!, `${ids[0]!}~x`];
    for (const path of lookalikes) assert.equal(await statusCode(`${e.url}/api/requests/${encodeURIComponent(path)}`), 404, path);
    assert.equal(e.storageCalls.total(), 0);
  });

  it('acts only on what the rows themselves say: forged or damaged index rows are removed, and what they name is left as its own rows say', async () => {
    const server = await suite.endpoint(echo);
    const e = await suite.engine(retentionDocument(suite.azurite, { steps: [{ url: server.url() }], retention: { completedMs: 86_400_000, idempotencyMs: 86_400_000 } }));
    const key = { 'idempotency-key': `forged-${randomUUID()}` };
    const victim = await submit(e, 'flow', '{}', key);
    await waitForStatus(e, victim, 'completed');
    const before = await statusTableRows(tableOf(e));
    const [record] = before.idempotency;
    assert.ok(record);
    const now = Date.now();
    const partition = (id: string): string => partitionKeyOf(bucketOf(new Date(now)), shardOf(id));
    const rowKey = (id: string): string => `${String(now).padStart(13, '0')}~${id}`;
    const other = randomUUID();
    const forged: Array<Record<string, unknown> & { partitionKey: string; rowKey: string }> = [
      // Garbage of every kind, in due partitions.
      { partitionKey: partition(victim), rowKey: `${'0'.repeat(13)}~garbage` },
      { partitionKey: partition(victim), rowKey: rowKey('not-a-request'), RequestId: 'not-a-request', CreatedAt: new Date(0) },
      { partitionKey: partition(victim), rowKey: `${rowKey(victim)}x`, RequestId: victim, CreatedAt: new Date(0) },
      { partitionKey: partitionKeyOf(bucketOf(new Date(now)), (shardOf(victim) + 1) % 16), rowKey: rowKey(victim), RequestId: victim, CreatedAt: new Date(0) },
      // Well formed: the victim is not due, and its record names it, not `other`.
      { partitionKey: partition(victim), rowKey: rowKey(victim), RequestId: victim, IdempotencyPartitionKey: record, CreatedAt: new Date(0) },
      { partitionKey: partition(other), rowKey: rowKey(other), RequestId: other, IdempotencyPartitionKey: record, CreatedAt: new Date(0) },
      // An "idempotency record" that is another table row: the index row does not parse, and nothing is read.
      { partitionKey: partition(other), rowKey: `${String(now + 1).padStart(13, '0')}~${other}`, RequestId: other, IdempotencyPartitionKey: victim, CreatedAt: new Date(0) },
    ];
    for (const entity of forged) await tableOf(e).upsertEntity(entity, 'Replace');

    const counts = await e.runtime.engine.sweep(later(2000));
    assert.equal(counts.retried, 0);
    assert.deepEqual(counts.deleted, { completed: 0, 'dead-lettered': 0, idempotency: 0, 'replay-job': 0 });
    assert.equal((await getStatus(e, victim))['status'], 'completed');
    const after = await statusTableRows(tableOf(e));
    assert.deepEqual(after.idempotency, [record]);
    assert.deepEqual(after.requests, [victim]);
    const left = new Set(after.index.map((r) => `${r.partitionKey}/${r.rowKey}`));
    for (const entity of forged) assert.ok(!left.has(`${entity.partitionKey}/${entity.rowKey}`), `removed: ${entity.partitionKey}/${entity.rowKey}`);
    assert.ok(indexRowsOf(after, victim).length >= 1, 'the victim is still indexed');
    assert.equal(e.logged('retention.index_row_unreadable').length, 5);
  });

  it('removes an index row whose request was never stored, and settles a request indexed twice once', async () => {
    const e = await suite.engine(retentionDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }], retention: { completedMs: 1000 } }));
    const index = new DueIndexTable(tableOf(e));
    const orphan = randomUUID();
    const twice = randomUUID();
    await new StatusTable(tableOf(e)).create(completedRow(twice, 'flow', 60_000), signal());
    const entry = (id: string, offset: number) => ({ checkAt: later(1000 + offset), target: { kind: 'request' as const, requestId: id, idempotencyPartitionKey: null }, createdAt: new Date() });
    await index.upsert([entry(orphan, 0), entry(twice, 0), entry(twice, 1)], signal());

    const counts = await e.runtime.engine.sweep(later(5000));
    assert.deepEqual([counts.visited, counts.deleted.completed, counts.retried], [3, 1, 0]);
    const rows = await statusTableRows(tableOf(e));
    assert.deepEqual([rows.requests, rows.index], [[], []]);
  });

  it("shares one index transaction among submissions that arrive together", async () => {
    const e = await suite.engine(retentionDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }], retention: {} }));
    await e.runtime.engine.close();
    e.storageCalls.reset();
    const n = 48;
    const ids = await Promise.all(Array.from({ length: n }, (_, i) => submit(e, 'flow', `{"i":${i}}`)));
    assert.equal(e.storageCalls.snapshot()['table.insert'], n, 'one status row each');
    const rows = await statusTableRows(tableOf(e));
    for (const id of ids) assert.equal(indexRowsOf(rows, id).length, 1, id);

    // How many HTTP submissions overlap depends on the machine; rows handed to the writer together
    // (as overlapping submissions hand theirs) go in one transaction, after the one in flight.
    const committer = new IndexCommitter(new DueIndexTable(tableOf(e)));
    e.storageCalls.reset();
    const later = new Date(Date.now() + 86_400_000);
    await Promise.all(
      Array.from({ length: n }, () =>
        committer.add({ checkAt: later, target: { kind: 'request', requestId: committer.createRequestId(), idempotencyPartitionKey: null }, createdAt: new Date() }, AbortSignal.timeout(30_000)),
      ),
    );
    await committer.close();
    const batches = e.storageCalls.snapshot()['table.batch'] ?? 0;
    assert.ok(batches >= 1 && batches <= 2, `${batches} index transactions for ${n} rows handed over together`);
  });
});
