/**
 * The sweep over the time index (storage/due-index.ts), run by the elected sweeper every
 * server.config.expirySweepMs: it reads only the index rows that are due and hands them to
 * index-visits.ts, which expires stale requests and deletes what retention.config lets go. It
 * replaces a scan of the status table: its cost depends on what is due, not on the table.
 *
 * What it reads. The index meta row (one read), then hour buckets: always the current one and the
 * one before (a row written a moment ago may be due by now), and older ones from the watermark on,
 * at most {@link MAX_CATCH_UP_BUCKETS} a sweep, oldest first (after a long outage the sweeps catch
 * up a day at a time while recent rows still come due). In each bucket, each of the 16 shards is
 * asked for `RowKey lt '{now}~'`, a page of up to 100 rows; a full page is followed by the next,
 * from where it ended, up to {@link MAX_ROWS_PER_SWEEP} rows a sweep. So a sweep with nothing due
 * makes 1 + 32 calls (16 more per catch-up bucket), whatever the table holds, and each due row adds
 * the calls of its visit.
 *
 * The watermark (the oldest bucket that may still hold rows) moves past a bucket once the bucket
 * ended more than {@link WATERMARK_GRACE_IN_MS} ago (writers put no check-at before their own
 * clock; the grace covers clock skew and slow writes) and all 16 shards were found empty by this
 * sweep; rows this sweep moved out of a bucket let the next sweep pass it. It is written If-Match:
 * two sweepers overlapping at a handover cannot move it back.
 *
 * Crash safety is the visits' (index-visits.ts): an index row is removed only after what it
 * called for is done, so a sweep cut off anywhere is taken up by the next one.
 */
import { setMaxListeners } from 'node:events';
import { pause } from '../common/pause.js';
import type { Logger } from '../observability/log.js';
import { addHours, bucketOf, type DueIndexTable, partitionKeyOf, SHARD_COUNT } from '../storage/due-index.js';
import type { IndexMetaTable } from '../storage/index-meta.js';
import { emptyCounts, type IndexVisits, type SweepCounts } from './index-visits.js';

export interface IndexSweepOptions {
  index: DueIndexTable;
  meta: IndexMetaTable;
  visits: IndexVisits;
  intervalInMs: number;
  /** The rolling-upgrade allowance of a meta row created here (see index-migration.ts). */
  migrationDelayInMs: number;
  log: Logger;
}

/** Rows read at once from one partition: one transaction's worth of index writes. */
const PAGE_SIZE = 100;
/** Buckets older than the last two read by one sweep. */
export const MAX_CATCH_UP_BUCKETS = 24;
/** Most index rows one sweep visits; the next sweep takes the rest. */
const MAX_ROWS_PER_SWEEP = 10_000;
/** How long after a bucket ends the watermark may pass it. */
const WATERMARK_GRACE_IN_MS = 10 * 60_000;
/** Node's default warning threshold for listeners on one target. */
const DEFAULT_MAX_LISTENERS = 10;
/** Storage calls one partition's visits have under way at once (index-visits.ts judges 8 rows at a time, each a call at a time). */
const LISTENERS_PER_PARTITION = 10;
/** How far back a sweep looks when the meta row is gone (someone deleted it): longer than any default retention. */
const LOOKBACK_WITHOUT_META_IN_HOURS = 40 * 24;

export class IndexSweep {
  readonly #index: DueIndexTable;
  readonly #meta: IndexMetaTable;
  readonly #visits: IndexVisits;
  readonly #intervalInMs: number;
  readonly #migrationDelayInMs: number;
  readonly #log: Logger;

  constructor({ index, meta, visits, intervalInMs, migrationDelayInMs, log }: IndexSweepOptions) {
    this.#index = index;
    this.#meta = meta;
    this.#visits = visits;
    this.#intervalInMs = intervalInMs;
    this.#migrationDelayInMs = migrationDelayInMs;
    this.#log = log;
  }

  /**
   * Sweeps every intervalInMs while `term` lasts (this replica is the sweeper), the first time one
   * interval after it began: a sweeper that takes over from another does not add a sweep. Once
   * `term` ends, the page under way finishes and no other starts; `signal` aborts the storage calls.
   */
  async run(term: AbortSignal, signal: AbortSignal): Promise<void> {
    for (;;) {
      await pause(this.#intervalInMs, term);
      if (term.aborted) return;
      try {
        await this.sweep(new Date(), signal, term);
      } catch (err) {
        if (signal.aborted) return;
        this.#log.warn({ err }, 'sweep.failed');
      }
    }
  }

  /**
   * One sweep as of `now`. Once `until` aborts it starts no other page (the one under way
   * finishes); `signal` aborts its storage calls.
   */
  async sweep(now: Date, outer: AbortSignal, until: AbortSignal = outer): Promise<SweepCounts> {
    // Every storage call under way listens to the signal: up to 16 shards' visits at once, which
    // is expected, not a leak. A signal of the sweep's own keeps Node's warning threshold elsewhere.
    const aborting = new AbortController();
    const onAbort = (): void => aborting.abort(outer.reason);
    if (outer.aborted) onAbort();
    else outer.addEventListener('abort', onAbort, { once: true });
    setMaxListeners(SHARD_COUNT * LISTENERS_PER_PARTITION + DEFAULT_MAX_LISTENERS, aborting.signal);
    const started = performance.now();
    try {
      const counts = await this.#sweepAll(now, aborting.signal, until);
      this.#log.debug({ visited: counts.visited, retried: counts.retried, durationInMs: Math.round(performance.now() - started) }, 'sweep.done');
      return counts;
    } finally {
      outer.removeEventListener('abort', onAbort);
    }
  }

  async #sweepAll(now: Date, signal: AbortSignal, until: AbortSignal): Promise<SweepCounts> {
    const read = await this.#meta.get(signal);
    const watermark = read?.meta.watermark ?? addHours(bucketOf(now), -LOOKBACK_WITHOUT_META_IN_HOURS);
    const current = bucketOf(now);
    const counts = emptyCounts();
    const budget = { rows: MAX_ROWS_PER_SWEEP };
    const empty = new Set<string>();
    for (const bucket of bucketsToRead(watermark, current)) {
      if (until.aborted) break;
      const seen = await Promise.all(Array.from({ length: SHARD_COUNT }, (_, shard) => this.#sweepPartition(partitionKeyOf(bucket, shard), now, counts, budget, signal, until)));
      if (!seen.includes(true)) empty.add(bucket);
    }
    await this.#advanceWatermark(read, watermark, empty, now, signal);
    this.#report(counts);
    return counts;
  }

  /** Visits the due rows of one partition; whether it held any. */
  async #sweepPartition(partitionKey: string, now: Date, counts: SweepCounts, budget: { rows: number }, signal: AbortSignal, until: AbortSignal): Promise<boolean> {
    let after: string | null = null;
    let hasRows = false;
    try {
      while (!until.aborted && budget.rows > 0) {
        const rows = await this.#index.listDue(partitionKey, { before: now, after, limit: PAGE_SIZE }, signal);
        if (rows.length === 0) break;
        hasRows = true;
        budget.rows -= rows.length;
        await this.#visits.settle(rows, now, counts, signal);
        if (rows.length < PAGE_SIZE) break;
        // Rows left as they were (to be judged again) are behind this key: not met twice in a sweep.
        after = rows.at(-1)?.keys.rowKey ?? null;
      }
    } catch (err) {
      if (signal.aborted) throw err;
      this.#log.warn({ err, partitionKey }, 'sweep.partition_failed');
      return true;
    }
    return hasRows;
  }

  async #advanceWatermark(read: Awaited<ReturnType<IndexMetaTable['get']>>, watermark: string, empty: ReadonlySet<string>, now: Date, signal: AbortSignal): Promise<void> {
    const limit = bucketOf(new Date(now.getTime() - WATERMARK_GRACE_IN_MS));
    let next = watermark;
    while (next < limit && empty.has(next)) next = addHours(next, 1);
    if (read === null) {
      // Someone deleted it: made again as at a first start, but looking back as far as this sweep did.
      await this.#meta.open(now, this.#migrationDelayInMs, signal, watermark);
      this.#log.warn({ watermark }, 'sweep.index_meta_recreated');
      return;
    }
    if (next > watermark && (await this.#meta.update({ ...read.meta, watermark: next }, read.etag, signal)) !== null) {
      this.#log.debug({ from: watermark, to: next }, 'sweep.watermark_advanced');
    }
  }

  #report(counts: SweepCounts): void {
    const { deleted, expired } = counts;
    if (expired > 0) this.#log.warn({ expired }, 'sweep.expired_requests');
    if (Object.values(deleted).some((n) => n > 0)) {
      this.#log.info({ completed: deleted.completed, deadLettered: deleted['dead-lettered'], idempotency: deleted.idempotency, replayJobs: deleted['replay-job'] }, 'retention.deleted');
    }
  }
}

/** The catch-up buckets from the watermark, oldest first, then the last two. */
export function bucketsToRead(watermark: string, current: string): string[] {
  const previous = addHours(current, -1);
  const buckets: string[] = [];
  for (let b = watermark; b < previous && buckets.length < MAX_CATCH_UP_BUCKETS; b = addHours(b, 1)) buckets.push(b);
  return [...buckets, previous, current];
}
