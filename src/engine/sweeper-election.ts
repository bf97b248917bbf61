/**
 * Elects the sweeper: of the replicas that share a lock blob (storage/lock-blob.ts), the one that
 * holds its lease runs the sweeps, so their storage cost does not multiply with the replicas. The
 * others stand by and ask for the lease every `acquireIntervalInMs` (a third of the lease period in
 * production), so one of them takes over within about a lease period when the sweeper dies, and at
 * its next ask when the sweeper stops cleanly and releases the lease.
 *
 * The lease is the truth, not a clock. Storage starts counting a granted lease when the request
 * reaches it; the sweeper counts from just before it sent the request (acquire or renew), on its
 * monotonic clock, so its count never ends after storage's. It renews every third of the lease,
 * retries a failed renew with jittered back-off, and if no renew has been granted it stops
 * sweeping a safety margin (a sixth of the lease) before the lease could lapse: by the time another
 * replica can be granted the lease, this one starts no more work. The margin covers timers that
 * fire late on a busy event loop. A renew refused (the lease was broken, or lapsed and was taken,
 * or its blob is gone) ends the term at once.
 *
 * The sweeps run as duties, each started with the term's signal when a term begins. A duty stops
 * starting work once the term ends and may finish the step under way (the sweeps are idempotent and
 * safe side by side, so an overlap costs only duplicate calls); a new term begins only once every
 * duty of the last has returned. On close the lease is released once the duties have returned, so
 * another replica takes over at once.
 */
import { backoffDelayInMs } from '../common/backoff.js';
import { pause } from '../common/pause.js';
import { EngineError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { sweeperGauge } from '../observability/metrics.js';
import type { LockAnswer, LockBlob } from '../storage/lock-blob.js';

/**
 * Work that runs while this replica is the sweeper. It starts no new work once `term` aborts
 * (the lease was lost, or the engine stops), and passes `signal` to its storage calls: aborted
 * only when shutdown gives up on work under way. Should not throw; an error is logged.
 */
export type SweeperDuty = (term: AbortSignal, signal: AbortSignal) => Promise<void>;

export interface SweeperElectionOptions {
  lock: LockBlob;
  /** How often a standby replica asks for the lease. */
  acquireIntervalInMs: number;
  duties: readonly SweeperDuty[];
  log: Logger;
}

/** Renews per lease period: two renews can fail before the safety margin is reached. */
const RENEWS_PER_LEASE = 3;
/** The part of the lease kept as a safety margin before it could lapse. */
const SAFETY_MARGIN_PER_LEASE = 1 / 6;
/** The first retry of a failed renew waits up to this (full jitter), doubling up to the renew interval. */
const RENEW_RETRY_BASE_IN_MS = 1000;
/** The longest wait after consecutive failed acquires. */
const MAX_ACQUIRE_ERROR_DELAY_IN_MS = 30_000;
/** How long releasing the lease may take at shutdown; the lease lapses by itself anyway. */
const RELEASE_TIMEOUT_IN_MS = 1000;

type TermEnd = { kind: 'stopped' } | { kind: 'refused'; code: string } | { kind: 'lapsed' };

export class SweeperElection {
  readonly #lock: LockBlob;
  readonly #acquireIntervalInMs: number;
  readonly #duties: readonly SweeperDuty[];
  readonly #log: Logger;
  readonly #renewIntervalInMs: number;
  /** How long after asking for a lease that was granted this replica may sweep without another renew. */
  readonly #sweepForInMs: number;
  readonly #stop = new AbortController();
  /** Aborted at the shutdown deadline: the duties' storage calls still under way give up. */
  readonly #halt = new AbortController();
  #term: AbortController | null = null;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor({ lock, acquireIntervalInMs, duties, log }: SweeperElectionOptions) {
    if (!(acquireIntervalInMs > 0)) throw new EngineError('AE_INVALID_OPTION', `the acquire interval must be positive, not ${acquireIntervalInMs} ms`);
    this.#lock = lock;
    this.#acquireIntervalInMs = acquireIntervalInMs;
    this.#duties = duties;
    this.#log = log.child({ lockBlob: lock.blobName });
    this.#renewIntervalInMs = lock.leaseDurationInMs / RENEWS_PER_LEASE;
    this.#sweepForInMs = lock.leaseDurationInMs * (1 - SAFETY_MARGIN_PER_LEASE);
  }

  /** True while this replica holds the lease and its duties may start work. */
  get isSweeper(): boolean {
    return this.#term !== null && !this.#term.signal.aborted;
  }

  start(): void {
    if (this.#loop || this.#stop.signal.aborted) return;
    this.#loop = this.#run(this.#stop.signal);
  }

  /**
   * Stops standing by or sweeping: the duties finish the step under way (their storage calls are
   * aborted once `deadline` aborts), then the lease is released. Idempotent: the first call's
   * deadline holds.
   */
  close(deadline: AbortSignal): Promise<void> {
    this.#closing ??= this.#close(deadline);
    return this.#closing;
  }

  async #close(deadline: AbortSignal): Promise<void> {
    const onDeadline = (): void => this.#halt.abort(deadline.reason);
    if (deadline.aborted) onDeadline();
    else deadline.addEventListener('abort', onDeadline, { once: true });
    this.#stop.abort();
    try {
      await this.#loop;
    } finally {
      deadline.removeEventListener('abort', onDeadline);
    }
  }

  /** Stands by, asking for the lease, and leads a term whenever it is granted; never throws. */
  async #run(stop: AbortSignal): Promise<void> {
    let failures = 0;
    while (!stop.aborted) {
      const askedAt = performance.now();
      let answer: LockAnswer;
      try {
        answer = await this.#lock.acquire(stop);
        failures = 0;
      } catch (err) {
        if (stop.aborted) break;
        failures++;
        const retryInMs = backoffDelayInMs(failures, this.#acquireIntervalInMs, MAX_ACQUIRE_ERROR_DELAY_IN_MS);
        this.#log.warn({ err, failures, retryInMs }, 'sweeper.acquire_failed');
        await pause(retryInMs, stop);
        continue;
      }
      // After a term lost, too: whoever broke or took the lease gets the next one.
      if (answer.kind === 'held') await this.#lead(askedAt, stop);
      await pause(this.#acquireIntervalInMs, stop);
    }
  }

  /** One term, from the granted acquire asked at `askedAt` to the lease's loss, lapse or release. */
  async #lead(askedAt: number, stop: AbortSignal): Promise<void> {
    const term = new AbortController();
    // A field, not a variable: set in callbacks, where TypeScript's narrowing would not see it.
    const ending: { why: TermEnd } = { why: { kind: 'stopped' } };
    const end = (why: TermEnd): void => {
      if (term.signal.aborted) return;
      ending.why = why;
      term.abort();
    };
    const onStop = (): void => end({ kind: 'stopped' });
    stop.addEventListener('abort', onStop, { once: true });
    let lapse: NodeJS.Timeout | undefined;
    /** A renew or acquire asked at `at` was granted: the lease is safe until a margin before it could lapse. */
    const granted = (at: number): void => {
      clearTimeout(lapse);
      lapse = setTimeout(() => end({ kind: 'lapsed' }), at + this.#sweepForInMs - performance.now());
    };
    granted(askedAt);
    if (stop.aborted) onStop();
    this.#term = term;
    sweeperGauge.set(1);
    this.#log.info({ leaseDurationInMs: this.#lock.leaseDurationInMs }, 'sweeper.acquired');
    const duties = Promise.all(this.#duties.map((duty) => duty(term.signal, this.#halt.signal).catch((err: unknown) => this.#log.error({ err }, 'sweeper.duty_failed'))));

    let failures = 0;
    let renewAt = askedAt + this.#renewIntervalInMs;
    while (!term.signal.aborted) {
      await pause(renewAt - performance.now(), term.signal);
      if (term.signal.aborted) break;
      const renewAskedAt = performance.now();
      try {
        // Aborted when the term lapses: a renew answered later proves nothing about now.
        const answer = await this.#lock.renew(term.signal);
        if (term.signal.aborted) break;
        if (answer.kind === 'refused') {
          end(answer);
          break;
        }
        failures = 0;
        granted(renewAskedAt);
        renewAt = renewAskedAt + this.#renewIntervalInMs;
      } catch (err) {
        if (term.signal.aborted) break;
        failures++;
        const retryInMs = backoffDelayInMs(failures, RENEW_RETRY_BASE_IN_MS, this.#renewIntervalInMs);
        this.#log.warn({ err, failures, retryInMs }, 'sweeper.renew_failed');
        renewAt = performance.now() + retryInMs;
      }
    }
    clearTimeout(lapse);
    stop.removeEventListener('abort', onStop);
    sweeperGauge.set(0);
    const { why } = ending;
    if (why.kind === 'refused') this.#log.warn({ reason: 'refused', code: why.code }, 'sweeper.lost');
    else if (why.kind === 'lapsed') this.#log.warn({ reason: 'lapsed', noRenewForInMs: Math.round(this.#sweepForInMs) }, 'sweeper.lost');
    // The step under way finishes before another term may begin, or the lease is given up.
    await duties;
    this.#term = null;
    if (why.kind === 'stopped') await this.#release();
  }

  async #release(): Promise<void> {
    try {
      await this.#lock.release(AbortSignal.timeout(RELEASE_TIMEOUT_IN_MS));
      this.#log.info({}, 'sweeper.released');
    } catch (err) {
      this.#log.warn({ err, lapsesWithinInMs: this.#lock.leaseDurationInMs }, 'sweeper.release_failed');
    }
  }
}
