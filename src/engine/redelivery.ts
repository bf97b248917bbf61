/**
 * Pure: what happens after a failed attempt. The most specific rule of redelivery.config.additional
 * for the answer's HTTP status applies (an exact status, then the narrowest range; a class is the
 * range of 100), else the default rule (also for transport errors and time-outs). `count` is the
 * number of redeliveries after the first attempt, so attempt n may be followed by another while
 * n <= count. The wait before it is the rule's delay ("fixed"), or delay * 2^(n-1)
 * ("exponential"), at most maxDelay, then with full jitter a random part of that; the endpoint's
 * Retry-After wins when it is longer. A redelivery that would start after the message expires in
 * its queue is dead-lettered as `expired` instead.
 */
import { doublingDelayInMs, fullJitterInMs } from '../common/backoff.js';
import type { RedeliveryOptions, RedeliveryRule, StatusRule } from '../config/types.js';
import type { StepOutcome } from '../http/endpoint-call.js';
import type { DeadLetterReason } from '../storage/dlq-table.js';

export type FailedOutcome = Exclude<StepOutcome, { kind: 'ok' }>;

export type RedeliveryDecision = { kind: 'retry'; delayInMs: number; nextAttempt: number } | { kind: 'dead-letter'; reason: DeadLetterReason };

export interface RedeliveryInput {
  outcome: FailedOutcome;
  /** The attempt that failed, counting from 1. */
  attempt: number;
  rules: RedeliveryOptions;
  /** When the message expires in its queue; null when it never does. */
  expiresOn: Date | null;
  now: Date;
  /** A draw in [0, 1) for jitter: Math.random in the engine, fixed values in tests. */
  random: () => number;
}

/** The narrowest status rule whose range holds the answer's status (validation leaves no tie), else the default rule. */
export function ruleFor(outcome: FailedOutcome, rules: RedeliveryOptions): RedeliveryRule {
  if (outcome.kind !== 'http-error') return rules.default;
  const { status } = outcome;
  let best: StatusRule | undefined;
  for (const r of rules.statusRules) {
    const isNarrower = best === undefined || r.toStatus - r.fromStatus < best.toStatus - best.fromStatus;
    if (r.fromStatus <= status && status <= r.toStatus && isNarrower) best = r;
  }
  return best?.rule ?? rules.default;
}

/** The rule's wait after failed attempt `attempt`, before the endpoint's Retry-After is considered. */
export function ruleDelayInMs(rule: RedeliveryRule, attempt: number, random: () => number): number {
  const ceilingInMs = rule.backoff === 'exponential' ? doublingDelayInMs(attempt, rule.delayInMs, rule.maxDelayInMs) : Math.min(rule.delayInMs, rule.maxDelayInMs);
  return rule.hasJitter ? fullJitterInMs(ceilingInMs, random) : ceilingInMs;
}

export function decideRedelivery({ outcome, attempt, rules, expiresOn, now, random }: RedeliveryInput): RedeliveryDecision {
  const rule = ruleFor(outcome, rules);
  if (attempt > rule.count) return { kind: 'dead-letter', reason: 'exhausted' };
  const retryAfter = outcome.kind === 'http-error' ? (outcome.retryAfterInMs ?? 0) : 0;
  // Jitter spreads the engine's own waits; it never brings a redelivery before the endpoint asked.
  const delayInMs = Math.max(ruleDelayInMs(rule, attempt, random), retryAfter);
  if (expiresOn !== null && now.getTime() + delayInMs >= expiresOn.getTime()) return { kind: 'dead-letter', reason: 'expired' };
  return { kind: 'retry', delayInMs, nextAttempt: attempt + 1 };
}

/**
 * Whether a message was received more often than `maxDequeueCount` for reasons other than the
 * scheduled redeliveries: each attempt is one receive, so the receives beyond the attempts are
 * crashes, lost leases and shutdowns.
 */
export function isPoisonByDequeueCount(dequeueCount: number, attempt: number, maxDequeueCount: number): boolean {
  return dequeueCount - (attempt - 1) > maxDequeueCount;
}

/** A short description of a failed outcome for the status row and the DLQ entry. */
export function describeFailure(outcome: FailedOutcome): string {
  return outcome.kind === 'http-error' ? outcome.detail : `${outcome.code}: ${outcome.detail}`;
}
