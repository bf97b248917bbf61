/**
 * Admission control of submissions (threadpool.config): at most `maxPoolSize` are being read and
 * written to storage at once, at most `maxQueueSize` wait for their turn (-1: no limit), and the
 * rest are refused at once with 429, so a burst cannot pile up in memory. Node runs submissions as
 * asynchronous I/O rather than threads, so there is nothing to keep warm: `poolSize` only bounds
 * `maxPoolSize` from below.
 */
import { EngineError } from '../errors.js';

export interface AdmissionOptions {
  maxPoolSize: number;
  /** -1 = unbounded. */
  maxQueueSize: number;
}

export class Admission {
  readonly #maxRunning: number;
  readonly #maxWaiting: number;
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor({ maxPoolSize, maxQueueSize }: AdmissionOptions) {
    if (maxPoolSize < 1) throw new EngineError('AE_INVALID_OPTION', 'maxPoolSize must be at least 1');
    this.#maxRunning = maxPoolSize;
    this.#maxWaiting = maxQueueSize < 0 ? Infinity : maxQueueSize;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `work` once a place is free; resolves to null without running it when the pool and its
   * queue are full (the caller answers 429). A waiter whose `signal` aborts leaves the queue.
   */
  async run<T>(work: () => Promise<T>, signal: AbortSignal): Promise<{ value: T } | null> {
    if (this.#running >= this.#maxRunning) {
      if (this.#waiting.length >= this.#maxWaiting) return null;
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const i = this.#waiting.indexOf(admit);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(signal.reason);
        };
        const admit = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(admit);
      });
    } else {
      this.#running++;
    }
    try {
      return { value: await work() };
    } finally {
      // Hand the place straight to the next waiter, or give it back.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
