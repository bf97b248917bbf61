/**
 * Back-off for loops that retry after a failure (pollers after a storage error, OIDC discovery,
 * callbacks, the platform token): exponential, with full jitter, so that a fleet of replicas that
 * all failed at the same moment (a storage outage) does not come back in lockstep.
 */

/** The longest wait before attempt `attempt + 1`: `baseInMs` (at least 100 ms) doubled per failure, at most `maxInMs`. */
export function backoffCeilingInMs(consecutiveFailures: number, baseInMs: number, maxInMs: number): number {
  const exponent = Math.min(Math.max(consecutiveFailures - 1, 0), 16);
  return Math.min(Math.max(baseInMs, 100) * 2 ** exponent, maxInMs);
}

/** "Full jitter": a random wait between 0 and the ceiling, whole milliseconds. */
export function backoffDelayInMs(consecutiveFailures: number, baseInMs: number, maxInMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeilingInMs(consecutiveFailures, baseInMs, maxInMs));
}
