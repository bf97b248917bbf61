/**
 * Permits for outbound requests: at most `perOrigin` at once to one origin and `total` across all,
 * first come first served. A request holds a permit while it uses its connection, so waiting for a
 * permit is waiting for a free connection, bounded by `waitTimeoutInMs` (requestTimeout).
 */
import { EngineError } from '../errors.js';

export interface ConnectionLimiterOptions {
  perOrigin: number;
  total: number;
  /** null = wait as long as it takes. */
  waitTimeoutInMs: number | null;
}

interface Waiter {
  origin: string;
  grant: () => void;
}

export class ConnectionLimiter {
  readonly #perOrigin: number;
  readonly #total: number;
  readonly #waitTimeoutInMs: number | null;
  readonly #inUse = new Map<string, number>();
  #inUseTotal = 0;
  #waiters: Waiter[] = [];

  constructor({ perOrigin, total, waitTimeoutInMs }: ConnectionLimiterOptions) {
    if (perOrigin < 1 || total < 1) throw new EngineError('AE_INVALID_OPTION', 'connection limits must be at least 1');
    this.#perOrigin = perOrigin;
    this.#total = total;
    this.#waitTimeoutInMs = waitTimeoutInMs;
  }

  get inUse(): number {
    return this.#inUseTotal;
  }

  /**
   * Resolves with a release function once a permit for `origin` is free. Rejects with
   * AE_POOL_TIMEOUT after the wait time-out, or with the signal's reason when it aborts.
   */
  acquire(origin: string, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    // Waiters left in the queue are blocked by their own origin's limit (every release grants all it
    // can), so only an earlier waiter for this origin may hold this acquire back: a hung origin must
    // not stall calls to the others.
    if (this.#isFree(origin) && !this.#waiters.some((w) => w.origin === origin)) return Promise.resolve(this.#take(origin));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const leave = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      const onAbort = (): void => {
        leave();
        reject(signal.reason);
      };
      const waiter: Waiter = {
        origin,
        grant: () => {
          leave();
          resolve(this.#take(origin));
        },
      };
      if (this.#waitTimeoutInMs !== null) {
        timer = setTimeout(() => {
          leave();
          reject(new EngineError('AE_POOL_TIMEOUT', `no connection to ${origin} became free within ${this.#waitTimeoutInMs} ms (requestTimeout)`));
        }, this.#waitTimeoutInMs);
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #isFree(origin: string): boolean {
    return this.#inUseTotal < this.#total && (this.#inUse.get(origin) ?? 0) < this.#perOrigin;
  }

  #take(origin: string): () => void {
    this.#inUseTotal++;
    this.#inUse.set(origin, (this.#inUse.get(origin) ?? 0) + 1);
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      this.#inUseTotal--;
      const left = (this.#inUse.get(origin) ?? 1) - 1;
      if (left === 0) this.#inUse.delete(origin);
      else this.#inUse.set(origin, left);
      this.#grantWaiting();
    };
  }

  /** Grants permits in arrival order, skipping waiters whose origin is still full. */
  #grantWaiting(): void {
    for (const waiter of [...this.#waiters]) {
      if (this.#inUseTotal >= this.#total) return;
      if (this.#isFree(waiter.origin)) waiter.grant();
    }
  }
}
