import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ConnectionLimiter } from '../../src/http/connection-limiter.js';
import { isEngineError } from '../../src/errors.js';
import { settlementOf } from './promises.js';

const A = 'http://a.example';
const B = 'http://b.example';
const C = 'http://c.example';

const never = (): AbortSignal => new AbortController().signal;

function limiter(perOrigin: number, total: number, waitTimeoutInMs: number | null = null): ConnectionLimiter {
  return new ConnectionLimiter({ perOrigin, total, waitTimeoutInMs });
}

describe('ConnectionLimiter', () => {
  const badLimits: Array<[number, number]> = [
    [0, 4],
    [2, 0],
  ];
  for (const [perOrigin, total] of badLimits) {
    it(`refuses perOrigin ${perOrigin} and total ${total} with AE_INVALID_OPTION`, () => {
      assert.throws(() => limiter(perOrigin, total), (err: unknown) => isEngineError(err, 'AE_INVALID_OPTION'));
    });
  }

  it('holds the per-origin and total limits under many concurrent acquires', async () => {
    const perOrigin = 2;
    const total = 5;
    const permits = limiter(perOrigin, total);
    const current = new Map<string, number>();
    const highest = new Map<string, number>();
    let currentTotal = 0;
    let highestTotal = 0;
    const use = async (origin: string, holdTurns: number): Promise<void> => {
      const release = await permits.acquire(origin, never());
      current.set(origin, (current.get(origin) ?? 0) + 1);
      currentTotal++;
      highest.set(origin, Math.max(highest.get(origin) ?? 0, current.get(origin) ?? 0));
      highestTotal = Math.max(highestTotal, currentTotal);
      // Permits are granted before their holders run, so the limiter may count more than have started.
      assert.ok(permits.inUse >= currentTotal && permits.inUse <= total, `inUse ${permits.inUse} with ${currentTotal} holders`);
      for (let turn = 0; turn < holdTurns; turn++) await nextTurn();
      current.set(origin, (current.get(origin) ?? 0) - 1);
      currentTotal--;
      release();
    };
    const uses: Array<Promise<void>> = [];
    for (let i = 0; i < 60; i++) uses.push(use([A, B, C][i % 3]!, 1 + ((i * 7) % 5)));
    await Promise.all(uses);
    // Three origins could hold 6 permits; the total of 5 is the tighter bound, and it is reached.
    assert.equal(highestTotal, total);
    for (const origin of [A, B, C]) assert.equal(highest.get(origin), perOrigin, `highest concurrency to ${origin}`);
    assert.equal(permits.inUse, 0);
  });

  it('grants waiting acquires of one origin in the order they came', async () => {
    const permits = limiter(1, 10);
    const first = await permits.acquire(A, never());
    const granted: number[] = [];
    const waiting = [1, 2, 3, 4].map((n) =>
      permits.acquire(A, never()).then((release) => {
        granted.push(n);
        return release;
      }),
    );
    let release = first;
    for (const next of waiting) {
      release();
      release = await next;
    }
    release();
    assert.deepEqual(granted, [1, 2, 3, 4]);
    assert.equal(permits.inUse, 0);
  });

  it('grants waiting acquires of different origins in the order they came when the total frees up', async () => {
    const permits = limiter(5, 1);
    const first = await permits.acquire(A, never());
    const granted: string[] = [];
    const waiting = [B, C, A].map((origin) =>
      permits.acquire(origin, never()).then((release) => {
        granted.push(origin);
        return release;
      }),
    );
    let release = first;
    for (const next of waiting) {
      release();
      release = await next;
    }
    release();
    assert.deepEqual(granted, [B, C, A]);
  });

  it('does not let a waiter for a full origin block an acquire for another origin', async () => {
    const permits = limiter(1, 10);
    await permits.acquire(A, never());
    const waitingForA = permits.acquire(A, never());
    const forB = permits.acquire(B, never());
    assert.equal((await settlementOf(forB)).state, 'fulfilled');
    assert.equal((await settlementOf(waitingForA)).state, 'pending');
    assert.equal(permits.inUse, 2);
  });

  it('skips a waiter whose origin is still full when a permit of another origin frees up', async () => {
    const permits = limiter(1, 2);
    await permits.acquire(A, never());
    const releaseB = await permits.acquire(B, never());
    const waitingForA = permits.acquire(A, never());
    const waitingForC = permits.acquire(C, never());
    releaseB();
    assert.equal((await settlementOf(waitingForC)).state, 'fulfilled');
    assert.equal((await settlementOf(waitingForA)).state, 'pending');
  });

  it('rejects a wait that outlasts the time-out with AE_POOL_TIMEOUT and frees nothing', async () => {
    const permits = limiter(1, 10, 30);
    const release = await permits.acquire(A, never());
    const started = performance.now();
    await assert.rejects(permits.acquire(A, never()), (err: unknown) => isEngineError(err, 'AE_POOL_TIMEOUT'));
    assert.ok(performance.now() - started >= 25, 'rejected before the time-out');
    assert.equal(permits.inUse, 1);
    // The timed-out waiter is gone: the next release goes to a new waiter, and only one permit is taken.
    const next = permits.acquire(A, never());
    assert.equal((await settlementOf(next)).state, 'pending');
    release();
    assert.equal((await settlementOf(next)).state, 'fulfilled');
    assert.equal(permits.inUse, 1);
  });

  it('does not time out an acquire that gets its permit at once', async () => {
    const permits = limiter(1, 10, 1);
    const release = await permits.acquire(A, never());
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(permits.inUse, 1);
    release();
    assert.equal(permits.inUse, 0);
  });

  it('rejects with the signal reason when the wait is aborted, and forgets the waiter', async () => {
    const permits = limiter(1, 10);
    const release = await permits.acquire(A, never());
    const controller = new AbortController();
    const reason = new Error('step given up');
    const abandoned = permits.acquire(A, controller.signal);
    const next = permits.acquire(A, never());
    controller.abort(reason);
    await assert.rejects(abandoned, (err: unknown) => err === reason);
    release();
    assert.equal((await settlementOf(next)).state, 'fulfilled');
    assert.equal(permits.inUse, 1);
  });

  it('rejects at once with the signal reason when the signal has already aborted, even with permits free', async () => {
    const permits = limiter(1, 10);
    const reason = new Error('already stopped');
    await assert.rejects(permits.acquire(A, AbortSignal.abort(reason)), (err: unknown) => err === reason);
    assert.equal(permits.inUse, 0);
  });

  it('ignores a release called a second time', async () => {
    const permits = limiter(1, 10);
    const release = await permits.acquire(A, never());
    const waiting = permits.acquire(A, never());
    release();
    await waiting;
    release();
    assert.equal(permits.inUse, 1);
    assert.equal((await settlementOf(permits.acquire(A, never()))).state, 'pending');
  });
});
