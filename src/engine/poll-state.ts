/**
 * The idle side of one step's poll loop: how long it waits before its next receive, and a way for
 * work that is known to be coming (a submission to the step's queue, a forward from the step
 * before, a retry coming due) to cut that wait short in this process.
 *
 * After each empty receive the wait doubles from the queue's `delay` up to `maxIdleDelay`, with
 * +-20% jitter so that replicas do not poll in step; a received message resets it to `delay`. An
 * idle queue then costs about 1000 / maxIdleDelay receives a second.
 */

/** The least a doubling starts from, so that `delay: 0` still backs off. */
const MIN_BACKOFF_BASE_IN_MS = 100;
/** +-20% of each idle wait. */
const JITTER = 0.2;

/**
 * The wait after `emptyPolls` empty receives in a row: `delayInMs` after the first, then doubling
 * up to `maxIdleInMs` (never below `delayInMs`), with +-20% jitter once it backs off.
 */
export function idleDelayInMs(emptyPolls: number, delayInMs: number, maxIdleInMs: number, random: () => number = Math.random): number {
  const cap = Math.max(maxIdleInMs, delayInMs);
  if (emptyPolls <= 1 || cap === delayInMs) return delayInMs;
  const exponent = Math.min(emptyPolls - 1, 30);
  const wait = Math.min(Math.max(delayInMs, MIN_BACKOFF_BASE_IN_MS) * 2 ** exponent, cap);
  return Math.round(wait * (1 - JITTER + 2 * JITTER * random()));
}

export class PollState {
  #waitInMs = 0;
  #isRung = false;
  #wakeWaiter: (() => void) | null = null;

  /** The wait before the poller's next receive, as it last chose it (0 while it receives at once). */
  get waitInMs(): number {
    return this.#waitInMs;
  }

  /** Work is coming: the poller receives at once (or right after the receive under way). */
  wake(): void {
    this.#isRung = true;
    this.#wakeWaiter?.();
  }

  /** Waits `ms`, or less when woken or `signal` aborts; resolves true when woken. Never rejects. */
  sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    this.#waitInMs = ms;
    if (this.#isRung) return Promise.resolve(this.#wokeUp());
    if (ms <= 0 || signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (isWoken: boolean): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#wakeWaiter = null;
        this.#waitInMs = 0;
        resolve(isWoken && this.#wokeUp());
      };
      const onAbort = (): void => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#wakeWaiter = () => done(true);
    });
  }

  #wokeUp(): boolean {
    this.#isRung = false;
    this.#waitInMs = 0;
    return true;
  }
}
