/**
 * Delay maths for the poll loops.
 */

/** After a failed receive: the poll delay doubled per consecutive failure, at most `maxInMs`. */
export function errorDelayInMs(consecutiveFailures: number, baseInMs: number, maxInMs: number): number {
  const exponent = Math.min(Math.max(consecutiveFailures - 1, 0), 16);
  return Math.min(Math.max(baseInMs, 100) * 2 ** exponent, maxInMs);
}
