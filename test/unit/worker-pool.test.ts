import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkerPool } from '../../src/engine/worker-pool.js';
import { EngineError, isEngineError } from '../../src/errors.js';
import { deferred, settlementOf } from './promises.js';
import type { Deferred } from './promises.js';

const noBug = (err: unknown): void => assert.fail(`unexpected onBug(${String(err)})`);

/** Submits a task that runs until the returned deferred is settled. */
function submitHeld(pool: WorkerPool, onBug: (err: unknown) => void = noBug): Deferred<void> {
  const task = deferred();
  pool.submit(() => task.promise, onBug);
  return task;
}

/** Lets the pool's promise chain (catch, finally) run after a task settled. */
const settle = async (): Promise<void> => {
  await settlementOf(Promise.resolve());
};

describe('WorkerPool', () => {
  for (const size of [0, -1, 1.5, Number.NaN]) {
    it(`refuses a size of ${size} with AE_INVALID_OPTION`, () => {
      assert.throws(() => new WorkerPool({ size }), (err: unknown) => isEngineError(err, 'AE_INVALID_OPTION'));
    });
  }

  it('counts free slots and tasks in flight as tasks start and end', async () => {
    const pool = new WorkerPool({ size: 3 });
    assert.deepEqual([pool.freeSlots, pool.inFlight], [3, 0]);
    const first = submitHeld(pool);
    const second = submitHeld(pool);
    assert.deepEqual([pool.freeSlots, pool.inFlight], [1, 2]);
    first.resolve();
    await settle();
    assert.deepEqual([pool.freeSlots, pool.inFlight], [2, 1]);
    second.resolve();
    await settle();
    assert.deepEqual([pool.freeSlots, pool.inFlight], [3, 0]);
  });

  it('whenSlotFree resolves at once while a slot is free', async () => {
    const pool = new WorkerPool({ size: 2 });
    submitHeld(pool);
    assert.equal((await settlementOf(pool.whenSlotFree(new AbortController().signal))).state, 'fulfilled');
  });

  it('whenSlotFree waits until a running task ends', async () => {
    const pool = new WorkerPool({ size: 1 });
    const task = submitHeld(pool);
    const slot = pool.whenSlotFree(new AbortController().signal);
    assert.equal((await settlementOf(slot)).state, 'pending');
    task.resolve();
    assert.equal((await settlementOf(slot)).state, 'fulfilled');
    assert.equal(pool.freeSlots, 1);
  });

  it('whenSlotFree resolves without throwing when its signal aborts while the pool is full', async () => {
    const pool = new WorkerPool({ size: 1 });
    submitHeld(pool);
    const controller = new AbortController();
    const slot = pool.whenSlotFree(controller.signal);
    assert.equal((await settlementOf(slot)).state, 'pending');
    controller.abort(new Error('stopping'));
    assert.equal((await settlementOf(slot)).state, 'fulfilled');
    assert.equal(pool.freeSlots, 0);
  });

  it('whenSlotFree resolves at once when its signal has already aborted', async () => {
    const pool = new WorkerPool({ size: 1 });
    submitHeld(pool);
    assert.equal((await settlementOf(pool.whenSlotFree(AbortSignal.abort()))).state, 'fulfilled');
  });

  it('a waiter that gave up on abort does not take the wake-up of the next waiter', async () => {
    const pool = new WorkerPool({ size: 1 });
    const task = submitHeld(pool);
    const leaving = new AbortController();
    const gaveUp = pool.whenSlotFree(leaving.signal);
    const staying = pool.whenSlotFree(new AbortController().signal);
    leaving.abort();
    await gaveUp;
    assert.equal((await settlementOf(staying)).state, 'pending');
    task.resolve();
    assert.equal((await settlementOf(staying)).state, 'fulfilled');
  });

  it('wakes one slot waiter per ended task, in the order they waited', async () => {
    const pool = new WorkerPool({ size: 2 });
    const first = submitHeld(pool);
    const second = submitHeld(pool);
    const woken: string[] = [];
    const a = pool.whenSlotFree(new AbortController().signal).then(() => woken.push('a'));
    const b = pool.whenSlotFree(new AbortController().signal).then(() => woken.push('b'));
    first.resolve();
    await settle();
    assert.deepEqual(woken, ['a']);
    second.resolve();
    await Promise.all([a, b]);
    assert.deepEqual(woken, ['a', 'b']);
  });

  it('whenFreeSlots waits until that many slots are free, not just one', async () => {
    const pool = new WorkerPool({ size: 3 });
    const tasks = [submitHeld(pool), submitHeld(pool), submitHeld(pool)];
    const slots = pool.whenFreeSlots(2, new AbortController().signal);
    tasks[0]!.resolve();
    assert.equal((await settlementOf(slots)).state, 'pending');
    tasks[1]!.resolve();
    assert.equal((await settlementOf(slots)).state, 'fulfilled');
    assert.equal(pool.freeSlots, 2);
  });

  it('whenFreeSlots asks for no more than the pool size', async () => {
    const pool = new WorkerPool({ size: 2 });
    assert.equal((await settlementOf(pool.whenFreeSlots(32, new AbortController().signal))).state, 'fulfilled');
  });

  it('whenFreeSlots gives up waiting after maxWaitInMs, and at once for 0', async () => {
    const pool = new WorkerPool({ size: 2 });
    const task = submitHeld(pool);
    assert.equal((await settlementOf(pool.whenFreeSlots(2, new AbortController().signal, 0))).state, 'fulfilled');
    const startedAt = performance.now();
    await pool.whenFreeSlots(2, new AbortController().signal, 50);
    assert.ok(performance.now() - startedAt >= 45);
    assert.equal(pool.freeSlots, 1, 'resolved by the time limit, with the task still running');
    task.resolve();
  });

  it('whenFreeSlots resolves when its signal aborts, and leaves the queue of waiters', async () => {
    const pool = new WorkerPool({ size: 2 });
    const task = submitHeld(pool);
    const controller = new AbortController();
    const slots = pool.whenFreeSlots(2, controller.signal, 60_000);
    controller.abort();
    assert.equal((await settlementOf(slots)).state, 'fulfilled');
    const next = pool.whenFreeSlots(2, new AbortController().signal);
    task.resolve();
    assert.equal((await settlementOf(next)).state, 'fulfilled', 'the aborted waiter left the queue');
  });

  it('submit without a free slot throws AE_INVALID_OPTION and does not start the task', () => {
    const pool = new WorkerPool({ size: 1 });
    submitHeld(pool);
    let isStarted = false;
    assert.throws(
      () =>
        pool.submit(async () => {
          isStarted = true;
        }, noBug),
      (err: unknown) => err instanceof EngineError && err.code === 'AE_INVALID_OPTION',
    );
    assert.equal(isStarted, false);
    assert.deepEqual([pool.freeSlots, pool.inFlight], [0, 1]);
  });

  it('passes a rejecting task to onBug and frees its slot', async () => {
    const pool = new WorkerPool({ size: 1 });
    const bugs: unknown[] = [];
    const failure = new Error('step runner bug');
    const task = submitHeld(pool, (err) => bugs.push(err));
    const slot = pool.whenSlotFree(new AbortController().signal);
    task.reject(failure);
    assert.equal((await settlementOf(slot)).state, 'fulfilled');
    assert.deepEqual(bugs, [failure]);
    assert.deepEqual([pool.freeSlots, pool.inFlight], [1, 0]);
    assert.equal((await settlementOf(pool.whenIdle())).state, 'fulfilled');
  });

  it('passes a task that throws instead of rejecting to onBug and frees its slot', async () => {
    const pool = new WorkerPool({ size: 1 });
    const bugs: unknown[] = [];
    const failure = new Error('thrown before any await');
    pool.submit(() => {
      throw failure;
    }, (err) => bugs.push(err));
    await pool.whenIdle();
    assert.deepEqual(bugs, [failure]);
    assert.equal(pool.freeSlots, 1);
  });

  it('does not call onBug for a task that succeeds', async () => {
    const pool = new WorkerPool({ size: 1 });
    const bugs: unknown[] = [];
    submitHeld(pool, (err) => bugs.push(err)).resolve();
    await pool.whenIdle();
    assert.deepEqual(bugs, []);
  });

  it('whenIdle resolves at once when no task runs', async () => {
    const pool = new WorkerPool({ size: 2 });
    assert.equal((await settlementOf(pool.whenIdle())).state, 'fulfilled');
  });

  it('whenIdle waits until every running task has ended, not just one', async () => {
    const pool = new WorkerPool({ size: 2 });
    const first = submitHeld(pool);
    const second = submitHeld(pool);
    const idle = pool.whenIdle();
    const alsoIdle = pool.whenIdle();
    first.resolve();
    assert.equal((await settlementOf(idle)).state, 'pending');
    second.resolve();
    assert.equal((await settlementOf(idle)).state, 'fulfilled');
    assert.equal((await settlementOf(alsoIdle)).state, 'fulfilled');
  });
});
