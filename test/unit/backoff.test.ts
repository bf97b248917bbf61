import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pause } from '../../src/common/pause.js';
import { backoffCeilingInMs, backoffDelayInMs, doublingDelayInMs, fullJitterInMs } from '../../src/common/backoff.js';

/** Milliseconds `action` took to settle. */
async function timed(action: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

describe('pause', () => {
  it('waits about the given time when nothing aborts it', async () => {
    const tookInMs = await timed(() => pause(60, new AbortController().signal));
    assert.ok(tookInMs >= 55, `took ${tookInMs} ms`);
  });

  it('resolves early and without throwing when its signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('shutting down')), 20);
    const tookInMs = await timed(() => pause(5_000, controller.signal));
    assert.ok(tookInMs < 1_000, `took ${tookInMs} ms`);
  });

  it('resolves at once when its signal aborted before it began', async () => {
    const tookInMs = await timed(() => pause(5_000, AbortSignal.abort(new Error('already stopped'))));
    assert.ok(tookInMs < 100, `took ${tookInMs} ms`);
  });

  it('resolves at once for a zero or negative delay', async () => {
    const signal = new AbortController().signal;
    const tookInMs = await timed(async () => {
      await pause(0, signal);
      await pause(-5, signal);
    });
    assert.ok(tookInMs < 100, `took ${tookInMs} ms`);
  });
});

describe('doublingDelayInMs', () => {
  const cases: Array<[name: string, attempt: number, baseInMs: number, maxInMs: number, expected: number]> = [
    ['the first attempt waits the base', 1, 1000, 60_000, 1000],
    ['attempt n waits the base times 2^(n-1)', 4, 1000, 60_000, 8000],
    ['the cap stops the doubling', 7, 1000, 60_000, 60_000],
    ['a base under 100 ms is kept as it is', 3, 10, 60_000, 40],
    ['a base of 0 stays 0 at any attempt', 5000, 0, Number.POSITIVE_INFINITY, 0],
    ['a thousand attempts wait the cap, not Infinity', 1000, 1, 604_800_000, 604_800_000],
    ['attempt 0 counts as the first', 0, 1000, 60_000, 1000],
  ];
  for (const [name, attempt, baseInMs, maxInMs, expected] of cases) {
    it(name, () => {
      assert.equal(doublingDelayInMs(attempt, baseInMs, maxInMs), expected);
    });
  }
});

describe('fullJitterInMs', () => {
  const cases: Array<[name: string, random: number, ceilingInMs: number, expected: number]> = [
    ['the lowest draw waits nothing', 0, 4000, 0],
    ['half a draw waits half the ceiling', 0.5, 4000, 2000],
    ['the highest draw stays below the ceiling, in whole milliseconds', 0.999, 4000, 3996],
    ['a ceiling of 0 waits nothing', 0.7, 0, 0],
  ];
  for (const [name, random, ceilingInMs, expected] of cases) {
    it(name, () => {
      assert.equal(fullJitterInMs(ceilingInMs, () => random), expected);
    });
  }
});

describe('backoffCeilingInMs', () => {
  const cases: Array<[name: string, failures: number, baseInMs: number, maxInMs: number, expected: number]> = [
    ['the first failure waits the base delay', 1, 500, 60_000, 500],
    ['the second failure waits twice the base', 2, 500, 60_000, 1_000],
    ['the third failure waits four times the base', 3, 500, 60_000, 2_000],
    ['the fifth failure waits sixteen times the base', 5, 500, 60_000, 8_000],
    ['the delay stops growing at the cap', 8, 500, 60_000, 60_000],
    ['a hundred failures still wait only the cap', 100, 500, 60_000, 60_000],
    ['a cap below the base wins', 1, 500, 200, 200],
    ['zero failures count as the first', 0, 500, 60_000, 500],
    ['a base under 100 ms is raised to 100 ms', 1, 0, 60_000, 100],
    ['a raised base doubles from 100 ms', 3, 10, 60_000, 400],
    ['the exponent stops at 16 so the delay stays finite without a cap', 40, 100, Number.POSITIVE_INFINITY, 100 * 2 ** 16],
  ];
  for (const [name, failures, baseInMs, maxInMs, expected] of cases) {
    it(name, () => {
      assert.equal(backoffCeilingInMs(failures, baseInMs, maxInMs), expected);
    });
  }

  it('never shrinks as failures accumulate', () => {
    let previous = 0;
    for (let failures = 1; failures <= 30; failures++) {
      const delay = backoffCeilingInMs(failures, 250, 30_000);
      assert.ok(delay >= previous, `failure ${failures} waits ${delay} ms, less than ${previous} ms`);
      previous = delay;
    }
  });
});

describe('backoffDelayInMs', () => {
  const cases: Array<[name: string, random: number, failures: number, expected: number]> = [
    ['the lowest draw retries at once', 0, 3, 0],
    ['half a draw waits half the ceiling', 0.5, 3, 1_000],
    ['the highest draw stays below the ceiling', 0.999_999, 3, 1_999],
    ['the ceiling still caps the draw', 0.5, 50, 15_000],
  ];
  for (const [name, random, failures, expected] of cases) {
    it(name, () => {
      assert.equal(backoffDelayInMs(failures, 500, 30_000, () => random), expected);
    });
  }

  it('spreads replicas that failed together over the whole window', () => {
    const delays = Array.from({ length: 1000 }, () => backoffDelayInMs(5, 500, 30_000));
    assert.ok(delays.every((d) => d >= 0 && d < 8_000), 'within [0, ceiling)');
    // Ten equal slices of the window: each gets some, as a uniform draw does (the chance that one
    // of them gets none of 1000 draws is about 10 x 0.9^1000, nil).
    const slices = new Set(delays.map((d) => Math.floor(d / 800)));
    assert.equal(slices.size, 10);
  });
});
