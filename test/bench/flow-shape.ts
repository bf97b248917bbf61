/** The pipeline both systems run: three steps, each a POST to the echo endpoint. */
export const STEP_COUNT = 3;
export const LAST_STEP = STEP_COUNT - 1;

/** Concurrent endpoint calls per step: one full receive of Azure's 32 messages. */
export const IN_FLIGHT_PER_STEP = 32;

/** Outbound connections to the echo endpoint, so that no step waits for one. */
export const ENDPOINT_CONNECTIONS = STEP_COUNT * IN_FLIGHT_PER_STEP;

/** Seconds a received message stays hidden; the engine's default. */
export const VISIBILITY_TIMEOUT_IN_SECONDS = 30;

/** The path of step k's endpoint on the echo server. */
export function stepPath(step: number): string {
  return `/step-${step}`;
}
