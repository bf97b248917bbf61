/**
 * Soak: many requests through a 3-step flow with a completedMs of a few seconds; once retention has
 * run, the status table, the payload container and the idempotency records are back where they
 * were, and the DLQ is untouched. `npm test` runs 300 requests (the whole suite shares 2 cores and
 * an in-memory Azurite that slows as it fills); SOAK_REQUESTS=2000 runs the 2,000:
 *   SOAK_REQUESTS=2000 node --test --test-timeout=600000 dist/test/engine/retention-soak.test.js
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DlqTable } from '../../src/storage/dlq-table.js';
import { startAzurite, type TestAzurite } from '../support/azurite.js';
import { EndpointServer, echo } from '../support/endpoints.js';
import { configOf, startEngine, submit, type TestEngine, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { indexRowsOf, retentionDocument, statusTableRows } from '../support/retention.js';

const REQUESTS = Number(process.env['SOAK_REQUESTS'] ?? 300);
const CLIENTS = 16;

interface Snapshot {
  requests: string[];
  index: string[];
  idempotency: string[];
  other: string[];
  blobs: string[];
  dlq: string[];
}

async function snapshot(e: TestEngine): Promise<Snapshot> {
  const rows = await statusTableRows(e.runtime.storage.clients.statusTable);
  const blobs: string[] = [];
  for await (const blob of e.runtime.storage.clients.payloads.listBlobsFlat()) blobs.push(blob.name);
  const dlq = await new DlqTable(e.runtime.storage.clients.dlqTable).list(null, 1000, null, AbortSignal.timeout(30_000));
  return {
    requests: rows.requests.sort(),
    index: rows.index.map((r) => `${r.partitionKey}/${r.rowKey}`).sort(),
    idempotency: rows.idempotency.sort(),
    other: rows.other.map((r) => `${r.partitionKey}/${r.rowKey}`).sort(),
    blobs: blobs.sort(),
    dlq: dlq.items.map((i) => `${i.dlqId}:${i.etag}`).sort(),
  };
}

describe('retention under load', () => {
  let azurite: TestAzurite;
  let server: EndpointServer;
  let e: TestEngine;
  before(async () => {
    azurite = await startAzurite();
    server = await EndpointServer.start((call, i) => (call.body.includes('"fail":true') ? { status: 400 } : echo(call, i)));
  });
  after(async () => {
    await e?.close();
    await server.close();
    await azurite.close();
  });

  it(`brings the status table, the payload container and the idempotency records back to where they were after ${REQUESTS} requests, and leaves the DLQ alone`, async (t) => {
    const steps = [{ url: server.url() }, { url: server.url() }, { url: server.url() }];
    e = await startEngine(
      configOf(
        retentionDocument(azurite, {
          steps,
          retention: { completedMs: 3000, deadLetteredMs: null, idempotencyMs: 3000 },
          sweepInMs: 1000,
          inlineLimitBytes: 1000,
          queue: { maxMessages: 32, delay: 50 },
          extra: { 'redelivery.config': { default: { count: 0, delay: 0 } }, 'threadpool.config': { maxPoolSize: 64 } },
        }),
      ),
    );
    // What was there before: a dead-lettered request (kept for ever) with its DLQ entry and input blob.
    const dead = await submit(e, 'flow', JSON.stringify({ fail: true, pad: 'z'.repeat(2000) }));
    await waitForStatus(e, dead, 'dead-lettered');
    await eventually(async () => assert.deepEqual(indexRowsOf(await statusTableRows(e.runtime.storage.clients.statusTable), dead), []), { timeoutInMs: 30_000 });
    const baseline = await snapshot(e);
    assert.equal(baseline.dlq.length, 1);
    assert.equal(baseline.blobs.length, 2, 'the lock blob and the dead request\'s input');

    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = next++; i < REQUESTS; i = next++) {
          const body = JSON.stringify({ i, ...(i % 10 === 0 ? { pad: 'p'.repeat(3000) } : {}) });
          await submit(e, 'flow', body, i % 5 === 0 ? { 'idempotency-key': `soak-${i}` } : {});
        }
      }),
    );
    const submittedInMs = performance.now() - started;
    await eventually(() => assert.equal(e.logged('step.completed').length, REQUESTS), { timeoutInMs: 600_000, intervalInMs: 500 });
    const processedInMs = performance.now() - started;
    await eventually(async () => assert.deepEqual(await snapshot(e), baseline), { timeoutInMs: 300_000, intervalInMs: 1000 });
    const deleted = { completed: 0, idempotency: 0 };
    for (const line of e.logged('retention.deleted')) {
      deleted.completed += Number(line['completed']);
      deleted.idempotency += Number(line['idempotency']);
    }
    t.diagnostic(
      `${REQUESTS} requests: submitted in ${Math.round(submittedInMs)} ms, completed in ${Math.round(processedInMs)} ms, back at the baseline after ${Math.round(performance.now() - started)} ms; ` +
        `deleted ${JSON.stringify(deleted)}; storage calls ${JSON.stringify(e.storageCalls.snapshot())}`,
    );
    assert.deepEqual(deleted, { completed: REQUESTS, idempotency: REQUESTS / 5 });
    assert.equal(e.logged('sweep.partition_failed').length + e.logged('retention.visit_failed').length, 0);
  });
});
