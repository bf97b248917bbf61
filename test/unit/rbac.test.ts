import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPermitted, requiredRoles } from '../../src/auth/rbac.js';
import type { RoleMapping } from '../../src/config/types.js';

const map = (urlPrefix: string, ...roles: string[]): RoleMapping => ({ urlPrefix, roles });

describe('requiredRoles', () => {
  const cases: Array<{ name: string; path: string; mappings: RoleMapping[]; expected: string[] | null }> = [
    { name: 'without mappings a URL needs no role', path: '/api/dlq', mappings: [], expected: null },
    { name: 'a URL no mapping covers needs no role', path: '/actuator/health', mappings: [map('/api', 'user')], expected: null },
    { name: 'a prefix covers the URL equal to it', path: '/api', mappings: [map('/api', 'user')], expected: ['user'] },
    { name: 'a prefix covers the URLs below it', path: '/api/dlq', mappings: [map('/api', 'user')], expected: ['user'] },
    { name: 'a prefix covers URLs several segments below it', path: '/api/flows/orders/requests', mappings: [map('/api', 'user')], expected: ['user'] },
    { name: 'a prefix covers the URL below it with a trailing slash', path: '/api/dlq/', mappings: [map('/api/dlq', 'ops')], expected: ['ops'] },
    { name: 'a prefix does not cover a URL that only starts with the same letters', path: '/apix', mappings: [map('/api', 'user')], expected: null },
    { name: 'a prefix does not cover a longer segment below a shared parent', path: '/api/dlqs', mappings: [map('/api/dlq', 'ops')], expected: null },
    { name: 'a prefix does not cover its own parent', path: '/api', mappings: [map('/api/dlq', 'ops')], expected: null },
    { name: 'a prefix does not cover a shorter URL it starts with', path: '/ap', mappings: [map('/api', 'user')], expected: null },
    { name: 'prefixes match case-sensitively', path: '/api/dlq', mappings: [map('/API', 'user')], expected: null },
    { name: 'a prefix with a trailing slash covers the URL without it', path: '/api', mappings: [map('/api/', 'user')], expected: ['user'] },
    { name: 'a prefix with a trailing slash covers the URLs below it', path: '/api/dlq', mappings: [map('/api/', 'user')], expected: ['user'] },
    { name: 'a prefix with a trailing slash still matches whole segments', path: '/apix', mappings: [map('/api/', 'user')], expected: null },
    { name: 'a prefix with several trailing slashes matches as without them', path: '/api/dlq', mappings: [map('/api//', 'user')], expected: ['user'] },
    { name: 'the root prefix covers every URL', path: '/actuator/prometheus', mappings: [map('/', 'any')], expected: ['any'] },
    { name: 'the root prefix covers the root', path: '/', mappings: [map('/', 'any')], expected: ['any'] },
    { name: 'an empty prefix covers every URL', path: '/openapi.json', mappings: [map('', 'any')], expected: ['any'] },
    { name: 'the longest covering prefix wins when listed last', path: '/api/dlq/x', mappings: [map('/api', 'user'), map('/api/dlq', 'ops')], expected: ['ops'] },
    { name: 'the longest covering prefix wins when listed first', path: '/api/dlq/x', mappings: [map('/api/dlq', 'ops'), map('/api', 'user')], expected: ['ops'] },
    { name: 'a longer prefix that does not cover the URL loses to a shorter one that does', path: '/api/dlq', mappings: [map('/api', 'user'), map('/api/dlqs', 'ops')], expected: ['user'] },
    { name: 'a longer prefix wins over the root prefix', path: '/api/dlq', mappings: [map('/', 'any'), map('/api', 'user')], expected: ['user'] },
    { name: 'the root prefix applies where no longer prefix covers the URL', path: '/actuator/info', mappings: [map('/', 'any'), map('/api', 'user')], expected: ['any'] },
    { name: 'trailing slashes do not count towards a prefix\'s length', path: '/api/dlq/x', mappings: [map('/api/////', 'user'), map('/api/dlq', 'ops')], expected: ['ops'] },
    { name: 'of two mappings of the same prefix, one with a trailing slash, the first listed wins', path: '/api', mappings: [map('/api/', 'first'), map('/api', 'second')], expected: ['first'] },
    { name: 'the longest prefix wins across apiMappings and applicationMappings together', path: '/actuator/health', mappings: [map('/api', 'user'), map('/', 'any'), map('/actuator', 'ops'), map('/actuator/health', 'probe')], expected: ['probe'] },
    { name: 'a mapping names all the roles it accepts', path: '/api', mappings: [map('/api', 'user', 'admin')], expected: ['user', 'admin'] },
  ];
  for (const { name, path, mappings, expected } of cases) {
    it(name, () => {
      assert.deepEqual(requiredRoles(path, mappings), expected);
    });
  }
});

describe('isPermitted', () => {
  const cases: Array<{ name: string; roles: string[]; needed: string[] | null; expected: boolean }> = [
    { name: 'a URL that needs no role admits a token without roles', roles: [], needed: null, expected: true },
    { name: 'a URL that needs no role admits a token with roles', roles: ['user'], needed: null, expected: true },
    { name: 'a token with the one role needed is admitted', roles: ['user'], needed: ['user'], expected: true },
    { name: 'a token with one of several roles needed is admitted', roles: ['admin'], needed: ['user', 'admin'], expected: true },
    { name: 'a token with the needed role among others is admitted', roles: ['reader', 'ops', 'writer'], needed: ['ops'], expected: true },
    { name: 'a token without roles is refused where a role is needed', roles: [], needed: ['user'], expected: false },
    { name: 'a token with none of the needed roles is refused', roles: ['reader', 'writer'], needed: ['user', 'admin'], expected: false },
    { name: 'roles compare case-sensitively', roles: ['User'], needed: ['user'], expected: false },
    { name: 'a role that only starts with the needed one is refused', roles: ['user-admin'], needed: ['user'], expected: false },
    { name: 'a role the needed one only starts with is refused', roles: ['use'], needed: ['user'], expected: false },
  ];
  for (const { name, roles, needed, expected } of cases) {
    it(name, () => {
      assert.equal(isPermitted(roles, needed), expected);
    });
  }
});
