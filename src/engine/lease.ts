/**
 * Keeps a received message hidden while its step runs: renews the visibility at half the
 * visibility timeout (bullmq renews locks at half their duration), tracks the pop receipt each
 * renewal returns, and aborts the step's signal when the message is lost (deleted, or its receipt
 * taken by another consumer after it reappeared), like Service Bus's MessageLockLost.
 */
import { EngineError, isEngineError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { StepQueue } from '../storage/queues.js';

export interface LeaseOptions {
  queue: StepQueue;
  messageId: string;
  popReceipt: string;
  visibilityTimeoutInMs: number;
  /** Aborting it (engine shutdown past the grace period) aborts the lease's signal too. */
  parentSignal: AbortSignal;
  /** Bound to the message (messageId, queue) by the caller. */
  log: Logger;
}

export class Lease {
  readonly #queue: StepQueue;
  readonly #messageId: string;
  readonly #visibilityInMs: number;
  readonly #log: Logger;
  readonly #controller = new AbortController();
  #popReceipt: string;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  #isStopped = false;
  #isLost = false;
  readonly #parentSignal: AbortSignal;
  readonly #onParentAbort = (): void => this.#controller.abort(this.#parentSignal.reason);

  constructor({ queue, messageId, popReceipt, visibilityTimeoutInMs, parentSignal, log }: LeaseOptions) {
    this.#queue = queue;
    this.#messageId = messageId;
    this.#popReceipt = popReceipt;
    this.#visibilityInMs = visibilityTimeoutInMs;
    this.#log = log;
    this.#parentSignal = parentSignal;
    if (parentSignal.aborted) this.#controller.abort(parentSignal.reason);
    else parentSignal.addEventListener('abort', this.#onParentAbort, { once: true });
    this.#schedule();
  }

  /** Aborted when the message is lost or the engine gives up on the step. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get popReceipt(): string {
    return this.#popReceipt;
  }

  get isLost(): boolean {
    return this.#isLost;
  }

  /** Takes over a receipt returned by an update the step made itself. */
  set popReceipt(receipt: string) {
    this.#popReceipt = receipt;
  }

  /**
   * Stops renewing and waits for a renewal under way, so {@link popReceipt} is final. Also detaches
   * from the engine's signal: a lease lives for one message, the engine's signal for the whole run,
   * and a listener left behind per message would pile up. Idempotent.
   */
  async close(): Promise<void> {
    this.#isStopped = true;
    clearTimeout(this.#timer);
    this.#parentSignal.removeEventListener('abort', this.#onParentAbort);
    await this.#renewing;
  }

  #schedule(): void {
    if (this.#isStopped) return;
    this.#timer = setTimeout(() => {
      this.#renewing = this.#renew().finally(() => {
        this.#renewing = undefined;
        this.#schedule();
      });
    }, this.#visibilityInMs / 2);
  }

  async #renew(): Promise<void> {
    if (this.#isStopped || this.#controller.signal.aborted) return;
    try {
      this.#popReceipt = await this.#queue.updateVisibility(this.#messageId, this.#popReceipt, this.#visibilityInMs, this.#controller.signal);
    } catch (err) {
      if (this.#controller.signal.aborted) return;
      // Deleted, or received by another consumer after it reappeared: the step must stop.
      if (isEngineError(err, 'AE_MESSAGE_LOST')) {
        this.#isLost = true;
        this.#isStopped = true;
        this.#log.warn({}, 'lease.lost');
        this.#controller.abort(new EngineError('AE_MESSAGE_LOST', 'the message lease was lost', { cause: err }));
        return;
      }
      // Anything else may pass: half the timeout is still left before the message reappears.
      this.#log.warn({ err }, 'lease.renew_failed');
    }
  }
}

/** How long releasing a message at shutdown may take; it reappears after its visibility timeout anyway. */
const RELEASE_TIMEOUT_IN_MS = 1000;

export interface LeasedWorkOptions {
  queue: StepQueue;
  message: { messageId: string; popReceipt: string };
  visibilityTimeoutInMs: number;
  /** The engine's signal: aborted when shutdown gives up on the work under way. */
  engineSignal: AbortSignal;
  /** The work's log; the work may bind more to it (the request id) for the lines written here. */
  scope: { log: Logger };
  /** The prefix of the events logged here: `{kind}.released`, `{kind}.release_failed`, `{kind}.error`. */
  kind: 'step' | 'callback';
}

/**
 * Runs `work` on a received message under a lease of its own. Never throws: when the work fails, a
 * message whose lease was lost is left alone (the lease logged it; the message is someone else's
 * now), one that shutdown gave up on is made visible again at once for another engine, and any
 * other failure (storage unreachable, ...) is logged while the message reappears after its
 * visibility timeout, so that the at-least-once protocol runs it again.
 */
export async function runLeased({ queue, message, visibilityTimeoutInMs, engineSignal, scope, kind }: LeasedWorkOptions, work: (lease: Lease) => Promise<void>): Promise<void> {
  const lease = new Lease({ queue, messageId: message.messageId, popReceipt: message.popReceipt, visibilityTimeoutInMs, parentSignal: engineSignal, log: scope.log });
  try {
    await work(lease);
  } catch (err) {
    await lease.close();
    if (lease.isLost) return;
    if (!engineSignal.aborted) {
      scope.log.error({ err }, `${kind}.error`);
      return;
    }
    try {
      await queue.updateVisibility(message.messageId, lease.popReceipt, 0, AbortSignal.timeout(RELEASE_TIMEOUT_IN_MS));
      scope.log.info({}, `${kind}.released`);
    } catch (releaseErr) {
      scope.log.warn({ err: releaseErr }, `${kind}.release_failed`);
    }
  } finally {
    await lease.close();
  }
}
