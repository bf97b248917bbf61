import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { platformKeys, stepsOf, validDocument } from '../support/config-docs.js';
import { onlyIssue, parse } from './issues-helpers.js';

/** A document as JSON.parse makes it from text: `__proto__` becomes an own key, as in a file. */
const fromText = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

describe('reserved names in the document', () => {
  const base = JSON.stringify(validDocument()).slice(1, -1);
  const cases: Array<[name: string, text: string, path: string]> = [
    ['at the top', `{${base},"__proto__":{"x":1}}`, '__proto__'],
    ['in a section', `{${base},"callback.config":{"constructor":{"timeout":1}}}`, 'callback.config.constructor'],
    ['in a nested object', `{${base},"openid.config":{"credentials":{"__proto__":{"secret":"x"}}}}`, 'openid.config.credentials.__proto__'],
    ['in a queue entry, where it was dropped without a word', `{${base.replace('"queue.config":[', '"queue.config":[{"name":"spare-queue","__proto__":{"maxMessages":5}},')}}`, 'queue.config[0].__proto__'],
    ['in a list entry written as a JSON string', `{${base.replace('"queue.config":[', '"queue.config":["{\\"name\\":\\"spare-queue\\",\\"prototype\\":1}",')}}`, 'queue.config[0].prototype'],
    ['in a rule', `{${base},"redelivery.config":{"default":{"__proto__":{"count":99}}}}`, 'redelivery.config.default.__proto__'],
  ];
  for (const [name, text, path] of cases) {
    it(`rejects a reserved name ${name}, naming ${path}`, () => {
      const doc = fromText(text);
      onlyIssue(doc, path, { message: /is a reserved name, not a configuration key/ });
      assert.equal(({} as Record<string, unknown>)['maxMessages'], undefined, 'no prototype was touched');
    });
  }
});

describe('endpointName stays below openapi.url', () => {
  const withEndpointName = (name: string): Record<string, unknown> => {
    const doc = validDocument(platformKeys({ 'openapi.url': 'https://platform.example/actions/' }));
    stepsOf(doc)[0]!.endpointName = name;
    return doc;
  };
  const rejected: Array<[name: string, value: string, message: RegExp]> = [
    ['an absolute URL', 'https://evil.example/collect', /absolute URL/],
    ['a scheme of any kind', 'javascript:alert(1)', /absolute URL/],
    ['a network-path reference', '//evil.example/collect', /another host/],
    ['a backslash', '\\\\evil.example\\collect', /another host/],
    ['a parent segment', '../admin/collect', /"\.\."/],
    ['a parent segment further in', 'a/b/../../../admin', /"\.\."/],
    ['an encoded parent segment', '%2e%2e/admin', /"\.\."/],
    ['an encoded slash', 'a%2F..%2Fadmin', /encoded slash/],
    ['a dot segment', './a', /"\."/],
  ];
  for (const [name, value, message] of rejected) {
    it(`rejects ${name}: ${value}`, () => {
      onlyIssue(withEndpointName(value), 'flow.config[0].queueMappings[0].endpointName', { value, message });
    });
  }

  it('accepts plain names and paths, and resolves them below openapi.url', () => {
    for (const name of ['ServicePipesTest_Endpoint1', 'automation/step-1', '/leading/slash', 'with.dots.in.name', 'q?x=1']) {
      const { config } = parse(withEndpointName(name));
      const { endpoint } = config.flows[0]!.steps[0]!;
      assert.ok(endpoint.kind === 'platform' && endpoint.url.startsWith('https://platform.example/actions/'), name);
    }
  });
});
