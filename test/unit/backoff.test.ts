import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pause } from '../../src/common/pause.js';
import { errorDelayInMs } from '../../src/engine/backoff.js';

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

describe('errorDelayInMs', () => {
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
      assert.equal(errorDelayInMs(failures, baseInMs, maxInMs), expected);
    });
  }

  it('never shrinks as failures accumulate', () => {
    let previous = 0;
    for (let failures = 1; failures <= 30; failures++) {
      const delay = errorDelayInMs(failures, 250, 30_000);
      assert.ok(delay >= previous, `failure ${failures} waits ${delay} ms, less than ${previous} ms`);
      previous = delay;
    }
  });
});
