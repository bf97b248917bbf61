import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue } from '../../src/config/issues.js';
import { stepsOf, validDocument } from '../support/config-docs.js';
import { issuePaths, onlyIssue, parse } from './issues-helpers.js';

describe('limits on endpoints and clients (callTimeout, maxResponseBytes, request time-outs, trusted proxies)', () => {
  const withStep = (key: string, value: unknown): Record<string, unknown> => {
    const doc = validDocument();
    stepsOf(doc)[1]![key] = value;
    return doc;
  };
  const withStepTimeout = (value: unknown): Record<string, unknown> => withStep('callTimeout', value);
  const server = (settings: Record<string, unknown>): Record<string, unknown> => validDocument({ 'server.config': { auth: 'none', ...settings } });
  const rejected: Array<[name: string, doc: Record<string, unknown>, path: string, value: unknown, message: RegExp]> = [
    ['a negative http callTimeout', validDocument({ 'http.connection.config': { callTimeout: -1 } }), 'http.connection.config.callTimeout', -1, /integer of at least 0/],
    ['a fractional http callTimeout', validDocument({ 'http.connection.config': { callTimeout: 1.5 } }), 'http.connection.config.callTimeout', 1.5, /integer/],
    ['a step callTimeout that is no number', withStepTimeout('soon'), 'flow.config[0].queueMappings[1].callTimeout', 'soon', /integer/],
    ['a maxRatePerSecond of 0', withStep('maxRatePerSecond', 0), 'flow.config[0].queueMappings[1].maxRatePerSecond', 0, /greater than 0/],
    ['a negative maxRatePerSecond', withStep('maxRatePerSecond', -2), 'flow.config[0].queueMappings[1].maxRatePerSecond', -2, /greater than 0/],
    ['a maxRatePerSecond that is no number', withStep('maxRatePerSecond', 'fast'), 'flow.config[0].queueMappings[1].maxRatePerSecond', 'fast', /greater than 0/],
    [
      'a maxBacklog of 0',
      (() => {
        const doc = validDocument();
        (doc['flow.config'] as Array<Record<string, unknown>>)[0]!['maxBacklog'] = 0;
        return doc;
      })(),
      'flow.config[0].maxBacklog',
      0,
      /at least 1/,
    ],
    ['a maxResponseBytes of 0', validDocument({ 'payload.config': { maxResponseBytes: 0 } }), 'payload.config.maxResponseBytes', 0, /at least 1/],
    ['a headersTimeoutMs of 0', server({ headersTimeoutMs: 0 }), 'server.config.headersTimeoutMs', 0, /at least 1/],
    ['a negative requestTimeoutMs', server({ requestTimeoutMs: -5 }), 'server.config.requestTimeoutMs', -5, /at least 1/],
    ['a headers time-out longer than the whole request\'s', server({ headersTimeoutMs: 5000, requestTimeoutMs: 4000 }), 'server.config.headersTimeoutMs', 5000, /must not exceed requestTimeoutMs \(4000\)/],
    ['a trusted proxy that is a host name', server({ trustedProxies: ['proxy.internal'] }), 'server.config.trustedProxies[0]', 'proxy.internal', /IP address or a CIDR range/],
    ['a trusted proxy range with a prefix too long', server({ trustedProxies: ['10.0.0.0/33'] }), 'server.config.trustedProxies[0]', '10.0.0.0/33', /CIDR/],
    ['a trusted proxy with two prefixes', server({ trustedProxies: ['10.0.0.0/8/8'] }), 'server.config.trustedProxies[0]', '10.0.0.0/8/8', /CIDR/],
    ['a trusted proxy with a text prefix', server({ trustedProxies: ['fd00::/x'] }), 'server.config.trustedProxies[0]', 'fd00::/x', /CIDR/],
  ];
  for (const [name, doc, path, value, message] of rejected) {
    it(`rejects ${name}, naming ${path}`, () => {
      onlyIssue(doc, path, { value, message });
    });
  }

  it('takes a fractional maxRatePerSecond, and none by default', () => {
    const { config } = parse(withStep('maxRatePerSecond', 0.5));
    assert.deepEqual(
      config.flows[0]!.steps.map((s) => s.maxRatePerSecond),
      [null, 0.5, null],
    );
  });

  it('accepts IPv4 and IPv6 addresses and ranges as trusted proxies', () => {
    const proxies = ['10.0.0.7', '10.0.0.0/8', '::1', 'fd00::/8', '[fd00::1]'];
    const { config } = parse(validDocument({ 'server.config': { auth: 'none', trustProxy: true, trustedProxies: proxies } }));
    assert.deepEqual(config.server.trustedProxies, proxies);
  });

  it('reports a bad trusted proxy and a bad timeout together, each with its path', () => {
    issuePaths(validDocument({ 'server.config': { auth: 'none', trustedProxies: ['nope'], requestTimeoutMs: 0 } }), [
      'server.config.requestTimeoutMs',
      'server.config.trustedProxies[0]',
    ]);
  });
});

describe('configuration warnings', () => {
  it('warns when a flow\'s maxThreads add up to more than totalConnections', () => {
    const doc = validDocument({ 'http.connection.config': { totalConnections: 25, routeConnections: 20 } });
    const { warnings } = parse(doc);
    assert.deepEqual(
      warnings.map(formatIssue),
      ['flow.config[0].queueMappings: have 30 maxThreads in all, more than http.connection.config.totalConnections (25): calls will wait for connections'],
    );
  });

  it('warns when a call may never end: callTimeout 0 with socketTimeout 0, at the key that says 0', () => {
    const global = parse(validDocument({ 'http.connection.config': { callTimeout: 0, socketTimeout: 0 } })).warnings;
    assert.deepEqual(
      global.map((w) => w.path),
      ['http.connection.config.callTimeout', 'http.connection.config.callTimeout', 'http.connection.config.callTimeout'],
    );
    const doc = validDocument({ 'http.connection.config': { socketTimeout: 0 } });
    stepsOf(doc)[2]!.callTimeout = 0;
    assert.deepEqual(
      parse(doc).warnings.map((w) => w.path),
      ['flow.config[0].queueMappings[2].callTimeout'],
    );
  });

  it('has no warning for the defaults, nor for callTimeout 0 while socketTimeout bounds silence', () => {
    assert.deepEqual(parse(validDocument()).warnings, []);
    assert.deepEqual(parse(validDocument({ 'http.connection.config': { callTimeout: 0, socketTimeout: 30_000 } })).warnings, []);
  });
});
