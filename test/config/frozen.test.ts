import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEMO_QUEUES, openIdSection, validDocument } from '../support/config-docs.js';
import { parse } from './issues-helpers.js';

/** Every object reachable from `value` (through properties, array items and Map values) with its path. */
function objectsIn(value: unknown, path = 'config', seen = new Set<unknown>()): Array<[string, object]> {
  if (typeof value !== 'object' || value === null || seen.has(value)) return [];
  seen.add(value);
  const children: Array<[string, unknown]> =
    value instanceof Map ? [...value.entries()].map(([k, v]) => [`${path}.get(${String(k)})`, v]) : Object.entries(value).map(([k, v]) => [`${path}.${k}`, v]);
  return [[path, value], ...children.flatMap(([p, v]) => objectsIn(v, p, seen))];
}

describe('the resolved config', () => {
  const full = (): ReturnType<typeof parse> =>
    parse(
      validDocument({
        'server.config': undefined,
        'openid.config': openIdSection(),
        'rbac.config': { apiMappings: [{ url: '/api', roles: ['async-engine'] }] },
        'redelivery.config': { additional: [{ httpStatus: 503, count: 1, delay: 5 }] },
        'callback.config': { allowedHosts: ['hooks.example'] },
      }),
    );

  it('is frozen all the way down', () => {
    const objects = objectsIn(full().config);
    assert.ok(objects.length > 30, `only ${objects.length} objects walked`);
    for (const [path, object] of objects) assert.ok(Object.isFrozen(object), `${path} is not frozen`);
  });

  it('rejects changes to nested values at run time', () => {
    const { config } = full();
    const step = config.flows[0]!.steps[0]!;
    assert.throws(() => Object.assign(step, { maxThreads: 99 }), TypeError);
    assert.throws(() => Object.assign(step.endpoint, { url: 'http://evil.example/' }), TypeError);
    assert.throws(() => (config.callback.allowedHosts as string[]).push('evil.example'), TypeError);
    assert.throws(() => Object.assign(config.queues.get(DEMO_QUEUES[0])!, { maxMessages: 32 }), TypeError);
    assert.throws(() => Object.assign(config.redelivery.statusRules[0]!.rule, { count: 99 }), TypeError);
    assert.throws(() => (config.rbac.apiMappings[0]!.roles as string[]).push('admin'), TypeError);
    assert.equal(step.maxThreads, 10);
  });

  it('does not share objects with the printed document', () => {
    const { config, document } = full();
    const printedQueues = document['queue.config'] as Array<Record<string, unknown>>;
    printedQueues[0]!['maxMessages'] = 32;
    assert.equal(config.queues.get(DEMO_QUEUES[0])?.maxMessages, 1);
  });

  it('is a new object on each parse', () => {
    const doc = validDocument();
    assert.notEqual(parse(doc).config, parse(doc).config);
  });
});
