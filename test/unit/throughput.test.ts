import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { THROUGHPUT_BUCKET_IN_MS, Throughput } from '../../src/observability/throughput.js';

const FLOWS = [
  { name: 'orders', steps: ['step 0', 'step 1'] },
  { name: 'other', steps: ['step 0'] },
];

/** Counts on a clock the test moves, starting 3 s into a bucket. */
function throughputAt(): { throughput: Throughput; advance: (ms: number) => void; now: () => number } {
  let now = 1_800_000_000_000 + 3_000;
  const throughput = new Throughput({ flows: FLOWS, now: () => now });
  return { throughput, advance: (ms) => (now += ms), now: () => now };
}

describe('Throughput', () => {
  it('answers 90 empty ten-second buckets for a quiet flow, the last one the bucket under way', () => {
    const { throughput, now } = throughputAt();
    const series = throughput.series('orders');
    assert.ok(series);
    assert.equal(series.buckets.length, 90);
    const last = series.buckets.at(-1)!;
    assert.equal(last.start.getTime(), Math.floor(now() / THROUGHPUT_BUCKET_IN_MS) * THROUGHPUT_BUCKET_IN_MS);
    assert.equal(series.buckets[0]!.start.getTime(), last.start.getTime() - 89 * THROUGHPUT_BUCKET_IN_MS);
    assert.ok(series.buckets.every((b) => b.completed === 0 && b.deadLettered === 0));
    assert.deepEqual(series.lastMinute, { completed: 0, deadLettered: 0 });
    assert.deepEqual(series.steps, [
      { step: 0, completed: 0, failed: 0 },
      { step: 1, completed: 0, failed: 0 },
    ]);
  });

  it('counts requests in the bucket of their time and steps per step, each flow apart', () => {
    const { throughput, advance } = throughputAt();
    throughput.countRequest('orders', 'completed');
    throughput.countStep('orders', 1, 'completed');
    advance(THROUGHPUT_BUCKET_IN_MS);
    throughput.countRequest('orders', 'completed');
    throughput.countRequest('orders', 'deadLettered');
    throughput.countStep('orders', 0, 'failed');
    throughput.countStep('orders', 0, 'completed');
    throughput.countRequest('other', 'completed');

    const series = throughput.series('orders')!;
    assert.deepEqual(
      series.buckets.slice(-2).map((b) => [b.completed, b.deadLettered]),
      [
        [1, 0],
        [1, 1],
      ],
    );
    assert.deepEqual(series.lastMinute, { completed: 2, deadLettered: 1 });
    assert.deepEqual(series.steps, [
      { step: 0, completed: 1, failed: 1 },
      { step: 1, completed: 1, failed: 0 },
    ]);
    assert.deepEqual(throughput.series('other')!.lastMinute, { completed: 1, deadLettered: 0 });
  });

  it('lets a count leave the last minute after six buckets and the series after fifteen minutes', () => {
    const { throughput, advance } = throughputAt();
    throughput.countRequest('orders', 'completed');
    throughput.countStep('orders', 0, 'completed');
    advance(5 * THROUGHPUT_BUCKET_IN_MS);
    assert.equal(throughput.series('orders')!.lastMinute.completed, 1, 'the sixth bucket back still counts');
    advance(THROUGHPUT_BUCKET_IN_MS);
    const later = throughput.series('orders')!;
    assert.equal(later.lastMinute.completed, 0);
    assert.equal(later.steps[0]!.completed, 0);
    assert.equal(later.buckets.reduce((n, b) => n + b.completed, 0), 1, 'still in the 15 minutes');
    advance(84 * THROUGHPUT_BUCKET_IN_MS);
    assert.equal(throughput.series('orders')!.buckets.reduce((n, b) => n + b.completed, 0), 0, 'gone after 90 buckets');
  });

  it('starts a reused slot from zero: the count of the same slot fifteen minutes ago is not added', () => {
    const { throughput, advance } = throughputAt();
    throughput.countRequest('orders', 'completed');
    throughput.countRequest('orders', 'completed');
    advance(90 * THROUGHPUT_BUCKET_IN_MS);
    throughput.countRequest('orders', 'completed');
    const series = throughput.series('orders')!;
    assert.equal(series.buckets.at(-1)!.completed, 1);
    assert.equal(series.buckets.reduce((n, b) => n + b.completed, 0), 1);
  });

  it('ignores flows and steps that are not configured, and has no series for them', () => {
    const { throughput } = throughputAt();
    throughput.countRequest('nope', 'completed');
    throughput.countStep('orders', 7, 'failed');
    assert.equal(throughput.series('nope'), null);
    assert.ok(throughput.series('orders')!.steps.every((s) => s.failed === 0));
  });
});
