/**
 * When a step may start its next endpoint call in this process: at most `maxRatePerSecond` calls a
 * second (a token bucket holding at most a quarter of a second's tokens, so no one-second window
 * sees much more than 1.25 times the rate), and none while the endpoint asked to be left alone
 * (`429` or `503` with Retry-After pauses the whole step until then).
 *
 * The poller asks how long until a call could start before it receives, so that messages wait in
 * the queue rather than leased in memory; the step runner takes a token right before its call.
 */
import { pause } from '../common/pause.js';

export interface RateGateOptions {
  /** null = no limit. */
  maxRatePerSecond: number | null;
  /** Milliseconds since some fixed point; performance.now() in use, a test clock in tests. */
  now: () => number;
}

/** A bucket holds at most this share of a second's tokens (and at least one token). */
const BURST_SECONDS = 0.25;

export class RateGate {
  readonly #ratePerMs: number | null;
  readonly #capacity: number;
  readonly #now: () => number;
  #tokens: number;
  #refilledAt: number;
  #pausedUntil = 0;

  constructor({ maxRatePerSecond, now }: RateGateOptions) {
    this.#ratePerMs = maxRatePerSecond === null ? null : maxRatePerSecond / 1000;
    this.#capacity = maxRatePerSecond === null ? 1 : Math.max(1, maxRatePerSecond * BURST_SECONDS);
    this.#now = now;
    this.#tokens = this.#capacity;
    this.#refilledAt = now();
  }

  /** Milliseconds until a call may start: 0 when it may start now. */
  get waitInMs(): number {
    const now = this.#now();
    const paused = Math.max(0, this.#pausedUntil - now);
    if (this.#ratePerMs === null) return paused;
    this.#refill(now);
    const forToken = this.#tokens >= 1 ? 0 : (1 - this.#tokens) / this.#ratePerMs;
    return Math.max(paused, Math.ceil(forToken));
  }

  /** No call starts before `untilMs` (on the gate's clock); a later pause wins over an earlier one. */
  pauseUntil(untilMs: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, untilMs);
  }

  /** Waits until a call may start and takes its token; returns early (without one) when `signal` aborts. */
  async take(signal: AbortSignal): Promise<void> {
    for (let wait = this.waitInMs; wait > 0 && !signal.aborted; wait = this.waitInMs) await pause(wait, signal);
    if (signal.aborted || this.#ratePerMs === null) return;
    this.#refill(this.#now());
    this.#tokens -= 1;
  }

  #refill(now: number): void {
    if (this.#ratePerMs === null) return;
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#refilledAt) * this.#ratePerMs);
    this.#refilledAt = now;
  }
}
