/**
 * Soak: many requests through a 3-step flow with a completedMs of a few seconds; once retention has
 * run, the status table, the payload container and the idempotency records are back where they
 * were, and the DLQ is untouched. `npm test` runs 300 requests (the whole suite shares 2 cores and
 * an in-memory Azurite that slows as it fills); SOAK_REQUESTS=2000 runs the 2,000:
 *   SOAK_REQUESTS=2000 node --test --test-timeout=1800000 dist/test/engine/retention-soak.test.js
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
const CLIENTS = 8;
/** Generous: the emulator shares 2 cores with the other suites. */
const TIMEOUT_IN_MS = 120_000 + REQUESTS * 300;

/** What a user sees, each item with the request it belongs to. */
interface Snapshot {
  requests: string[];
  /** `{request id} {partition}/{row}` */
  index: string[];
  /** `{request id} {partition}` */
  idempotency: string[];
  other: string[];
  blobs: string[];
  dlq: string[];
}

async function snapshot(e: TestEngine): Promise<Snapshot> {
  const table = e.runtime.storage.clients.statusTable;
  const rows = await statusTableRows(table);
  const idempotency = await Promise.all(rows.idempotency.map(async (pk) => `${String((await table.getEntity(pk, 'idempotency'))['RequestId'])} ${pk}`));
  const blobs: string[] = [];
  for await (const blob of e.runtime.storage.clients.payloads.listBlobsFlat()) blobs.push(blob.name);
  const dlq = await new DlqTable(e.runtime.storage.clients.dlqTable).list(null, 1000, null, AbortSignal.timeout(30_000));
  return {
    requests: rows.requests.sort(),
    index: rows.index.map((r) => `${String(r['RequestId'])} ${r.partitionKey}/${r.rowKey}`).sort(),
    idempotency: idempotency.sort(),
    other: rows.other.map((r) => `${r.partitionKey}/${r.rowKey}`).sort(),
    blobs: blobs.sort(),
    dlq: dlq.items.map((i) => `${i.dlqId}:${i.etag}`).sort(),
  };
}

/**
 * `now` with what belongs to none of `accepted` removed when it was not in `baseline`: rows of
 * submissions that failed (503: storage did not answer in 10 s) may stay behind, as they would
 * without retention (the ingress could not tell whether its insert landed); the expiry sweep records
 * such a request as expired after its queue's timeToLive.
 */
function withoutUnaccepted(now: Snapshot, baseline: Snapshot, accepted: ReadonlySet<string>): Snapshot {
  const keep = (items: string[], old: string[]): string[] => items.filter((item) => old.includes(item) || accepted.has(item.split(/[ /]/)[0] ?? ''));
  return {
    ...now,
    requests: keep(now.requests, baseline.requests),
    index: keep(now.index, baseline.index),
    idempotency: keep(now.idempotency, baseline.idempotency),
    blobs: keep(now.blobs, baseline.blobs),
  };
}

/**
 * Submits as a well-behaved client does: a 503 (storage did not answer in time: the machine is
 * shared and the emulator slows as it fills) is tried again. Each body is unique, so a retried
 * submission that was stored after all shows up as one more completed request.
 */
async function submitPatiently(e: TestEngine, body: string, headers: Record<string, string>, failures: { count: number }): Promise<string> {
  for (let tries = 1; ; tries++) {
    try {
      return await submit(e, 'flow', body, headers);
    } catch (err) {
      if (tries >= 5 || !String(err).includes('answered 503')) throw err;
      failures.count++;
    }
  }
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
    const accepted = new Set<string>();
    const failures = { count: 0 };
    let next = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = next++; i < REQUESTS; i = next++) {
          const body = JSON.stringify({ i, ...(i % 10 === 0 ? { pad: 'p'.repeat(3000) } : {}) });
          accepted.add(await submitPatiently(e, body, i % 5 === 0 ? { 'idempotency-key': `soak-${i}` } : {}, failures));
        }
      }),
    );
    const submittedInMs = performance.now() - started;
    await eventually(() => assert.ok(e.logged('step.completed').length >= REQUESTS), { timeoutInMs: TIMEOUT_IN_MS, intervalInMs: 500 });
    const processedInMs = performance.now() - started;
    await eventually(async () => assert.deepEqual(withoutUnaccepted(await snapshot(e), baseline, accepted), baseline), { timeoutInMs: TIMEOUT_IN_MS, intervalInMs: 1000 });
    const final = await snapshot(e);
    if (failures.count === 0) assert.deepEqual(final, baseline);
    const deleted = { completed: 0, idempotency: 0 };
    for (const line of e.logged('retention.deleted')) {
      deleted.completed += Number(line['completed']);
      deleted.idempotency += Number(line['idempotency']);
    }
    t.diagnostic(
      `${REQUESTS} requests: submitted in ${Math.round(submittedInMs)} ms, completed in ${Math.round(processedInMs)} ms, back at the baseline after ${Math.round(performance.now() - started)} ms; ` +
        `deleted ${JSON.stringify(deleted)}; ${failures.count} submissions answered 503 and were tried again, leaving ${final.requests.length - baseline.requests.length} rows; ` +
        `storage calls ${JSON.stringify(e.storageCalls.snapshot())}`,
    );
    assert.equal(deleted.completed, e.logged('step.completed').length, 'every completed request, once');
    if (failures.count === 0) assert.equal(deleted.idempotency, REQUESTS / 5);
    assert.equal(e.logged('sweep.partition_failed').length + e.logged('retention.visit_failed').length, 0);
  });
});
