/**
 * Word, within this process, that a request reached a final state (completed or dead-lettered):
 * the engine notifies once the status row says so, and the ingress's `Prefer: wait` submissions
 * wake at once instead of at their next read of the row. Only a wake-up: the waiter reads the row
 * itself, and a request finished by another replica is never notified here.
 *
 * Waiters are held only while they wait; their number is bounded by the ingress's admission
 * control, whose places they keep.
 */
export class Completions {
  readonly #waiters = new Map<string, Set<() => void>>();

  /** Wakes every waiter of `requestId`; call only after its final status is written. */
  notify(requestId: string): void {
    const waiters = this.#waiters.get(requestId);
    if (!waiters) return;
    this.#waiters.delete(requestId);
    for (const wake of waiters) wake();
  }

  /**
   * Resolves when `requestId` is notified or `signal` aborts, whichever comes first; never
   * rejects. Register before reading the row, so a notify in between is not missed.
   */
  waitFor(requestId: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const waiters = this.#waiters.get(requestId);
        waiters?.delete(wake);
        if (waiters?.size === 0) this.#waiters.delete(requestId);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      let waiters = this.#waiters.get(requestId);
      if (!waiters) {
        waiters = new Set();
        this.#waiters.set(requestId, waiters);
      }
      waiters.add(wake);
    });
  }

  /** Requests with a waiter now (for tests and gauges). */
  get size(): number {
    return this.#waiters.size;
  }
}
