/**
 * Waits that end early, without throwing, when their signal aborts (like Event Hubs'
 * delayWithoutThrow), so leaving a loop or a drain early is not an error.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

/**
 * Resolves when every promise has settled, or when `signal` aborts, whichever comes first; never
 * rejects. Returns true when all settled.
 */
export async function whenSettledOrAborted(promises: ReadonlyArray<Promise<unknown>>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true as const), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
