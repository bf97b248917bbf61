import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validDocument } from '../support/config-docs.js';
import { onlyIssue, parse } from './issues-helpers.js';

describe('retention.config', () => {
  it('keeps completed requests 7 days, dead-lettered ones 30 days and idempotency keys a day by default', () => {
    const { config, document, warnings } = parse(validDocument());
    assert.deepEqual(config.retention, { completedInMs: 604_800_000, deadLetteredInMs: 2_592_000_000, idempotencyInMs: 86_400_000 });
    assert.deepEqual(document['retention.config'], { completedMs: 604_800_000, deadLetteredMs: 2_592_000_000, idempotencyMs: 86_400_000 });
    assert.deepEqual(warnings, []);
  });

  it('takes null for kept for ever, and values given as JSON strings', () => {
    const { config } = parse(validDocument({ 'retention.config': { completedMs: null, deadLetteredMs: '5000', idempotencyMs: 'null' } }));
    assert.deepEqual(config.retention, { completedInMs: null, deadLetteredInMs: 5000, idempotencyInMs: null });
    const whole = parse(validDocument({ 'retention.config': '{"completedMs": 0}' }));
    assert.equal(whole.config.retention.completedInMs, 0);
    assert.equal(whole.config.retention.idempotencyInMs, 86_400_000, 'the keys not given keep their defaults');
  });

  const rejected: Array<[name: string, settings: Record<string, unknown>, path: string, value: unknown]> = [
    ['a negative completedMs', { completedMs: -1 }, 'retention.config.completedMs', -1],
    ['a fractional deadLetteredMs', { deadLetteredMs: 1.5 }, 'retention.config.deadLetteredMs', 1.5],
    ['an idempotencyMs that is no number', { idempotencyMs: 'a day' }, 'retention.config.idempotencyMs', 'a day'],
    ['a boolean completedMs', { completedMs: false }, 'retention.config.completedMs', false],
  ];
  for (const [name, settings, path, value] of rejected) {
    it(`rejects ${name}, naming ${path}`, () => {
      onlyIssue(validDocument({ 'retention.config': settings }), path, { value, message: /must be an integer of at least 0 \(or null to keep for ever\)/ });
    });
  }

  it('rejects an unknown key of the section with its path', () => {
    onlyIssue(validDocument({ 'retention.config': { completedMS: 1000 } }), 'retention.config.completedMS', { message: /not a known key; did you mean "completedMs"/ });
  });

  it('warns when idempotency keys outlive the requests they name', () => {
    for (const settings of [{ completedMs: 1000, idempotencyMs: 2000 }, { completedMs: 1000, idempotencyMs: null }]) {
      const { warnings } = parse(validDocument({ 'retention.config': settings }));
      assert.deepEqual(
        warnings.map((w) => w.path),
        ['retention.config.idempotencyMs'],
        JSON.stringify(settings),
      );
    }
    assert.deepEqual(parse(validDocument({ 'retention.config': { completedMs: null, idempotencyMs: null } })).warnings, []);
  });

  it('sweeps at most once a second', () => {
    onlyIssue(validDocument({ 'server.config': { auth: 'none', expirySweepMs: 999 } }), 'server.config.expirySweepMs', { value: 999, message: /at least 1000/ });
    assert.equal(parse(validDocument({ 'server.config': { auth: 'none', expirySweepMs: 1000 } })).config.server.expirySweepInMs, 1000);
  });
});
