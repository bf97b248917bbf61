import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/errors.js';
import { ConfigError, formatIssue } from '../../src/config/issues.js';
import { queuesOf, stepsOf, validDocument } from '../support/config-docs.js';
import { configError, issueAt, SOURCE } from './issues-helpers.js';

describe('reporting every error at once', () => {
  it('reports six unrelated mistakes together in one ConfigError', () => {
    const doc = validDocument({
      'table.config': { statusTable: 'x' },
      'threadpool.config': { poolSize: 50 },
      'redelivery.config': { additional: [{ httpStatus: 200, count: 1, delay: 1 }] },
    });
    doc['queue.confg'] = [];
    queuesOf(doc)[0]!.maxMessages = 0;
    stepsOf(doc)[1]!.endpointUrl = 'https: //google.com';

    const err = configError(doc);
    assert.deepEqual(err.issues.map((i) => i.path).sort(), [
      'flow.config[0].queueMappings[1].endpointUrl',
      'queue.confg',
      'queue.config[0].maxMessages',
      'redelivery.config.additional[0].httpStatus',
      'table.config.statusTable',
      'threadpool.config.poolSize',
    ]);
  });

  it('lists each issue on its own line of the message, after the source and the count', () => {
    const doc = validDocument({ 'threadpool.config': { poolSize: 50 }, 'payload.config': { inlineLimitBytes: -1 } });
    const err = configError(doc);
    const lines = err.message.split('\n');
    assert.equal(lines[0], `${SOURCE} is invalid (2 errors):`);
    assert.deepEqual(lines.slice(1).sort(), err.issues.map((i) => `  ${formatIssue(i)}`).sort());
    assert.ok(lines.includes('  threadpool.config.poolSize: 50 must not exceed maxPoolSize (20)'), err.message);
  });

  it('says "1 error" for a single issue', () => {
    const err = configError(validDocument({ 'threadpool.config': { poolSize: 50 } }));
    assert.match(err.message, /\(1 error\):/);
  });

  it('is an EngineError with code AE_INVALID_CONFIG and name ConfigError', () => {
    const err = configError(validDocument({ 'server.config': { auth: 'none', port: -1 } }));
    assert.ok(err instanceof EngineError);
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'AE_INVALID_CONFIG');
    assert.equal(err.name, 'ConfigError');
  });

  it('never shows "undefined" for an issue that has no value', () => {
    const doc = validDocument();
    delete queuesOf(doc)[0]!.name;
    queuesOf(doc)[1]!.maxMesages = 2;
    const err = configError(doc);
    assert.doesNotMatch(err.message, /undefined/);
    for (const path of ['queue.config[0].name', 'queue.config[1].maxMesages']) {
      assert.ok(!('value' in issueAt(err.issues, path)), `${path} should carry no value`);
    }
  });
});

describe('formatIssue', () => {
  it('renders path, JSON value and message', () => {
    assert.equal(formatIssue({ path: 'a.b[0]', message: 'is bad', value: 'x' }), 'a.b[0]: "x" is bad');
    assert.equal(formatIssue({ path: 'a', message: 'is bad', value: 0 }), 'a: 0 is bad');
    assert.equal(formatIssue({ path: 'a', message: 'is bad', value: null }), 'a: null is bad');
    assert.equal(formatIssue({ path: 'a', message: 'is bad', value: false }), 'a: false is bad');
  });

  it('renders path and message only when there is no value', () => {
    assert.equal(formatIssue({ path: 'a', message: 'is required' }), 'a: is required');
  });

  it('shortens a long value to 120 characters and an ellipsis', () => {
    const line = formatIssue({ path: 'a', message: 'is bad', value: 'y'.repeat(500) });
    assert.equal(line, `a: "${'y'.repeat(119)}... is bad`);
  });
});
