/**
 * Bounded concurrency for one step: exactly `size` tasks run at once, and the poller asks for
 * `freeSlots` before it receives, so no message waits in memory for a slot (back pressure, not
 * buffering).
 */
import { EngineError } from '../errors.js';

export interface WorkerPoolOptions {
  size: number;
}

export class WorkerPool {
  readonly size: number;
  #running = 0;
  #slotWaiters: Array<{ need: number; done: () => void }> = [];
  #idleWaiters: Array<() => void> = [];

  constructor({ size }: WorkerPoolOptions) {
    if (!Number.isInteger(size) || size < 1) throw new EngineError('AE_INVALID_OPTION', `pool size must be a positive integer, got ${size}`);
    this.size = size;
  }

  get inFlight(): number {
    return this.#running;
  }

  get freeSlots(): number {
    return this.size - this.#running;
  }

  /** Resolves when at least one slot is free, or when `signal` aborts. */
  whenSlotFree(signal: AbortSignal): Promise<void> {
    return this.whenFreeSlots(1, signal);
  }

  /**
   * Resolves when at least `count` slots are free (capped at the pool's size), when `maxWaitInMs`
   * has passed (if given), or when `signal` aborts; never rejects. Waiters are woken in the order
   * they waited, at most one per ended task.
   */
  whenFreeSlots(count: number, signal: AbortSignal, maxWaitInMs?: number): Promise<void> {
    const need = Math.min(count, this.size);
    if (this.freeSlots >= need || signal.aborted || maxWaitInMs === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = maxWaitInMs === undefined ? undefined : setTimeout(() => done(), maxWaitInMs);
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#slotWaiters = this.#slotWaiters.filter((w) => w.done !== done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      this.#slotWaiters.push({ need, done });
    });
  }

  /**
   * Starts `task` in a free slot. The task must handle its own errors; a rejection (or a throw) is
   * a bug and is passed to `onBug`, and the slot is freed either way.
   */
  submit(task: () => Promise<void>, onBug: (err: unknown) => void): void {
    if (this.freeSlots <= 0) throw new EngineError('AE_INVALID_OPTION', 'submit() without a free slot: the poller took more messages than slots');
    this.#running++;
    void Promise.resolve()
      .then(task)
      .catch(onBug)
      .finally(() => {
        this.#running--;
        const next = this.#slotWaiters[0];
        if (next && this.freeSlots >= next.need) next.done();
        if (this.#running === 0) for (const waiter of this.#idleWaiters.splice(0)) waiter();
      });
  }

  /** Resolves when no task runs. */
  whenIdle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }
}
