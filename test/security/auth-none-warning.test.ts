import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopbackAddress } from '../../src/common/addresses.js';
import { engineSuite, flowDocument } from '../support/engine.js';

describe('auth "none"', () => {
  const suite = engineSuite();

  it('logs a loud warning at start when the ingress listens beyond loopback, and none on loopback', async () => {
    const open = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }], extra: { 'server.config': { host: '0.0.0.0' } } }));
    const warnings = open.logs.filter((l) => String(l['msg']).startsWith('SECURITY:'));
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!['level'], 40, 'a warning');
    assert.match(String(warnings[0]!['msg']), /auth is "none" on a non-loopback interface/);

    const local = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    assert.equal(local.logs.filter((l) => String(l['msg']).startsWith('SECURITY:')).length, 0);
  });

  it('warns when the management port listens beyond loopback, though the ingress does not', async () => {
    const document = (managementHost: string): Record<string, unknown> =>
      flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }], extra: { 'server.config': { managementPort: 0, managementHost } } });
    const open = await suite.engine(document('0.0.0.0'));
    const warnings = open.logs.filter((l) => String(l['msg']).startsWith('SECURITY:'));
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]!['msg']), /managementHost is a non-loopback interface/);
    assert.equal(warnings[0]!['host'], '0.0.0.0');

    const local = await suite.engine(document('127.0.0.1'));
    assert.equal(local.logs.filter((l) => String(l['msg']).startsWith('SECURITY:')).length, 0);
  });

  it('warns for a private interface too: anyone on that network may call it', () => {
    // The machine may have no private interface to listen on, so the decision itself is checked.
    for (const host of ['10.1.2.3', '192.168.0.7', '172.16.5.4', 'fd00::1', '0.0.0.0', '::', 'engine.internal']) assert.equal(isLoopbackAddress(host), false, host);
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', '[::1]', 'localhost', 'LOCALHOST', 'api.localhost']) assert.equal(isLoopbackAddress(host), true, host);
  });
});
