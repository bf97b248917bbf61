import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toVisibilitySeconds } from '../../src/storage/queues.js';

const SEVEN_DAYS_IN_SECONDS = 7 * 24 * 3600;

describe('toVisibilitySeconds', () => {
  const cases: Array<[name: string, ms: number, expected: number]> = [
    ['zero stays zero (visible at once)', 0, 0],
    ['whole seconds convert exactly', 30_000, 30],
    ['one millisecond rounds up to a second', 1, 1],
    ['a part second rounds up, never shortening a delay', 1_001, 2],
    ['just under a second is a second', 999, 1],
    ['a negative delay becomes zero', -2_500, 0],
    ['seven days is allowed', SEVEN_DAYS_IN_SECONDS * 1000, SEVEN_DAYS_IN_SECONDS],
    ['just over seven days is capped at seven days', SEVEN_DAYS_IN_SECONDS * 1000 + 1, SEVEN_DAYS_IN_SECONDS],
    ['a month is capped at seven days', 30 * 24 * 3600 * 1000, SEVEN_DAYS_IN_SECONDS],
  ];
  for (const [name, ms, expected] of cases) {
    it(`${name}: ${ms} ms -> ${expected} s`, () => {
      assert.equal(toVisibilitySeconds(ms), expected);
    });
  }
});
