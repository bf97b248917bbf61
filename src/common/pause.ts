/**
 * An abortable pause that resolves (never throws) when its signal aborts, like Event Hubs'
 * delayWithoutThrow, so leaving a loop early is not an error.
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
