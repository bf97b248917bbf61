/**
 * What the engine's answers let a browser or an endpoint do with what clients sent: nothing is
 * sniffed, a result is never run as a page of the engine's origin, and a malformed traceparent is
 * not passed on to the endpoints.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validTraceparent } from '../../src/common/trace-context.js';
import { engineSuite, flowDocument, submit, waitForStatus } from '../support/engine.js';

describe('answers and forwarded headers', () => {
  const suite = engineSuite();

  it('marks every answer nosniff, problem answers included, and a result with a sandbox CSP', async () => {
    const page = '<html><script>fetch("/api/dlq").then((r) => r.text()).then(alert)</script></html>';
    const endpoint = await suite.endpoint(() => ({ body: page, contentType: 'text/html' }));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const id = await submit(e, 'flow', '{}');
    await waitForStatus(e, id, 'completed');
    const result = await fetch(`${e.url}/api/requests/${id}/result`);
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('content-type'), 'text/html');
    assert.equal(result.headers.get('content-security-policy'), 'sandbox');
    assert.equal(result.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(await result.text(), page);
    for (const url of [`${e.url}/api/requests/${id}`, `${e.url}/api/flows`, `${e.url}/api/requests/nope`, `${e.url}/no/such/route`]) {
      assert.equal((await fetch(url)).headers.get('x-content-type-options'), 'nosniff', url);
    }
  });

  it('passes a valid traceparent on to the endpoint and drops a malformed one', async () => {
    const endpoint = await suite.endpoint();
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const valid = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const sent = [valid, `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01${'x'.repeat(15_000)}`, 'garbage', `00-${'0'.repeat(32)}-b7ad6b7169203331-01`];
    for (const traceparent of sent) await waitForStatus(e, await submit(e, 'flow', '{}', { traceparent }), 'completed');
    assert.deepEqual(
      endpoint.calls.map((c) => c.headers['traceparent'] ?? null),
      [valid, null, null, null],
    );
  });

  it('judges traceparent values by the W3C Trace Context rules', () => {
    const cases: Array<[value: string, isValid: boolean]> = [
      ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', true],
      ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00', true],
      ['01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future-field', true],
      ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra', false],
      ['ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', false],
      ['00-00000000000000000000000000000000-b7ad6b7169203331-01', false],
      ['00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01', false],
      ['00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01', false],
      ['00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01', false],
      ['00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01', false],
      ['', false],
      [`01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-${'x'.repeat(300)}`, false],
    ];
    for (const [value, isValid] of cases) assert.equal(validTraceparent(value), isValid ? value : null, value.slice(0, 70));
  });
});
