/**
 * What one sweep costs does not grow with the table: with the same rows due, a sweep over 2,000
 * and over 20,000 status rows makes the same storage calls. The rows are written straight to the
 * tables (as the engine would have: each status row with its index row), on a fresh Azurite.
 */
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { TableClient } from '@azure/data-tables';
import { DueIndexTable, type IndexEntry, randomIdInShard, SHARD_COUNT } from '../../src/storage/due-index.js';
import { startAzurite, type TestAzurite } from '../support/azurite.js';
import { configOf, startEngine } from '../support/engine.js';
import { retentionDocument, statusTableRows } from '../support/retention.js';

const DUE_PER_SHARD = 4;
const WRITERS = 64;
const DAY_IN_MS = 24 * 3_600_000;

/** Writes `count` completed status rows finished `agoInMs` ago, and their index rows at `checkAt(i)`. */
async function writeRows(table: TableClient, count: number, agoInMs: number, checkAt: (i: number) => Date, idOf: (i: number) => string): Promise<string[]> {
  const at = new Date(Date.now() - agoInMs);
  const ids = Array.from({ length: count }, (_, i) => idOf(i));
  let next = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (let i = next++; i < count; i = next++) {
        await table.createEntity({ partitionKey: ids[i]!, rowKey: 'status', Flow: 'flow', Status: 'completed', Step: 0, StepQueue: 'q', Attempt: 1, CreatedAt: at, UpdatedAt: at, CompletedAt: at, Indexed: true });
      }
    }),
  );
  const entries: IndexEntry[] = ids.map((id, i) => ({ checkAt: checkAt(i), target: { kind: 'request', requestId: id, idempotencyPartitionKey: null }, createdAt: at }));
  const signal = AbortSignal.timeout(300_000);
  setMaxListeners(0, signal); // one listener per transaction under way
  await new DueIndexTable(table).upsert(entries, signal);
  return ids;
}

describe('the cost of a sweep', () => {
  let azurite: TestAzurite;
  before(async () => {
    azurite = await startAzurite();
  });
  after(async () => {
    await azurite.close();
  });

  /** One sweep's storage calls over a table of `total` requests, DUE_PER_SHARD of each shard due. */
  async function sweepCalls(total: number, diagnostic: (message: string) => void): Promise<Record<string, number>> {
    const e = await startEngine(configOf(retentionDocument(azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }], retention: { completedMs: 3_600_000 } })));
    try {
      await e.runtime.engine.close(); // no pollers, no sweeper: only the sweep below touches storage
      const table = e.runtime.storage.clients.statusTable;
      const started = performance.now();
      const due = SHARD_COUNT * DUE_PER_SHARD;
      // Not due: finished a minute ago, looked at again when they are (in an hour), or later in the week.
      await writeRows(table, total - due, 60_000, (i) => new Date(Date.now() + 3_600_000 + (i % 7) * DAY_IN_MS), () => randomIdInShard(Math.floor(Math.random() * SHARD_COUNT)));
      // Due: finished two hours ago, looked at a second from now; the same number in every shard.
      await writeRows(table, due, 2 * 3_600_000, () => new Date(Date.now() + 1000), (i) => randomIdInShard(i % SHARD_COUNT));
      diagnostic(`${total} rows written in ${Math.round(performance.now() - started)} ms`);

      e.storageCalls.reset();
      const sweepStarted = performance.now();
      const counts = await e.runtime.engine.sweep(new Date(Date.now() + 5000));
      const calls = e.storageCalls.snapshot();
      diagnostic(`the sweep over ${total} rows took ${Math.round(performance.now() - sweepStarted)} ms: ${JSON.stringify(calls)}`);
      assert.deepEqual([counts.visited, counts.deleted.completed, counts.retried], [due, due, 0]);
      const left = await statusTableRows(table);
      assert.equal(left.requests.length, total - due);
      return calls;
    } finally {
      await e.close();
    }
  }

  it('makes the same storage calls over 2,000 and 20,000 status rows with the same rows due', async (t) => {
    const small = await sweepCalls(2000, (m) => t.diagnostic(m));
    const large = await sweepCalls(20_000, (m) => t.diagnostic(m));
    assert.deepEqual(large, small);
    // The meta row, 16 shards of the last two hour buckets, and per due row its status read, blob
    // listing and status delete; per shard one transaction removing its index rows.
    const due = SHARD_COUNT * DUE_PER_SHARD;
    assert.deepEqual(small, { 'blob.list': due, 'table.batch': SHARD_COUNT, 'table.delete': due, 'table.query': 2 * SHARD_COUNT, 'table.read': 1 + due });
  });
});
