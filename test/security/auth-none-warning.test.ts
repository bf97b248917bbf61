import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
});
