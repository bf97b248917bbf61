import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idleDelayInMs, PollState } from '../../src/engine/poll-state.js';

describe('idleDelayInMs', () => {
  const middle = (): number => 0.5; // no jitter: the factor is exactly 1
  const cases: Array<[name: string, emptyPolls: number, delay: number, maxIdle: number, expected: number]> = [
    ['the first empty poll waits delay', 1, 500, 5000, 500],
    ['the second doubles it', 2, 500, 5000, 1000],
    ['the third doubles again', 3, 500, 5000, 2000],
    ['the fourth stops at maxIdleDelay', 4, 500, 5000, 4000],
    ['the fifth is capped', 5, 500, 5000, 5000],
    ['a hundred empty polls are still capped', 100, 500, 5000, 5000],
    ['maxIdleDelay equal to delay is fixed polling', 7, 500, 500, 500],
    ['maxIdleDelay below delay is fixed polling at delay', 7, 500, 100, 500],
    ['a delay of 0 polls again at once after the first empty poll', 1, 0, 5000, 0],
    ['a delay of 0 still backs off from 100 ms', 2, 0, 5000, 200],
    ['zero empty polls (a message came) waits delay', 0, 500, 5000, 500],
  ];
  for (const [name, emptyPolls, delay, maxIdle, expected] of cases) {
    it(name, () => assert.equal(idleDelayInMs(emptyPolls, delay, maxIdle, middle), expected));
  }

  it('jitters a backed-off wait by at most 20% either way, and never a fixed one', () => {
    assert.equal(idleDelayInMs(5, 500, 5000, () => 0), 4000);
    assert.equal(idleDelayInMs(5, 500, 5000, () => 0.999_999), 6000);
    assert.equal(idleDelayInMs(1, 500, 5000, () => 0), 500);
    assert.equal(idleDelayInMs(9, 500, 500, () => 0.999_999), 500);
  });
});

describe('PollState', () => {
  it('sleeps the given time and reports it as the wait meanwhile', async () => {
    const state = new PollState();
    const sleeping = state.sleep(50, new AbortController().signal);
    assert.equal(state.waitInMs, 50);
    assert.equal(await sleeping, false);
    assert.equal(state.waitInMs, 0);
  });

  it('wakes a sleep at once, and says so', async () => {
    const state = new PollState();
    const sleeping = state.sleep(60_000, new AbortController().signal);
    state.wake();
    assert.equal(await sleeping, true);
  });

  it('keeps a wake-up that came while nobody slept for the next sleep, once', async () => {
    const state = new PollState();
    state.wake();
    assert.equal(await state.sleep(60_000, new AbortController().signal), true);
    const controller = new AbortController();
    const second = state.sleep(60_000, controller.signal);
    controller.abort();
    assert.equal(await second, false, 'the wake-up was used up');
  });

  it('ends a sleep when its signal aborts, without throwing', async () => {
    const state = new PollState();
    const controller = new AbortController();
    const sleeping = state.sleep(60_000, controller.signal);
    controller.abort(new Error('shutting down'));
    assert.equal(await sleeping, false);
  });
});
