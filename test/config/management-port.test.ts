import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue } from '../../src/config/issues.js';
import { validDocument } from '../support/config-docs.js';
import { onlyIssue, parse } from './issues-helpers.js';

const server = (settings: Record<string, unknown>): Record<string, unknown> => validDocument({ 'server.config': { auth: 'none', ...settings } });

describe('server.config.managementPort and managementHost', () => {
  it('are unset by default: /actuator/* stays on port, and the management host is host', () => {
    const { config, document } = parse(server({ host: '0.0.0.0' }));
    assert.equal(config.server.managementPort, null);
    assert.equal(config.server.managementHost, '0.0.0.0');
    const printed = document['server.config'] as Record<string, unknown>;
    assert.equal(printed['managementPort'], null);
    assert.equal(printed['managementHost'], null);
  });

  it('take a port and an interface of their own', () => {
    const { config, warnings } = parse(server({ port: 8080, managementPort: 9090, managementHost: '0.0.0.0' }));
    assert.equal(config.server.managementPort, 9090);
    assert.equal(config.server.managementHost, '0.0.0.0');
    assert.deepEqual(warnings, []);
  });

  it('read a port given as a JSON string, as key-value stores hold it', () => {
    assert.equal(parse(server({ managementPort: '9090' })).config.server.managementPort, 9090);
  });

  it('let both ports be 0 (any free port, two different ones)', () => {
    const { config } = parse(server({ port: 0, managementPort: 0 }));
    assert.equal(config.server.port, 0);
    assert.equal(config.server.managementPort, 0);
  });

  const rejected: Array<[name: string, settings: Record<string, unknown>, path: string, value: unknown, message: RegExp]> = [
    ['a management port above 65535', { managementPort: 65_536 }, 'server.config.managementPort', 65_536, /integer from 0 to 65535/],
    ['a negative management port', { managementPort: -1 }, 'server.config.managementPort', -1, /integer from 0 to 65535/],
    ['a fractional management port', { managementPort: 90.5 }, 'server.config.managementPort', 90.5, /integer/],
    ['a management port that is no number', { managementPort: 'metrics' }, 'server.config.managementPort', 'metrics', /integer/],
    ['the main port again', { port: 8080, managementPort: 8080 }, 'server.config.managementPort', 8080, /must differ from port \(8080\)/],
    ['the default main port again', { managementPort: 8080 }, 'server.config.managementPort', 8080, /must differ from port \(8080\)/],
    ['an empty management host', { managementPort: 9090, managementHost: ' ' }, 'server.config.managementHost', ' ', /non-empty string/],
    ['a management host that is no string', { managementPort: 9090, managementHost: 127 }, 'server.config.managementHost', 127, /non-empty string/],
  ];
  for (const [name, settings, path, value, message] of rejected) {
    it(`reject ${name}, naming ${path}`, () => {
      onlyIssue(server(settings), path, { value, message });
    });
  }

  it('warn that a management host without a management port has no effect', () => {
    const { warnings } = parse(server({ managementHost: '0.0.0.0' }));
    assert.deepEqual(warnings.map(formatIssue), ['server.config.managementHost: has no effect without managementPort: /actuator/* is served on port']);
  });
});
