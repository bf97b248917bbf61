/**
 * Pure: what happens after a failed attempt. The rule for the answer's HTTP status in
 * redelivery.config.additional applies, else the default rule (also for transport errors and
 * time-outs). `count` is the number of redeliveries after the first attempt, so attempt n may be
 * followed by another while n <= count; `delay` is the wait before it, or the endpoint's
 * Retry-After when that is longer. A redelivery that would start after the message expires in its
 * queue is dead-lettered as `expired` instead.
 */
import type { RedeliveryOptions, RedeliveryRule } from '../config/types.js';
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
}

export function ruleFor(outcome: FailedOutcome, rules: RedeliveryOptions): RedeliveryRule {
  return (outcome.kind === 'http-error' ? rules.byHttpStatus.get(outcome.status) : undefined) ?? rules.default;
}

export function decideRedelivery({ outcome, attempt, rules, expiresOn, now }: RedeliveryInput): RedeliveryDecision {
  const rule = ruleFor(outcome, rules);
  if (attempt > rule.count) return { kind: 'dead-letter', reason: 'exhausted' };
  const retryAfter = outcome.kind === 'http-error' ? (outcome.retryAfterInMs ?? 0) : 0;
  const delayInMs = Math.max(rule.delayInMs, retryAfter);
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
