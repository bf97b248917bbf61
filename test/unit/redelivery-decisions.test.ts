import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RedeliveryOptions, RedeliveryRule } from '../../src/config/types.js';
import { decideRedelivery, describeFailure, type FailedOutcome, isPoisonByDequeueCount, type RedeliveryDecision, ruleFor } from '../../src/engine/redelivery.js';

function httpError(status: number, retryAfterInMs: number | null = null): FailedOutcome {
  return { kind: 'http-error', status, retryAfterInMs, detail: `HTTP ${status}`, durationInMs: 5 };
}

function transportError(code: string): FailedOutcome {
  return { kind: 'transport-error', code, detail: 'connect ECONNREFUSED 127.0.0.1:1', durationInMs: 5 };
}

const DEFAULT_RULE: RedeliveryRule = { count: 2, delayInMs: 1000 };
const RULE_429: RedeliveryRule = { count: 5, delayInMs: 200 };
const RULE_400: RedeliveryRule = { count: 0, delayInMs: 0 };
/** Redeliveries: 2 after 1 s by default, 5 after 200 ms for a 429, none for a 400. */
const RULES: RedeliveryOptions = {
  default: DEFAULT_RULE,
  byHttpStatus: new Map([
    [429, RULE_429],
    [400, RULE_400],
  ]),
};
const NO_STATUS_RULES: RedeliveryOptions = { default: DEFAULT_RULE, byHttpStatus: new Map() };

describe('ruleFor', () => {
  const cases: Array<{ name: string; outcome: FailedOutcome; rules: RedeliveryOptions; expected: RedeliveryRule }> = [
    { name: 'an answer whose status has a rule gets that rule', outcome: httpError(429), rules: RULES, expected: RULE_429 },
    { name: 'a status rule of count 0 and delay 0 wins over a longer default', outcome: httpError(400), rules: RULES, expected: RULE_400 },
    { name: 'an answer whose status has no rule gets the default rule', outcome: httpError(503), rules: RULES, expected: DEFAULT_RULE },
    { name: 'the status just above one with a rule gets the default rule', outcome: httpError(430), rules: RULES, expected: DEFAULT_RULE },
    { name: 'the status just below one with a rule gets the default rule', outcome: httpError(428), rules: RULES, expected: DEFAULT_RULE },
    { name: 'without status rules every answer gets the default rule', outcome: httpError(429), rules: NO_STATUS_RULES, expected: DEFAULT_RULE },
    { name: 'a transport error gets the default rule', outcome: transportError('UND_ERR_SOCKET'), rules: RULES, expected: DEFAULT_RULE },
    { name: 'a time-out gets the default rule', outcome: transportError('UND_ERR_HEADERS_TIMEOUT'), rules: RULES, expected: DEFAULT_RULE },
  ];
  for (const { name, outcome, rules, expected } of cases) {
    it(name, () => {
      assert.equal(ruleFor(outcome, rules), expected);
    });
  }
});

describe('decideRedelivery', () => {
  const now = new Date('2026-01-01T00:00:00.000Z');
  const inMs = (ms: number): Date => new Date(now.getTime() + ms);
  const retry = (delayInMs: number, nextAttempt: number): RedeliveryDecision => ({ kind: 'retry', delayInMs, nextAttempt });
  const deadLetter = (reason: 'exhausted' | 'expired'): RedeliveryDecision => ({ kind: 'dead-letter', reason });

  const cases: Array<{ name: string; outcome: FailedOutcome; attempt: number; expiresOn: Date | null; expected: RedeliveryDecision; rules?: RedeliveryOptions }> = [
    { name: 'the first failed attempt is retried after the rule\'s delay', outcome: httpError(503), attempt: 1, expiresOn: null, expected: retry(1000, 2) },
    { name: 'the attempt equal to count is still retried (count redeliveries after the first attempt)', outcome: httpError(503), attempt: 2, expiresOn: null, expected: retry(1000, 3) },
    { name: 'the attempt one past count is dead-lettered as exhausted', outcome: httpError(503), attempt: 3, expiresOn: null, expected: deadLetter('exhausted') },
    { name: 'an attempt far past count is dead-lettered as exhausted', outcome: httpError(503), attempt: 1000, expiresOn: null, expected: deadLetter('exhausted') },
    { name: 'a status rule with count 0 dead-letters the first failed attempt', outcome: httpError(400), attempt: 1, expiresOn: null, expected: deadLetter('exhausted') },
    { name: 'a status rule replaces the default count: attempt 5 of a 429 is retried', outcome: httpError(429), attempt: 5, expiresOn: null, expected: retry(200, 6) },
    { name: 'a status rule replaces the default count: attempt 6 of a 429 is exhausted', outcome: httpError(429), attempt: 6, expiresOn: null, expected: deadLetter('exhausted') },
    { name: 'a Retry-After longer than the rule\'s delay is the delay', outcome: httpError(429, 5000), attempt: 1, expiresOn: null, expected: retry(5000, 2) },
    { name: 'a Retry-After shorter than the rule\'s delay leaves the rule\'s delay', outcome: httpError(429, 100), attempt: 1, expiresOn: null, expected: retry(200, 2) },
    { name: 'a Retry-After equal to the rule\'s delay is that delay', outcome: httpError(429, 200), attempt: 1, expiresOn: null, expected: retry(200, 2) },
    { name: 'a Retry-After of 0 leaves the rule\'s delay', outcome: httpError(503, 0), attempt: 1, expiresOn: null, expected: retry(1000, 2) },
    { name: 'a Retry-After does not buy an exhausted request another attempt', outcome: httpError(503, 5000), attempt: 3, expiresOn: null, expected: deadLetter('exhausted') },
    { name: 'a transport error is retried by the default rule', outcome: transportError('UND_ERR_SOCKET'), attempt: 1, expiresOn: null, expected: retry(1000, 2) },
    { name: 'a transport error past the default count is exhausted', outcome: transportError('UND_ERR_SOCKET'), attempt: 3, expiresOn: null, expected: deadLetter('exhausted') },
    { name: 'a message that never expires is retried even after a week-long Retry-After', outcome: httpError(503, 7 * 24 * 3600_000), attempt: 1, expiresOn: null, expected: retry(7 * 24 * 3600_000, 2) },
    { name: 'a redelivery due 1 ms before the message expires is retried', outcome: httpError(503), attempt: 1, expiresOn: inMs(1001), expected: retry(1000, 2) },
    { name: 'a redelivery due the very millisecond the message expires is dead-lettered as expired', outcome: httpError(503), attempt: 1, expiresOn: inMs(1000), expected: deadLetter('expired') },
    { name: 'a redelivery due after the message expires is dead-lettered as expired', outcome: httpError(503), attempt: 1, expiresOn: inMs(999), expected: deadLetter('expired') },
    { name: 'a message that has already expired is dead-lettered as expired', outcome: httpError(503), attempt: 1, expiresOn: inMs(-1), expected: deadLetter('expired') },
    { name: 'a redelivery with no delay on a message expiring now is dead-lettered as expired', outcome: httpError(503), attempt: 1, expiresOn: now, expected: deadLetter('expired'), rules: { default: { count: 1, delayInMs: 0 }, byHttpStatus: new Map() } },
    { name: 'a Retry-After that reaches past the expiry dead-letters a redelivery the rule\'s delay would fit', outcome: httpError(429, 60_000), attempt: 1, expiresOn: inMs(30_000), expected: deadLetter('expired') },
    { name: 'an exhausted request that would also expire is dead-lettered as exhausted', outcome: httpError(503), attempt: 3, expiresOn: inMs(-1), expected: deadLetter('exhausted') },
  ];
  for (const { name, outcome, attempt, expiresOn, expected, rules = RULES } of cases) {
    it(name, () => {
      assert.deepEqual(decideRedelivery({ outcome, attempt, rules, expiresOn, now }), expected);
    });
  }
});

describe('isPoisonByDequeueCount', () => {
  const cases: Array<{ name: string; dequeueCount: number; attempt: number; maxDequeueCount: number; expected: boolean }> = [
    { name: 'the first receive of the first attempt is not poison', dequeueCount: 1, attempt: 1, maxDequeueCount: 5, expected: false },
    { name: 'receives up to maxDequeueCount for one attempt are not poison', dequeueCount: 5, attempt: 1, maxDequeueCount: 5, expected: false },
    { name: 'one receive more than maxDequeueCount for one attempt is poison', dequeueCount: 6, attempt: 1, maxDequeueCount: 5, expected: true },
    { name: 'each scheduled redelivery is one receive that does not count', dequeueCount: 7, attempt: 3, maxDequeueCount: 5, expected: false },
    { name: 'one unexplained receive more than maxDequeueCount after redeliveries is poison', dequeueCount: 8, attempt: 3, maxDequeueCount: 5, expected: true },
    { name: 'with maxDequeueCount 1, a message received once per attempt is not poison', dequeueCount: 4, attempt: 4, maxDequeueCount: 1, expected: false },
    { name: 'with maxDequeueCount 1, a second receive of one attempt is poison', dequeueCount: 2, attempt: 1, maxDequeueCount: 1, expected: true },
    { name: 'a dequeue count below the attempt (a message sent again with its attempt) is not poison', dequeueCount: 1, attempt: 3, maxDequeueCount: 1, expected: false },
    { name: 'at the largest maxDequeueCount, receives up to it are not poison', dequeueCount: 1000, attempt: 1, maxDequeueCount: 1000, expected: false },
    { name: 'at the largest maxDequeueCount, one receive more is poison', dequeueCount: 1001, attempt: 1, maxDequeueCount: 1000, expected: true },
  ];
  for (const { name, dequeueCount, attempt, maxDequeueCount, expected } of cases) {
    it(name, () => {
      assert.equal(isPoisonByDequeueCount(dequeueCount, attempt, maxDequeueCount), expected);
    });
  }
});

describe('describeFailure', () => {
  const cases: Array<{ name: string; outcome: FailedOutcome; expected: string }> = [
    {
      name: 'an error answer is described by its detail alone',
      outcome: { kind: 'http-error', status: 502, retryAfterInMs: null, detail: 'HTTP 502: bad gateway', durationInMs: 1 },
      expected: 'HTTP 502: bad gateway',
    },
    {
      name: 'an error answer with an empty detail is described as empty',
      outcome: { kind: 'http-error', status: 500, retryAfterInMs: null, detail: '', durationInMs: 1 },
      expected: '',
    },
    {
      name: 'a transport error is described by its code, then its detail',
      outcome: { kind: 'transport-error', code: 'UND_ERR_HEADERS_TIMEOUT', detail: 'Headers Timeout Error', durationInMs: 1 },
      expected: 'UND_ERR_HEADERS_TIMEOUT: Headers Timeout Error',
    },
    {
      name: 'a transport error with an empty detail still names its code',
      outcome: { kind: 'transport-error', code: 'ECONNREFUSED', detail: '', durationInMs: 1 },
      expected: 'ECONNREFUSED: ',
    },
  ];
  for (const { name, outcome, expected } of cases) {
    it(name, () => {
      assert.equal(describeFailure(outcome), expected);
    });
  }
});
