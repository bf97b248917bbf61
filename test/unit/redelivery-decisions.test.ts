import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RedeliveryOptions, RedeliveryRule, StatusRule } from '../../src/config/types.js';
import { decideRedelivery, describeFailure, type FailedOutcome, isPoisonByDequeueCount, type RedeliveryDecision, ruleFor } from '../../src/engine/redelivery.js';

function httpError(status: number, retryAfterInMs: number | null = null): FailedOutcome {
  return { kind: 'http-error', status, retryAfterInMs, detail: `HTTP ${status}`, durationInMs: 5 };
}

function transportError(code: string): FailedOutcome {
  return { kind: 'transport-error', code, detail: 'connect ECONNREFUSED 127.0.0.1:1', durationInMs: 5 };
}

const SEVEN_DAYS_IN_MS = 7 * 24 * 3600_000;

/** A rule as the config resolves one: fixed, no jitter, capped at 7 days, unless `extra` says otherwise. */
function rule(count: number, delayInMs: number, extra: Partial<RedeliveryRule> = {}): RedeliveryRule {
  return { count, delayInMs, backoff: 'fixed', maxDelayInMs: SEVEN_DAYS_IN_MS, hasJitter: false, ...extra };
}
const forStatuses = (fromStatus: number, toStatus: number, r: RedeliveryRule): StatusRule => ({ fromStatus, toStatus, rule: r });
const options = (defaultRule: RedeliveryRule, ...statusRules: StatusRule[]): RedeliveryOptions => ({ default: defaultRule, statusRules });

const DEFAULT_RULE = rule(2, 1000);
const RULE_429 = rule(5, 200);
const RULE_400 = rule(0, 0);
/** Redeliveries: 2 after 1 s by default, 5 after 200 ms for a 429, none for a 400. */
const RULES = options(DEFAULT_RULE, forStatuses(429, 429, RULE_429), forStatuses(400, 400, RULE_400));
const NO_STATUS_RULES = options(DEFAULT_RULE);

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

describe('ruleFor with ranges and classes', () => {
  const EXACT_503 = rule(1, 1);
  const RANGE_500_504 = rule(2, 2);
  const RANGE_500_549 = rule(3, 3);
  const CLASS_5XX = rule(4, 4);
  const EXACT_429 = rule(5, 5);
  const CLASS_4XX = rule(6, 6);
  const list = [
    forStatuses(500, 599, CLASS_5XX),
    forStatuses(500, 549, RANGE_500_549),
    forStatuses(500, 504, RANGE_500_504),
    forStatuses(503, 503, EXACT_503),
    forStatuses(400, 499, CLASS_4XX),
    forStatuses(429, 429, EXACT_429),
  ];
  const cases: Array<[name: string, status: number, expected: RedeliveryRule]> = [
    ['an exact status beats every range and the class that hold it', 503, EXACT_503],
    ['the narrowest range beats a wider one and the class', 502, RANGE_500_504],
    ['a range holds its upper end', 504, RANGE_500_504],
    ['past the narrowest range, the next narrowest holds the status', 505, RANGE_500_549],
    ['a range holds its lower end', 500, RANGE_500_504],
    ['a range beats the class', 549, RANGE_500_549],
    ['past every range, the class holds the status', 550, CLASS_5XX],
    ['a class holds its last status', 599, CLASS_5XX],
    ['an exact status beats its class', 429, EXACT_429],
    ['a class alone holds the rest of its hundred', 404, CLASS_4XX],
    ['a status no rule holds gets the default rule', 302, DEFAULT_RULE],
    ['a status beyond 599 gets the default rule', 600, DEFAULT_RULE],
  ];
  for (const [name, status, expected] of cases) {
    it(name, () => {
      assert.equal(ruleFor(httpError(status), options(DEFAULT_RULE, ...list)), expected);
      assert.equal(ruleFor(httpError(status), options(DEFAULT_RULE, ...list.toReversed())), expected, 'whatever the rules\' order');
    });
  }

  it('a transport error gets the default rule even under a class rule for every status', () => {
    assert.equal(ruleFor(transportError('UND_ERR_SOCKET'), options(DEFAULT_RULE, forStatuses(100, 599, CLASS_5XX))), DEFAULT_RULE);
  });
});

describe('redelivery delays', () => {
  const now = new Date('2026-01-01T00:00:00.000Z');
  /** The delay decided for failed attempt `attempt` of a 503 under `r`, with `random` drawing `draw`. */
  function delayOf(r: RedeliveryRule, attempt: number, draw: number, retryAfterInMs: number | null = null): number {
    const decision = decideRedelivery({ outcome: httpError(503, retryAfterInMs), attempt, rules: options(rule(0, 0), forStatuses(500, 599, r)), expiresOn: null, now, random: () => draw });
    assert.equal(decision.kind, 'retry');
    return decision.kind === 'retry' ? decision.delayInMs : Number.NaN;
  }
  const exponential = (delayInMs: number, extra: Partial<RedeliveryRule> = {}): RedeliveryRule => rule(1000, delayInMs, { backoff: 'exponential', hasJitter: false, ...extra });
  const jittered = (delayInMs: number, extra: Partial<RedeliveryRule> = {}): RedeliveryRule => exponential(delayInMs, { hasJitter: true, ...extra });

  const cases: Array<[name: string, r: RedeliveryRule, attempt: number, draw: number, retryAfterInMs: number | null, expected: number]> = [
    ['fixed: the first redelivery waits the delay', rule(5, 1000), 1, 0.5, null, 1000],
    ['fixed: every later redelivery waits the same delay', rule(5, 1000), 5, 0.5, null, 1000],
    ['fixed: a delay of 0 redelivers at once', rule(5, 0), 3, 0.5, null, 0],
    ['fixed: maxDelay caps the delay', rule(5, 1000, { maxDelayInMs: 400 }), 1, 0.5, null, 400],
    ['exponential: the first redelivery waits the delay', exponential(1000), 1, 0.5, null, 1000],
    ['exponential: the second waits twice the delay', exponential(1000), 2, 0.5, null, 2000],
    ['exponential: the third waits four times the delay', exponential(1000), 3, 0.5, null, 4000],
    ['exponential: the sixth waits 32 times the delay', exponential(1000), 6, 0.5, null, 32_000],
    ['exponential: maxDelay caps the doubling', exponential(1000, { maxDelayInMs: 5000 }), 4, 0.5, null, 5000],
    ['exponential: maxDelay equal to the doubled delay is that delay', exponential(1000, { maxDelayInMs: 4000 }), 3, 0.5, null, 4000],
    ['exponential: a thousand attempts still wait only the cap', exponential(1000, { maxDelayInMs: 5000 }), 1000, 0.5, null, 5000],
    ['exponential: without maxDelay the wait stops at 7 days, Azure\'s longest visibility', exponential(1000, { maxDelayInMs: SEVEN_DAYS_IN_MS }), 40, 0.5, null, SEVEN_DAYS_IN_MS],
    ['exponential: a delay of 0 stays 0 however many attempts', exponential(0), 1000, 0.5, null, 0],
    ['jitter: the lowest draw redelivers at once', jittered(1000), 3, 0, null, 0],
    ['jitter: half a draw waits half the doubled delay', jittered(1000), 3, 0.5, null, 2000],
    ['jitter: the highest draw stays within the doubled delay', jittered(1000), 3, 0.999, null, 3996],
    ['jitter: the draw is taken within the cap', jittered(1000, { maxDelayInMs: 5000 }), 10, 0.5, null, 2500],
    ['jitter on a fixed rule: half a draw waits half the delay', rule(5, 1000, { hasJitter: true }), 4, 0.5, null, 500],
    ['jitter on a fixed rule: the highest draw stays within the delay', rule(5, 1000, { hasJitter: true }), 4, 0.999, null, 999],
    ['a Retry-After longer than the jittered delay wins', jittered(1000), 3, 0.5, 3000, 3000],
    ['a Retry-After wins over a draw of 0', jittered(1000), 3, 0, 1500, 1500],
    ['a jittered delay longer than the Retry-After stays', jittered(1000), 3, 0.999, 3000, 3996],
    ['a Retry-After longer than the doubled delay wins', exponential(1000), 2, 0.5, 2500, 2500],
    ['a Retry-After beyond maxDelay still wins: maxDelay caps the rule\'s own wait', exponential(1000, { maxDelayInMs: 5000 }), 10, 0.5, 60_000, 60_000],
  ];
  for (const [name, r, attempt, draw, retryAfterInMs, expected] of cases) {
    it(name, () => {
      assert.equal(delayOf(r, attempt, draw, retryAfterInMs), expected);
    });
  }

  it('a jittered delay stays within [0, the computed delay] for any draw', () => {
    for (const draw of [0, 0.1, 0.25, 0.5, 0.75, 0.999, 0.999_999_9]) {
      for (const attempt of [1, 2, 3, 8]) {
        const delay = delayOf(jittered(100, { maxDelayInMs: 10_000 }), attempt, draw);
        const ceiling = Math.min(100 * 2 ** (attempt - 1), 10_000);
        assert.ok(delay >= 0 && delay <= ceiling && Number.isInteger(delay), `attempt ${attempt}, draw ${draw}: ${delay} ms (ceiling ${ceiling})`);
      }
    }
  });

  it('an exponential rule is exhausted after its count like a fixed one', () => {
    const decision = decideRedelivery({ outcome: httpError(503), attempt: 3, rules: options(exponential(1000, { count: 2 })), expiresOn: null, now, random: () => 0.5 });
    assert.deepEqual(decision, { kind: 'dead-letter', reason: 'exhausted' });
  });

  it('a doubled delay that reaches past the message\'s expiry dead-letters it as expired', () => {
    const expiresOn = new Date(now.getTime() + 3000);
    const decide = (attempt: number): RedeliveryDecision =>
      decideRedelivery({ outcome: httpError(503), attempt, rules: options(exponential(1000)), expiresOn, now, random: () => 0.5 });
    assert.deepEqual(decide(2), { kind: 'retry', delayInMs: 2000, nextAttempt: 3 });
    assert.deepEqual(decide(3), { kind: 'dead-letter', reason: 'expired' });
  });
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
    { name: 'a redelivery with no delay on a message expiring now is dead-lettered as expired', outcome: httpError(503), attempt: 1, expiresOn: now, expected: deadLetter('expired'), rules: options(rule(1, 0)) },
    { name: 'a Retry-After that reaches past the expiry dead-letters a redelivery the rule\'s delay would fit', outcome: httpError(429, 60_000), attempt: 1, expiresOn: inMs(30_000), expected: deadLetter('expired') },
    { name: 'an exhausted request that would also expire is dead-lettered as exhausted', outcome: httpError(503), attempt: 3, expiresOn: inMs(-1), expected: deadLetter('exhausted') },
  ];
  for (const { name, outcome, attempt, expiresOn, expected, rules = RULES } of cases) {
    it(name, () => {
      assert.deepEqual(decideRedelivery({ outcome, attempt, rules, expiresOn, now, random: Math.random }), expected);
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
