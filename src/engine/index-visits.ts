/**
 * What the sweep does with one page of due index rows (index-sweep.ts reads them, a page from one
 * partition). Each row's target is read and judged by due-rules.ts, and only what that row says
 * counts: an index row is a hint of when to look, never a reason to delete. Then the writes go out
 * together, in this order:
 *   1. stale requests are expired while they are judged (expiry.ts: DLQ entry, then status If-Match);
 *   2. the payload blobs of due completed requests are deleted (Blob Batch, 256 a call): every blob
 *      under the request's prefix, orphans of crashes included;
 *   3. due status rows are deleted If-Match the ETag they were judged by: a row that changed
 *      meanwhile (a replay reset a dead-lettered row, a callback was recorded) stays and is judged
 *      again at the next sweep;
 *   4. due idempotency records are deleted if they still name their request, If-Match: a key claimed
 *      again by a newer request keeps its protection;
 *   5. due replay jobs are deleted;
 *   6. the next index rows are written (re-index), then the visited ones removed: one transaction
 *      each per partition.
 * A crash between any two steps leaves the visited index row in place, so the next sweep judges it
 * again from what storage holds then: blobs already gone are not listed, a row already gone counts
 * as done, an expired row waits for its retention. Between 6's write and its removal a target is
 * indexed twice, which costs a second visit that finds nothing to do. A row that cannot be judged
 * now (a storage error, a write that lost to another writer) keeps its index row, due, for the next
 * sweep; a row that does not parse as one the engine writes is removed, and nothing else with it.
 */
import { mapConcurrently } from '../common/concurrency.js';
import type { Logger } from '../observability/log.js';
import { retentionDeletedTotal } from '../observability/metrics.js';
import { type DueIndexTable, type IndexEntry, type IndexKeys, keysOf, type StoredIndexRow } from '../storage/due-index.js';
import type { IdempotencyKeys, KeyRecord } from '../storage/idempotency-keys.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { ReplayJobTable } from '../storage/replay-jobs.js';
import type { StatusTable } from '../storage/status-table.js';
import { type DueRules, MIN_WAIT_IN_MS } from './due-rules.js';
import { type ExpiryDeps, expireRequest } from './expiry.js';

export type RetentionKind = 'completed' | 'dead-lettered' | 'idempotency' | 'replay-job';

/** What one sweep did. */
export interface SweepCounts {
  /** Index rows visited. */
  visited: number;
  /** Requests recorded as expired. */
  expired: number;
  deleted: Record<RetentionKind, number>;
  /** Visited rows left as they were, to be judged again (a write lost, a storage error). */
  retried: number;
}

export function emptyCounts(): SweepCounts {
  return { visited: 0, expired: 0, deleted: { completed: 0, 'dead-lettered': 0, idempotency: 0, 'replay-job': 0 }, retried: 0 };
}

export interface IndexVisitsOptions {
  rules: DueRules;
  index: DueIndexTable;
  statusTable: StatusTable;
  idempotency: IdempotencyKeys;
  payloads: PayloadStore;
  replayJobs: ReplayJobTable;
  expiry: ExpiryDeps;
  log: Logger;
}

/** What is left of one part of a row's target: nothing, a look at `at`, or a look at the next sweep (keep the index row). */
type Next = { kind: 'done' } | { kind: 'at'; at: Date } | { kind: 'again' };

interface Judged {
  row: StoredIndexRow;
  main: Next;
  idempotency: Next;
  deleteStatus: { id: string; etag: string; kind: 'completed' | 'dead-lettered'; blobs: string[] } | null;
  deleteKey: KeyRecord | null;
  deleteJob: string | null;
}

/** Rows judged at once: each is one to three reads in a row. */
const JUDGE_CONCURRENCY = 8;
const DONE: Next = { kind: 'done' };
const AGAIN: Next = { kind: 'again' };

export class IndexVisits {
  readonly #rules: DueRules;
  readonly #index: DueIndexTable;
  readonly #statusTable: StatusTable;
  readonly #idempotency: IdempotencyKeys;
  readonly #payloads: PayloadStore;
  readonly #replayJobs: ReplayJobTable;
  readonly #expiry: ExpiryDeps;
  readonly #log: Logger;

  constructor({ rules, index, statusTable, idempotency, payloads, replayJobs, expiry, log }: IndexVisitsOptions) {
    this.#rules = rules;
    this.#index = index;
    this.#statusTable = statusTable;
    this.#idempotency = idempotency;
    this.#payloads = payloads;
    this.#replayJobs = replayJobs;
    this.#expiry = expiry;
    this.#log = log;
  }

  /** Settles one page of due rows of one partition at `now`, adding to `counts`. */
  async settle(rows: readonly StoredIndexRow[], now: Date, counts: SweepCounts, signal: AbortSignal): Promise<void> {
    const judged = await mapConcurrently(rows, JUDGE_CONCURRENCY, (row) => this.#judgeSafely(row, now, counts, signal));
    counts.visited += rows.length;
    await this.#deleteTargets(judged, counts, signal);

    const next: IndexEntry[] = [];
    const visited: IndexKeys[] = [];
    for (const j of judged) {
      if (j.main.kind === 'again' || j.idempotency.kind === 'again') {
        counts.retried++;
        continue;
      }
      const entry = j.row.entry;
      const at = [j.main, j.idempotency].flatMap((n) => (n.kind === 'at' ? [n.at.getTime()] : []));
      if (entry !== null && at.length > 0) {
        const target = entry.target.kind === 'request' && j.idempotency.kind !== 'at' ? { ...entry.target, idempotencyPartitionKey: null } : entry.target;
        const reindexed: IndexEntry = { checkAt: new Date(Math.min(...at)), target, createdAt: entry.createdAt };
        if (keysOf(reindexed).rowKey === j.row.keys.rowKey && keysOf(reindexed).partitionKey === j.row.keys.partitionKey) continue;
        next.push(reindexed);
      }
      visited.push(j.row.keys);
    }
    // The new rows first: a crash before the removal leaves a row indexed twice, never not at all.
    await this.#index.upsert(next, signal);
    await this.#index.delete(visited, signal);
  }

  async #judgeSafely(row: StoredIndexRow, now: Date, counts: SweepCounts, signal: AbortSignal): Promise<Judged> {
    const judged: Judged = { row, main: DONE, idempotency: DONE, deleteStatus: null, deleteKey: null, deleteJob: null };
    try {
      const { entry } = row;
      if (entry === null) {
        this.#log.warn({ partitionKey: row.keys.partitionKey, rowKey: row.keys.rowKey.slice(0, 200) }, 'retention.index_row_unreadable');
      } else if (entry.target.kind === 'replay-job') {
        await this.#judgeJob(entry.target.jobId, now, judged, signal);
      } else {
        await this.#judgeRequest(entry.target.requestId, now, judged, counts, signal);
        if (entry.target.idempotencyPartitionKey !== null) await this.#judgeKey(entry.target.requestId, entry.target.idempotencyPartitionKey, entry.createdAt, now, judged, signal);
      }
    } catch (err) {
      if (signal.aborted) throw err;
      this.#log.warn({ err, partitionKey: row.keys.partitionKey, rowKey: row.keys.rowKey.slice(0, 200) }, 'retention.visit_failed');
      return { ...judged, main: AGAIN, deleteStatus: null, deleteKey: null, deleteJob: null };
    }
    return judged;
  }

  async #judgeRequest(id: string, now: Date, judged: Judged, counts: SweepCounts, signal: AbortSignal): Promise<void> {
    const rules = this.#rules;
    const row = await this.#statusTable.get(id, signal);
    // Gone: retention deleted it, or the ingress never stored it (a crash after the index row).
    if (row === null) return;
    const plan = rules.statusPlan(row.status, now);
    switch (plan.kind) {
      case 'keep':
        return;
      case 'wait':
        judged.main = { kind: 'at', at: plan.until };
        return;
      case 'expire': {
        const expired = await expireRequest(this.#expiry, row, plan.ttlInMs, now, signal);
        if (expired === null) {
          judged.main = AGAIN;
          return;
        }
        counts.expired++;
        const after = rules.statusPlan(expired, now);
        // Its new ETag is not known here: a dead-lettered retention of 0 deletes it at the next sweep.
        judged.main = after.kind === 'keep' ? DONE : { kind: 'at', at: after.kind === 'wait' ? after.until : new Date(now.getTime() + MIN_WAIT_IN_MS) };
        return;
      }
      case 'delete': {
        const kind = row.status.status === 'completed' ? 'completed' : 'dead-lettered';
        // A dead-lettered request's blobs stay: its DLQ entry names them for a replay.
        const blobs = kind === 'completed' ? await this.#payloads.listOfRequest(id, signal) : [];
        judged.deleteStatus = { id, etag: row.etag, kind, blobs };
        return;
      }
      default:
        throw new Error(`unhandled plan ${(plan satisfies never as { kind: string }).kind}`);
    }
  }

  async #judgeKey(requestId: string, partitionKey: string, createdAt: Date, now: Date, judged: Judged, signal: AbortSignal): Promise<void> {
    const rules = this.#rules;
    const dueAt = rules.idempotencyDueAt(createdAt);
    if (dueAt === null) return;
    if (dueAt > now) {
      judged.idempotency = { kind: 'at', at: dueAt };
      return;
    }
    const record = await this.#idempotency.get(partitionKey, signal);
    // Gone, or claimed again by another request since (it keeps its protection).
    if (record === null || record.requestId !== requestId) return;
    const recordDueAt = rules.idempotencyDueAt(record.createdAt);
    if (recordDueAt === null) return;
    if (recordDueAt > now) judged.idempotency = { kind: 'at', at: recordDueAt };
    else judged.deleteKey = record;
  }

  async #judgeJob(jobId: string, now: Date, judged: Judged, signal: AbortSignal): Promise<void> {
    const job = await this.#replayJobs.get(jobId, signal);
    if (job === null) return;
    const plan = this.#rules.jobPlan(job, now);
    if (plan.kind === 'wait') judged.main = { kind: 'at', at: plan.until };
    else if (plan.kind === 'delete') judged.deleteJob = jobId;
  }

  /** Steps 2 to 5: blobs, status rows, idempotency records, jobs. */
  async #deleteTargets(judged: Judged[], counts: SweepCounts, signal: AbortSignal): Promise<void> {
    const log = this.#log;
    const completing = judged.filter((j) => j.deleteStatus !== null && j.deleteStatus.blobs.length > 0);
    if (completing.length > 0) {
      try {
        await this.#payloads.deleteMany(
          completing.flatMap((j) => j.deleteStatus?.blobs ?? []),
          signal,
        );
      } catch (err) {
        if (signal.aborted) throw err;
        log.warn({ err, requests: completing.length }, 'retention.blobs_delete_failed');
        // Their rows stay until their blobs are gone: a row is never deleted before its blobs.
        for (const j of completing) Object.assign(j, { main: AGAIN, deleteStatus: null });
      }
    }
    const count = (kind: RetentionKind): void => {
      counts.deleted[kind]++;
      retentionDeletedTotal.inc({ kind });
    };
    const attempt = async (j: Judged, what: string, write: () => Promise<void>): Promise<void> => {
      try {
        await write();
      } catch (err) {
        if (signal.aborted) throw err;
        log.warn({ err, partitionKey: j.row.keys.partitionKey, rowKey: j.row.keys.rowKey.slice(0, 200) }, `retention.${what}_delete_failed`);
        j.main = AGAIN;
      }
    };
    await mapConcurrently(judged, JUDGE_CONCURRENCY, async (j) => {
      const { deleteStatus, deleteKey, deleteJob } = j;
      if (deleteStatus !== null) {
        await attempt(j, 'status', async () => {
          const outcome = await this.#statusTable.deleteIfUnchanged(deleteStatus.id, deleteStatus.etag, signal);
          if (outcome === 'deleted') count(deleteStatus.kind);
          else if (outcome === 'changed') j.main = AGAIN;
        });
      }
      if (deleteKey !== null) {
        await attempt(j, 'idempotency', async () => {
          if (await this.#idempotency.deleteIfUnchanged(deleteKey, signal)) count('idempotency');
        });
      }
      if (deleteJob !== null) {
        await attempt(j, 'replay_job', async () => {
          await this.#replayJobs.delete(deleteJob, signal);
          count('replay-job');
        });
      }
    });
  }
}
