/**
 * Delay maths for the poll loops, and an abortable pause that resolves (never throws) when its
 * signal aborts, like Event Hubs' delayWithoutThrow, so leaving a loop early is not an error.
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

/** After a failed receive: the poll delay doubled per consecutive failure, at most `maxInMs`. */
export function errorDelayInMs(consecutiveFailures: number, baseInMs: number, maxInMs: number): number {
  const exponent = Math.min(Math.max(consecutiveFailures - 1, 0), 16);
  return Math.min(Math.max(baseInMs, 100) * 2 ** exponent, maxInMs);
}
