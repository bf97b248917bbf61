/**
 * Group commit of the index rows that the ingress (and a DLQ replay or job) writes before the row
 * they look after exists (due-index.ts). Each submission waits for its index row before its status
 * insert; done one call each, that would add a storage call per request. Instead rows are
 * committed together: while a commit is in flight, rows that arrive wait for the next, which takes
 * them all, grouped by partition, up to 100 per entity-group transaction. There is no timer: a lone
 * submission waits one round trip, and a busy ingress shares one call among many submissions.
 *
 * Sharing needs a shared partition. A new request's id is random except for its first hex digit,
 * its shard, which {@link IndexCommitter.createRequestId} takes from the commit now collecting; the
 * shard moves on with each commit (and after 100 rows), so the rows of concurrent submissions share
 * a partition, and over time every shard gets its sixteenth of the writes. Rows whose id is given
 * (a replayed request, a job) go into their own shard's partition, with whatever shares it.
 *
 * At most one commit is in flight per process, so at most one transaction per partition; a
 * partition with more than 100 rows in one commit sends its transactions one after another.
 *
 * Failures. A transaction is atomic: its rows are all written or none, and each waiting writer gets
 * the outcome of its own transaction. A writer that gives up waiting (its deadline) leaves its row
 * to be committed anyway: an index row whose request was never stored is removed by the sweep.
 */
import { randomInt } from 'node:crypto';
import { EngineError } from '../errors.js';
import { type DueIndexTable, type IndexEntry, keysOf, MAX_TRANSACTION_ACTIONS, randomIdInShard, SHARD_COUNT } from './due-index.js';

/** The longest one commit may take; a writer's own deadline is usually shorter. */
const COMMIT_TIMEOUT_IN_MS = 30_000;

interface Waiting {
  entry: IndexEntry;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class IndexCommitter {
  readonly #index: DueIndexTable;
  readonly #stop = new AbortController();
  #collecting: Waiting[] = [];
  #inFlight: Promise<void> | null = null;
  #shard = randomInt(SHARD_COUNT);
  /** New ids handed out in #shard for the commit now collecting. */
  #idsInShard = 0;
  #closing: Promise<void> | undefined;

  constructor(index: DueIndexTable) {
    this.#index = index;
  }

  /** A new request id (a random UUID v4) in the shard of the commit now collecting (see above). */
  createRequestId(): string {
    if (this.#idsInShard >= MAX_TRANSACTION_ACTIONS) this.#nextShard();
    this.#idsInShard++;
    return randomIdInShard(this.#shard);
  }

  /** Commits `entry` with whatever arrives alongside; resolves once it is stored. */
  add(entry: IndexEntry, abortSignal: AbortSignal): Promise<void> {
    if (this.#stop.signal.aborted) return Promise.reject(new EngineError('AE_SHUTDOWN', 'the index writer is closed'));
    const stored = new Promise<void>((resolve, reject) => this.#collecting.push({ entry, resolve, reject }));
    // A writer that gave up does not hear the outcome; nothing may go unhandled.
    stored.catch(() => undefined);
    this.#inFlight ??= this.#commitWhileCollecting();
    return whenStoredOrAborted(stored, abortSignal);
  }

  /** Waits for the commit in flight (and those it leaves), accepts no more rows. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort();
      await this.#inFlight;
    })();
    return this.#closing;
  }

  #nextShard(): void {
    this.#shard = (this.#shard + 1) % SHARD_COUNT;
    this.#idsInShard = 0;
  }

  async #commitWhileCollecting(): Promise<void> {
    while (this.#collecting.length > 0) {
      const batch = this.#collecting;
      this.#collecting = [];
      // Submissions arriving from now on collect for the next commit, in the next shard.
      this.#nextShard();
      await this.#commit(batch);
    }
    this.#inFlight = null;
  }

  async #commit(batch: readonly Waiting[]): Promise<void> {
    const byPartition = new Map<string, Waiting[]>();
    for (const waiting of batch) {
      const { partitionKey } = keysOf(waiting.entry);
      const list = byPartition.get(partitionKey);
      if (list) list.push(waiting);
      else byPartition.set(partitionKey, [waiting]);
    }
    const signal = AbortSignal.timeout(COMMIT_TIMEOUT_IN_MS);
    await Promise.all(
      [...byPartition.values()].map(async (list) => {
        for (let i = 0; i < list.length; i += MAX_TRANSACTION_ACTIONS) {
          const chunk = list.slice(i, i + MAX_TRANSACTION_ACTIONS);
          try {
            await this.#index.upsertTransaction(
              chunk.map((w) => w.entry),
              signal,
            );
            for (const w of chunk) w.resolve();
          } catch (err) {
            for (const w of chunk) w.reject(err);
          }
        }
      }),
    );
  }
}

function whenStoredOrAborted(stored: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    stored.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
