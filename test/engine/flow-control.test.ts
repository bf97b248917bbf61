/**
 * Politeness to endpoints, seen from the endpoint: a step's maxRatePerSecond, and a step-wide
 * pause after a 429 or 503 with Retry-After.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, submit, waitForStatus } from '../support/engine.js';

describe('flow control toward endpoints', () => {
  const suite = engineSuite();

  it('starts no more calls a second than maxRatePerSecond, in any two-second window', async () => {
    const endpoint = await suite.endpoint(echo);
    const doc = flowDocument(suite.azurite, { steps: [{ url: endpoint.url(), maxThreads: 8 }] });
    (doc['flow.config'] as Array<{ queueMappings: Array<Record<string, unknown>> }>)[0]!.queueMappings[0]!['maxRatePerSecond'] = 5;
    const e = await suite.engine(doc);
    const ids = await Promise.all(Array.from({ length: 16 }, (_, i) => submit(e, 'flow', `{"i":${i}}`)));
    for (const id of ids) await waitForStatus(e, id, 'completed');
    const starts = endpoint.calls.map((c) => c.startedAt).sort((a, b) => a - b);
    assert.equal(starts.length, 16);
    // The calls are seen when this process's event loop gets to them, and a busy machine stalls it:
    // calls the engine started hundreds of milliseconds apart can be seen together. Over two seconds
    // the bucket (a quarter second's tokens) allows 5 x 2.25 calls: 11, and such stalls a few more;
    // without the limit all 16 start within a few milliseconds. The rate itself is the span's check.
    const busiest = Math.max(...starts.map((from) => starts.filter((t) => t >= from && t < from + 2000).length));
    assert.ok(busiest <= 14, `${busiest} calls started within two seconds`);
    assert.ok((starts.at(-1) ?? 0) - (starts[0] ?? 0) >= 2000, '16 calls at 5 a second take more than 2 s');
  });

  it('makes no call of the step until a 429\'s Retry-After has passed, for any message', async () => {
    let pausedAt = 0;
    const endpoint = await suite.endpoint((call, i) => {
      if (i === 0) {
        pausedAt = Date.now();
        return { status: 429, headers: { 'retry-after': '2' } };
      }
      return echo(call, i);
    });
    const e = await suite.engine(
      flowDocument(suite.azurite, { steps: [{ url: endpoint.url(), maxThreads: 1 }], extra: { 'redelivery.config': { default: { count: 1, delay: 0 } } } }),
    );
    const first = await submit(e, 'flow', '{"n":1}');
    const others = await Promise.all([2, 3, 4].map((n) => submit(e, 'flow', `{"n":${n}}`)));
    for (const id of [first, ...others]) await waitForStatus(e, id, 'completed');
    const later = endpoint.calls.slice(1).map((c) => c.startedAt - pausedAt);
    assert.ok(
      later.every((gap) => gap >= 1900),
      `calls started ${later.join(', ')} ms after the 429 asked for 2 s`,
    );
  });
});
