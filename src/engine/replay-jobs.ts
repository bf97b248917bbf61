/**
 * DLQ replay jobs: POST /api/dlq/replay?flow= starts one and is answered at once; the job replays
 * the flow's entries in the background, REPLAY_CONCURRENCY at a time, in the engine that received
 * the POST (each entry as engine/replay.ts does it, claim first). Its progress lives in storage
 * (storage/replay-jobs.ts), so every replica answers for it; it is written every
 * PROGRESS_EVERY_ENTRIES entries or PROGRESS_EVERY_IN_MS, whichever comes first, and at the end
 * with `done: true`.
 *
 * Stopping. close(), or the `closing` signal (the shutdown's drain deadline), stops the job: it
 * takes no more entries and aborts those under way (engine/replay.ts says what that leaves), writes
 * its progress once more (best effort, briefly) and stays `done: false`. A job whose engine died
 * keeps the progress it last wrote, `done: false`. A listing that keeps failing ends a job the same
 * way. In every case the answer is to POST again: replayed entries are gone from the DLQ, and the
 * claims keep two replays off one entry.
 *
 * Entries dead-lettered while a job runs are newer than where it is in the listing (newest first),
 * so it does not meet them, and a request that fails again is not replayed twice by one job.
 *
 * Retention. A job's index row is stored before its row (request-index.ts), so the retention sweep
 * deletes the row retention.config.completedMs after the job ended (see due-rules.ts).
 */
import { pause, whenSettledOrAborted } from '../common/pause.js';
import { EngineError, isEngineError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { DlqPage, StoredDlqEntry } from '../storage/dlq-table.js';
import { createReplayJobId, type ReplayJob, type ReplayJobTable } from '../storage/replay-jobs.js';
import { type ReplayDeps, replayEntry } from './replay.js';

export interface ReplayJobsOptions extends ReplayDeps {
  jobTable: ReplayJobTable;
  /** Aborts at the shutdown's drain deadline: running jobs stop there. */
  closing: AbortSignal;
}

/** Entries of one job replayed at once. */
export const REPLAY_CONCURRENCY = 8;
/** Entries listed at once; an inline body is up to 32 KiB, so a page holds at most about 3 MiB. */
const PAGE_SIZE = 100;
const PROGRESS_EVERY_ENTRIES = 25;
const PROGRESS_EVERY_IN_MS = 1000;
const CALL_TIMEOUT_IN_MS = 30_000;
/** Tries of a listing or of the final progress write, 1 s, 2 s ... apart. */
const TRIES = 3;
/** At shutdown: how long the last progress write may take, and how long close() waits in all. */
const STOP_WRITE_TIMEOUT_IN_MS = 250;
const STOP_WAIT_IN_MS = 500;

export class ReplayJobs {
  readonly #deps: ReplayDeps;
  readonly #jobTable: ReplayJobTable;
  readonly #stop = new AbortController();
  /** Aborted by close() or by the shutdown's `closing`. */
  readonly #signal: AbortSignal;
  readonly #running = new Set<Promise<void>>();
  readonly #log: Logger;
  #closing: Promise<void> | undefined;

  constructor({ jobTable, closing, ...deps }: ReplayJobsOptions) {
    this.#deps = deps;
    this.#jobTable = jobTable;
    this.#signal = AbortSignal.any([closing, this.#stop.signal]);
    this.#log = deps.log;
  }

  /**
   * Starts replaying every entry of `flow` in the background and returns the job once its row is
   * stored (so any replica finds it at once). AE_SHUTDOWN while the engine stops.
   */
  async start(flow: string, abortSignal: AbortSignal): Promise<ReplayJob> {
    const { job } = await this.#launch(flow, () => undefined, abortSignal);
    return { ...job };
  }

  /**
   * Replays every entry of `flow` like {@link start}, and resolves with the job once it has ended:
   * done, or stopped by close() (then `done: false`). `onProgress` sees the counts once the job is
   * stored and after each entry. For the command line, which runs the job itself; its row is
   * stored all the same, so every engine answers for it meanwhile.
   */
  async run(flow: string, { onProgress, abortSignal }: { onProgress: (job: Readonly<ReplayJob>) => void; abortSignal: AbortSignal }): Promise<ReplayJob> {
    const { job, run } = await this.#launch(flow, onProgress, abortSignal);
    await run;
    return { ...job };
  }

  /** Stores a new job's row, then starts it; the job object is the one the run counts on. */
  async #launch(flow: string, onProgress: (job: Readonly<ReplayJob>) => void, abortSignal: AbortSignal): Promise<{ job: ReplayJob; run: Promise<void> }> {
    this.#throwIfStopped();
    const now = new Date();
    const job: ReplayJob = { jobId: createReplayJobId(), flow, replayed: 0, skipped: 0, failed: 0, done: false, startedAt: now, updatedAt: now };
    await this.#deps.index.addReplayJob(job.jobId, now, abortSignal);
    await this.#jobTable.create(job, abortSignal);
    // close() may have begun meanwhile; it would not wait for a job started now.
    this.#throwIfStopped();
    onProgress({ ...job });
    const run = this.#run(job, onProgress).finally(() => this.#running.delete(run));
    this.#running.add(run);
    return { job, run };
  }

  /** The job as last written, from storage; null for an unknown or malformed id. */
  get(jobId: string, abortSignal: AbortSignal): Promise<ReplayJob | null> {
    return this.#jobTable.get(jobId, abortSignal);
  }

  /** Stops the running jobs and waits briefly for their last progress writes. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#stop.abort(new EngineError('AE_SHUTDOWN', 'the engine is shutting down'));
    if (!(await whenSettledOrAborted([...this.#running], AbortSignal.timeout(STOP_WAIT_IN_MS)))) {
      this.#log.warn({ jobs: this.#running.size }, 'dlq.replay_jobs_stop_timed_out');
    }
  }

  #throwIfStopped(): void {
    if (this.#signal.aborted) throw new EngineError('AE_SHUTDOWN', 'the engine is shutting down; start the replay again on another engine', { expose: true });
  }

  async #run(job: ReplayJob, onProgress: (job: Readonly<ReplayJob>) => void): Promise<void> {
    const log = this.#log.child({ jobId: job.jobId, flow: job.flow });
    log.info({}, 'dlq.replay_job_started');
    const inFlight = new Set<Promise<void>>();
    const tried = (): number => job.replayed + job.skipped + job.failed;
    let written = { at: performance.now(), tried: 0 };
    const writeIfDue = async (): Promise<void> => {
      if (tried() - written.tried < PROGRESS_EVERY_ENTRIES && performance.now() - written.at < PROGRESS_EVERY_IN_MS) return;
      written = { at: performance.now(), tried: tried() };
      await this.#write(job, AbortSignal.any([this.#signal, AbortSignal.timeout(CALL_TIMEOUT_IN_MS)])).catch((err: unknown) => {
        if (!this.#signal.aborted) log.warn({ err }, 'dlq.replay_job_write_failed');
      });
    };
    try {
      let cursor: string | null = null;
      do {
        const page: DlqPage = await this.#list(job.flow, cursor, log);
        for (const entry of page.items) {
          while (inFlight.size >= REPLAY_CONCURRENCY) {
            await Promise.race(inFlight);
            await writeIfDue();
          }
          if (this.#signal.aborted) break;
          const task: Promise<void> = this.#replayOne(job, entry, log).finally(() => {
            inFlight.delete(task);
            onProgress({ ...job });
          });
          inFlight.add(task);
        }
        cursor = page.nextCursor;
      } while (cursor !== null && !this.#signal.aborted);
      await Promise.all(inFlight);
      job.done = !this.#signal.aborted;
    } catch (err) {
      // Only the listing throws (the entries' tasks never do).
      if (!this.#signal.aborted) log.error({ err }, 'dlq.replay_job_list_failed');
      await Promise.all(inFlight);
    }
    await this.#writeLast(job, log);
    const counts = { replayed: job.replayed, skipped: job.skipped, failed: job.failed };
    if (job.done) log.info(counts, 'dlq.replay_job_finished');
    else log.warn(counts, 'dlq.replay_job_stopped');
  }

  /** Replays one entry and counts it; never rejects. */
  async #replayOne(job: ReplayJob, entry: StoredDlqEntry, log: Logger): Promise<void> {
    const fields = { dlqId: entry.dlqId, requestId: entry.requestId };
    try {
      const outcome = await replayEntry(this.#deps, entry, job.jobId, this.#signal);
      if (outcome.kind === 'replayed') {
        job.replayed++;
        log.info(fields, 'dlq.replayed');
      } else {
        log.debug({ ...fields, until: outcome.until }, 'dlq.replay_claimed_elsewhere');
      }
    } catch (err) {
      if (isEngineError(err, 'AE_REPLAY_IMPOSSIBLE')) {
        job.skipped++;
        log.info({ ...fields, reason: err.message }, 'dlq.replay_skipped');
      } else if (!this.#signal.aborted) {
        // Stopped mid-way counts as nothing: the entry was not replayed, nor given up on.
        job.failed++;
        log.warn({ ...fields, err }, 'dlq.replay_failed');
      }
    }
  }

  async #list(flow: string, cursor: string | null, log: Logger): Promise<DlqPage> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#deps.dlqTable.list(flow, PAGE_SIZE, cursor, AbortSignal.any([this.#signal, AbortSignal.timeout(CALL_TIMEOUT_IN_MS)]));
      } catch (err) {
        if (attempt >= TRIES || this.#signal.aborted) throw err;
        log.warn({ err, attempt }, 'dlq.replay_list_retry');
        await pause(1000 * attempt, this.#signal);
      }
    }
  }

  /** The last progress write: a few tries, or one brief one once the job was stopped. */
  async #writeLast(job: ReplayJob, log: Logger): Promise<void> {
    for (let attempt = 1; attempt <= TRIES; attempt++) {
      const isStopping = this.#signal.aborted;
      try {
        await this.#write(job, isStopping ? AbortSignal.timeout(STOP_WRITE_TIMEOUT_IN_MS) : AbortSignal.any([this.#signal, AbortSignal.timeout(CALL_TIMEOUT_IN_MS)]));
        return;
      } catch (err) {
        log.warn({ err, attempt }, 'dlq.replay_job_write_failed');
        if (isStopping) return;
        await pause(1000 * attempt, this.#signal);
      }
    }
  }

  #write(job: ReplayJob, abortSignal: AbortSignal): Promise<void> {
    job.updatedAt = new Date();
    return this.#jobTable.upsert({ ...job }, abortSignal);
  }
}
