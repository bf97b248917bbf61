import { setImmediate as nextTurn } from 'node:timers/promises';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

/** A promise and the functions that settle it (Promise.withResolvers is Node 22). */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export type Settlement<T> = { state: 'pending' } | { state: 'fulfilled'; value: T } | { state: 'rejected'; reason: unknown };

/**
 * What `promise` has settled to once the microtasks queued so far (and one macrotask turn) ran.
 * Lets a test assert that something is still waiting without a fixed sleep.
 */
export async function settlementOf<T>(promise: Promise<T>): Promise<Settlement<T>> {
  let settlement: Settlement<T> = { state: 'pending' };
  promise.then(
    (value) => {
      settlement = { state: 'fulfilled', value };
    },
    (reason: unknown) => {
      settlement = { state: 'rejected', reason };
    },
  );
  await nextTurn();
  return settlement;
}
