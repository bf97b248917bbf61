/**
 * One loop per source queue: waits for a free slot in the step's pool, receives no more messages
 * than there are free slots (and no more than maxMessages), hands each to the pool, and waits
 * `delay` between polls, or polls again at once when `greedy` and the last poll returned messages.
 * While the queue is empty the wait backs off up to `maxIdleDelay`, and work known to be coming
 * wakes the loop at once (poll-state.ts).
 *
 * Receive coalescing: a receive is one billed storage call whether it returns 1 message or 32. When
 * the last receive returned all it asked for (a backlog) and the pool is full, taking each slot as
 * it frees would cost a receive per few messages. So, once a slot is free, the poller waits a
 * little longer for a whole batch of free slots: at most as long as the last receive took (so a
 * waiting message is delayed by no more than one more receive would have delayed it), and never
 * longer than `delay`.
 */
import { backoffDelayInMs } from '../common/backoff.js';
import { pause } from '../common/pause.js';
import type { Logger } from '../observability/log.js';
import type { ReceivedMessage } from '../storage/queues.js';
import type { Step } from './flows.js';
import { idleDelayInMs } from './poll-state.js';

/** What a poller needs of a step: the queue, the pool, the idle wait and the gate. The callback queue has them too. */
export type PollTarget = Pick<Step, 'source' | 'pool' | 'polling' | 'gate'>;

export interface PollerOptions {
  /** The step (or the callback queue) whose source queue this poller receives from, into its pool. */
  target: PollTarget;
  /** Runs one message; gets the signal that aborts when shutdown gives up on in-flight work. */
  handle: (message: ReceivedMessage, signal: AbortSignal) => Promise<void>;
  /** Aborted when the engine gives up on in-flight work (at the shutdown deadline). */
  workSignal: AbortSignal;
  log: Logger;
}

/** The longest wait after consecutive failed receives. */
const MAX_ERROR_DELAY_IN_MS = 30_000;
/** How long releasing messages received during shutdown may take at most. */
const RELEASE_TIMEOUT_IN_MS = 1000;

export class Poller {
  readonly #step: PollTarget;
  readonly #handle: PollerOptions['handle'];
  readonly #workSignal: AbortSignal;
  readonly #log: Logger;
  #intake: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor({ target, handle, workSignal, log }: PollerOptions) {
    this.#step = target;
    this.#handle = handle;
    this.#workSignal = workSignal;
    this.#log = log.child({ queue: target.source.queue.name });
  }

  start(): void {
    if (this.#loop) return;
    this.#intake = new AbortController();
    this.#loop = this.#run(this.#intake.signal);
  }

  /** Stops receiving and resolves when the loop has ended; in-flight steps go on in the pool. Idempotent. */
  async close(): Promise<void> {
    this.#intake?.abort();
    await this.#loop;
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { pool, source } = this.#step;
    const { queue, options: queueOptions } = source;
    const batch = Math.min(queueOptions.maxMessages, pool.size);
    const { polling } = this.#step;
    let failures = 0;
    let emptyPolls = 0;
    /** How long to wait for a whole batch of free slots before the next receive; 0 when the queue ran dry. */
    let coalesceInMs = 0;
    while (!signal.aborted) {
      try {
        await pool.whenSlotFree(signal);
        await pool.whenFreeSlots(batch, signal, coalesceInMs);
        // Paused by the endpoint's Retry-After, or out of rate tokens: the messages wait in the queue.
        await pause(this.#step.gate.waitInMs, signal);
        if (signal.aborted) break;
        const count = Math.min(pool.freeSlots, queueOptions.maxMessages);
        const startedAt = performance.now();
        // Not aborted by the intake signal: a receive cut short would leave whatever Azure already
        // dequeued hidden for the whole visibility timeout. Its messages are released below instead.
        const messages = await queue.receive(count, { visibilityTimeoutInMs: queueOptions.visibilityTimeoutInMs, abortSignal: this.#workSignal });
        failures = 0;
        coalesceInMs = messages.length === count ? Math.min(performance.now() - startedAt, queueOptions.pollDelayInMs) : 0;
        if (signal.aborted) {
          await this.#releaseAll(messages);
          break;
        }
        for (const message of messages) {
          pool.submit(
            () => this.#handle(message, this.#workSignal),
            (err) => this.#log.error({ err, messageId: message.messageId }, 'poller.handler_bug'),
          );
        }
        emptyPolls = messages.length === 0 ? emptyPolls + 1 : 0;
        if (messages.length === 0) await polling.sleep(idleDelayInMs(emptyPolls, queueOptions.pollDelayInMs, queueOptions.maxIdleDelayInMs), signal);
        else if (!queueOptions.greedy) await polling.sleep(queueOptions.pollDelayInMs, signal);
      } catch (err) {
        if (signal.aborted || this.#workSignal.aborted) break;
        failures++;
        coalesceInMs = 0;
        const delay = backoffDelayInMs(failures, queueOptions.pollDelayInMs, MAX_ERROR_DELAY_IN_MS);
        this.#log.warn({ err, failures, retryInMs: delay }, 'poller.receive_failed');
        await pause(delay, signal);
      }
    }
  }

  /** Received during shutdown and never started: visible again at once, for another replica. */
  async #releaseAll(messages: ReceivedMessage[]): Promise<void> {
    await Promise.all(
      messages.map((m) =>
        this.#step.source.queue
          .updateVisibility(m.messageId, m.popReceipt, 0, AbortSignal.timeout(RELEASE_TIMEOUT_IN_MS))
          .catch((err: unknown) => this.#log.warn({ err, messageId: m.messageId }, 'poller.release_failed')),
      ),
    );
    if (messages.length > 0) this.#log.info({ count: messages.length }, 'poller.released_unstarted');
  }
}
