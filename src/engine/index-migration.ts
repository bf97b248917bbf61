/**
 * The one-off pass that indexes what earlier versions wrote without an index row (due-index.ts):
 * their status rows and idempotency records. The sweeper runs it, a page at a time, resumably.
 *
 * Which rows. Those created before the cutoff: when the first engine of this version started
 * against the table (it created the meta row, index-meta.ts), plus an allowance for a rolling
 * upgrade (an hour by default) while replicas of the earlier version still write. The pass starts
 * once the cutoff has passed. It scans `RowKey eq 'status' and CreatedAt lt {cutoff}`, then
 * `RowKey eq 'idempotency' and CreatedAt lt {cutoff}`, and skips what this version wrote
 * (`Indexed: true`: indexed already). The limit: a row an earlier version writes after the cutoff
 * is never indexed, so never swept (nothing of it is deleted, and it is not recorded as expired);
 * finish a rolling upgrade within the allowance. A table that held no request or idempotency
 * record at the first start needs no pass.
 *
 * Index rows. An old status row gets one at its next check-at as due-rules.ts judges it now (at
 * once when it is stale or past its retention; none when it is kept for ever); an old idempotency
 * record one naming its request and itself, at its due time. They go in transactions per partition.
 *
 * Progress. After each page the meta row records where the scan stands (the table's continuation
 * token) and how many rows were indexed, If-Match its ETag, so a pass stopped anywhere (the sweeper
 * stopped, lost its lease or crashed) is taken up by the next sweeper at the last recorded page. A
 * crash between a page's index rows and its progress indexes that page again: duplicate index rows,
 * whose second visit finds nothing to do. Two sweepers overlapping at a handover: one progress write
 * fails, and that sweeper reads the row again and goes on from there.
 */
import { pause } from '../common/pause.js';
import type { Logger } from '../observability/log.js';
import type { DueIndexTable, IndexEntry } from '../storage/due-index.js';
import { isRequestId } from '../storage/envelope.js';
import type { IdempotencyKeys } from '../storage/idempotency-keys.js';
import type { IndexMeta, IndexMetaTable, MigrationProgress } from '../storage/index-meta.js';
import type { StatusTable } from '../storage/status-table.js';
import { type DueRules, MIN_WAIT_IN_MS } from './due-rules.js';

export interface IndexMigrationOptions {
  meta: IndexMetaTable;
  index: DueIndexTable;
  statusTable: StatusTable;
  idempotency: IdempotencyKeys;
  rules: DueRules;
  /** Rows read a page at a time (Azure returns at most 1,000). */
  pageSize: number;
  /** The meta row said so at start-up: the duty has nothing to do, and reads nothing. */
  isDone: boolean;
  log: Logger;
}

/** The longest wait before the cutoff is looked at again (the pass may be under way on another replica). */
const MAX_WAIT_FOR_CUTOFF_IN_MS = 60_000;
const RETRY_DELAY_IN_MS = 30_000;

export class IndexMigration {
  readonly #meta: IndexMetaTable;
  readonly #index: DueIndexTable;
  readonly #statusTable: StatusTable;
  readonly #idempotency: IdempotencyKeys;
  readonly #rules: DueRules;
  readonly #pageSize: number;
  readonly #log: Logger;
  /** Once done, a pass stays done. */
  #isDone: boolean;

  constructor({ meta, index, statusTable, idempotency, rules, pageSize, isDone, log }: IndexMigrationOptions) {
    this.#isDone = isDone;
    this.#meta = meta;
    this.#index = index;
    this.#statusTable = statusTable;
    this.#idempotency = idempotency;
    this.#rules = rules;
    this.#pageSize = pageSize;
    this.#log = log;
  }

  /** The sweeper's duty: runs the pass while `term` lasts, once its cutoff has passed; returns once it is done. */
  async run(term: AbortSignal, signal: AbortSignal): Promise<void> {
    while (!term.aborted && !this.#isDone) {
      try {
        const read = await this.#meta.get(signal);
        if (read === null) return;
        if (read.meta.migration.state === 'done') {
          this.#isDone = true;
          return;
        }
        const waitInMs = read.meta.migration.cutoff.getTime() - Date.now();
        if (waitInMs > 0) {
          await pause(Math.min(waitInMs, MAX_WAIT_FOR_CUTOFF_IN_MS), term);
          continue;
        }
        await this.#page(read.meta, read.etag, new Date(), signal);
      } catch (err) {
        if (signal.aborted) return;
        this.#log.warn({ err }, 'index.migration_failed');
        await pause(RETRY_DELAY_IN_MS, term);
      }
    }
  }

  /**
   * Runs up to `maxPages` pages as of `now`, whatever the cutoff (tests, and operators' tools);
   * returns the progress then recorded.
   */
  async migrate(now: Date, signal: AbortSignal, maxPages = Number.POSITIVE_INFINITY): Promise<MigrationProgress | null> {
    for (let pages = 0; pages < maxPages; pages++) {
      const read = await this.#meta.get(signal);
      if (read === null || read.meta.migration.state === 'done') return read?.meta.migration ?? null;
      await this.#page(read.meta, read.etag, now, signal);
    }
    return (await this.#meta.get(signal))?.meta.migration ?? null;
  }

  /** Indexes one page and records the progress, If-Match `etag` (another writer first: nothing recorded, the page is read again). */
  async #page(meta: IndexMeta, etag: string, now: Date, signal: AbortSignal): Promise<void> {
    const progress = meta.migration;
    if (progress.state === 'done') return;
    const { cutoff, phase, cursor } = progress;
    let entries: IndexEntry[];
    let nextCursor: string | null;
    if (phase === 'status') {
      const page = await this.#statusTable.listCreatedBefore(cutoff, this.#pageSize, cursor, signal);
      entries = page.items.filter((row) => !row.isIndexed).flatMap((row): IndexEntry[] => {
        const plan = this.#rules.statusPlan(row.status, now);
        if (plan.kind === 'keep') return [];
        const checkAt = plan.kind === 'wait' ? plan.until : new Date(now.getTime() + MIN_WAIT_IN_MS);
        return [{ checkAt, target: { kind: 'request', requestId: row.status.id, idempotencyPartitionKey: null }, createdAt: row.status.createdAt }];
      });
      nextCursor = page.nextCursor;
    } else {
      const page = await this.#idempotency.listCreatedBefore(cutoff, this.#pageSize, cursor, signal);
      entries = page.items
        .filter((record) => !record.isIndexed && isRequestId(record.requestId))
        .flatMap((record): IndexEntry[] => {
          const dueAt = this.#rules.idempotencyDueAt(record.createdAt);
          if (dueAt === null) return [];
          const checkAt = new Date(Math.max(dueAt.getTime(), now.getTime() + MIN_WAIT_IN_MS));
          return [{ checkAt, target: { kind: 'request', requestId: record.requestId, idempotencyPartitionKey: record.partitionKey }, createdAt: record.createdAt }];
        });
      nextCursor = page.nextCursor;
    }
    await this.#index.upsert(entries, signal);
    const indexed = progress.indexed + entries.length;
    let migration: MigrationProgress;
    if (nextCursor !== null) migration = { ...progress, cursor: nextCursor, indexed };
    else if (phase === 'status') migration = { ...progress, phase: 'idempotency', cursor: null, indexed };
    else migration = { state: 'done', finishedAt: now };
    if ((await this.#meta.update({ ...meta, migration }, etag, signal)) === null) return;
    this.#log.debug({ phase, indexed }, 'index.migration_page');
    if (migration.state === 'done') this.#log.info({ indexed, cutoff: cutoff.toISOString() }, 'index.migrated');
  }
}
