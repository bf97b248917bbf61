import { setTimeout as sleep } from 'node:timers/promises';

export interface EventuallyOptions {
  timeoutInMs: number;
  intervalInMs?: number;
}

/**
 * Calls `check` until it returns without throwing, then returns its result; after `timeoutInMs`
 * throws the last failure. For waiting on what a user can see, instead of fixed sleeps.
 */
export async function eventually<T>(check: () => T | Promise<T>, { timeoutInMs, intervalInMs = 50 }: EventuallyOptions): Promise<T> {
  const deadline = Date.now() + timeoutInMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await sleep(intervalInMs);
    }
  }
}
