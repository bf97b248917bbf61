import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateGate } from '../../src/engine/rate-gate.js';

/** A gate on a clock the test moves. */
function gateAt(maxRatePerSecond: number | null): { gate: RateGate; advance: (ms: number) => void } {
  let now = 1_000;
  return { gate: new RateGate({ maxRatePerSecond, now: () => now }), advance: (ms) => (now += ms) };
}

const open = new AbortController().signal;

describe('RateGate', () => {
  it('lets calls start at once without a limit, however many', async () => {
    const { gate } = gateAt(null);
    for (let i = 0; i < 100; i++) await gate.take(open);
    assert.equal(gate.waitInMs, 0);
  });

  it('holds a quarter of a second\'s tokens, then one more every 1/rate seconds', async () => {
    const { gate, advance } = gateAt(20); // 5 tokens at most, one every 50 ms
    for (let i = 0; i < 5; i++) {
      assert.equal(gate.waitInMs, 0, `call ${i + 1} of the burst`);
      await gate.take(open);
    }
    assert.equal(gate.waitInMs, 50);
    advance(50);
    assert.equal(gate.waitInMs, 0);
    await gate.take(open);
    advance(10_000);
    for (let i = 0; i < 5; i++) await gate.take(open);
    assert.equal(gate.waitInMs, 50, 'a long quiet time refills no more than the burst');
  });

  it('keeps at least one token for a rate under four a second', async () => {
    const { gate, advance } = gateAt(0.5); // one call every 2 s
    await gate.take(open);
    assert.equal(gate.waitInMs, 2000);
    advance(1999);
    assert.equal(gate.waitInMs, 1);
  });

  it('pauses every call until the endpoint\'s Retry-After, a later pause winning', async () => {
    const { gate, advance } = gateAt(null);
    gate.pauseUntil(1_000 + 3_000);
    gate.pauseUntil(1_000 + 1_000);
    assert.equal(gate.waitInMs, 3_000);
    advance(3_000);
    assert.equal(gate.waitInMs, 0);
  });

  it('stops waiting when its signal aborts, taking no token', async () => {
    const { gate } = gateAt(0.001);
    await gate.take(open);
    const controller = new AbortController();
    const taking = gate.take(controller.signal);
    controller.abort();
    await taking;
    assert.ok(gate.waitInMs > 900_000, 'still one call per 1000 s');
  });
});
