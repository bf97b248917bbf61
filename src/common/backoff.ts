/**
 * Back-off for loops that retry after a failure (pollers after a storage error, OIDC discovery,
 * callbacks, the platform token) and for redelivery rules: exponential, with full jitter, so that a
 * fleet of replicas that all failed at the same moment (a storage outage) does not come back in
 * lockstep.
 */

/**
 * `baseInMs` doubled for each attempt after the first: attempt n waits `baseInMs * 2^(n-1)`, at most
 * `maxInMs`. The exponent stops at 52, where any base of 1 ms is far past every cap the engine
 * uses, so the product stays finite (and a base of 0 stays 0 rather than 0 x Infinity).
 */
export function doublingDelayInMs(attempt: number, baseInMs: number, maxInMs: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 52);
  return Math.min(baseInMs * 2 ** exponent, maxInMs);
}

/** The longest wait before attempt `attempt + 1`: `baseInMs` (at least 100 ms) doubled per failure, at most `maxInMs`. */
export function backoffCeilingInMs(consecutiveFailures: number, baseInMs: number, maxInMs: number): number {
  // The exponent stops at 16: these loops have no cap of their own beyond maxInMs.
  return doublingDelayInMs(Math.min(consecutiveFailures, 17), Math.max(baseInMs, 100), maxInMs);
}

/** "Full jitter": a random wait between 0 and `ceilingInMs`, whole milliseconds. */
export function fullJitterInMs(ceilingInMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * ceilingInMs);
}

/** "Full jitter" over {@link backoffCeilingInMs}. */
export function backoffDelayInMs(consecutiveFailures: number, baseInMs: number, maxInMs: number, random: () => number = Math.random): number {
  return fullJitterInMs(backoffCeilingInMs(consecutiveFailures, baseInMs, maxInMs), random);
}
