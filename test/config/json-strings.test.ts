import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue } from '../../src/config/issues.js';
import { DEMO_QUEUES, flowsOf, queuesOf, stepsOf, validDocument } from '../support/config-docs.js';
import { issueAt, issuesOf, onlyIssue, parse } from './issues-helpers.js';

/** Key-value stores hold strings: every non-string value may come JSON-encoded. */
describe('JSON-encoded strings', () => {
  it('reads queue.config given as a JSON string like the same list', () => {
    const plain = validDocument();
    queuesOf(plain)[0]!.maxMessages = 16;
    const encoded = validDocument({ 'queue.config': JSON.stringify(plain['queue.config']) });
    const fromString = parse(encoded);
    assert.deepEqual(fromString.document, parse(plain).document);
    assert.equal(fromString.config.queues.get(DEMO_QUEUES[0])?.maxMessages, 16);
  });

  it('reads server.config and flow.config given as JSON strings', () => {
    const doc = validDocument();
    doc['flow.config'] = JSON.stringify(doc['flow.config']);
    doc['server.config'] = '{"auth":"none","port":9090}';
    const { config } = parse(doc);
    assert.equal(config.server.port, 9090);
    assert.equal(config.auth.mode, 'none');
    assert.equal(config.flows[0]!.steps.length, 3);
  });

  it('reads a nested list and a nested object given as JSON strings', () => {
    const doc = validDocument({ 'redelivery.config': { default: '{"count":7,"delay":70}', additional: '[{"httpStatus":503,"count":1,"delay":5}]' } });
    flowsOf(doc)[0]!.queueMappings = JSON.stringify(stepsOf(doc));
    const { config } = parse(doc);
    assert.deepEqual([config.redelivery.default.count, config.redelivery.default.delayInMs], [7, 70]);
    assert.deepEqual(
      config.redelivery.statusRules.map((r) => [r.fromStatus, r.toStatus, r.rule.count, r.rule.delayInMs]),
      [[503, 503, 1, 5]],
    );
    assert.equal(config.flows[0]!.steps.length, 3);
  });

  it('reads numbers and booleans given as strings inside section objects', () => {
    const doc = validDocument({
      'server.config': { auth: 'none', port: '9000', trustProxy: 'true' },
      'threadpool.config': { poolSize: '3', maxQueueSize: '-1' },
      'http.connection.config': { connectionTimeToLive: '30000' },
    });
    const { config, document } = parse(doc);
    assert.equal(config.server.port, 9000);
    assert.equal(config.server.trustProxy, true);
    assert.deepEqual(config.admission, { poolSize: 3, maxPoolSize: 20, maxQueueSize: -1 });
    assert.equal(config.http.connectionTimeToLiveInMs, 30000);
    assert.deepEqual(document['server.config'], {
      host: '127.0.0.1',
      port: 9000,
      maxBodyBytes: 1048576,
      shutdownGraceMs: 30000,
      auth: 'none',
      trustProxy: true,
      trustedProxies: [],
      maxConnections: 1024,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      expirySweepMs: 300000,
      demoEndpoints: false,
      maxWaitSeconds: 30,
      managementPort: null,
      managementHost: null,
    });
  });

  it('reads list entries given as JSON strings', () => {
    const doc = validDocument();
    doc['queue.config'] = queuesOf(doc).map((queue) => JSON.stringify({ ...queue, maxMessages: 4 }));
    const { config } = parse(doc);
    assert.equal(config.queues.get(DEMO_QUEUES[2])?.maxMessages, 4);
    assert.equal(config.queues.size, 3);
  });

  it('reads numbers and booleans given as strings inside list elements', () => {
    const doc = validDocument();
    Object.assign(queuesOf(doc)[0]!, { maxMessages: '10', greedy: 'true', timeToLive: '-1', delay: '250' });
    Object.assign(stepsOf(doc)[0]!, { initial: 'true', maxThreads: '32' });
    const { config, document } = parse(doc);
    assert.deepEqual(config.queues.get(DEMO_QUEUES[0]), {
      name: DEMO_QUEUES[0],
      maxMessages: 10,
      pollDelayInMs: 250,
      maxIdleDelayInMs: 5000,
      greedy: true,
      timeToLiveInMs: null,
      visibilityTimeoutInMs: 30_000,
      maxDequeueCount: 5,
    });
    assert.equal(config.flows[0]!.steps[0]!.maxThreads, 32);
    const printed = (document['queue.config'] as Array<Record<string, unknown>>)[0]!;
    assert.equal(printed['maxMessages'], 10);
    assert.equal(printed['greedy'], true);
  });

  it('keeps string fields as given, even when they look like JSON', () => {
    const doc = validDocument({ 'openapi.username': '123', 'server.config': { auth: 'none', host: '"0.0.0.0"' } });
    const { config } = parse(doc);
    assert.equal(config.platform.username, '123');
    assert.equal(config.server.host, '"0.0.0.0"');
  });

  it('reports a section given as invalid JSON, showing the string, without crashing', () => {
    const doc = validDocument({ 'threadpool.config': '{"poolSize": 5,' });
    onlyIssue(doc, 'threadpool.config', { value: '{"poolSize": 5,', message: /must be an object/ });
  });

  it('reports a list section given as invalid JSON, showing the string', () => {
    const doc = validDocument({ 'rbac.config': { apiMappings: '[{"url": "/api"' } });
    onlyIssue(doc, 'rbac.config.apiMappings', { value: '[{"url": "/api"', message: /must be a list/ });
  });

  it('reports queue.config given as invalid JSON as one issue at its key', () => {
    const issues = issuesOf(validDocument({ 'queue.config': '[{"name": "demo-first"' }));
    const issue = issueAt(issues, 'queue.config');
    assert.equal(issue.value, '[{"name": "demo-first"');
    assert.match(issue.message, /must be a list/);
  });

  it('reports a JSON string of the wrong kind (a list for an object)', () => {
    onlyIssue(validDocument({ 'callback.config': '[1,2]' }), 'callback.config', { value: [1, 2], message: /must be an object/ });
  });

  it('keeps a string that is not a number as the shown value, not NaN', () => {
    const doc = validDocument({ 'server.config': { auth: 'none', port: 'eighty' } });
    queuesOf(doc)[0]!.maxMessages = 'ten';
    queuesOf(doc)[1]!.greedy = 'yes';
    const issues = issuesOf(doc);
    assert.equal(issues.length, 3);
    const port = issueAt(issues, 'server.config.port');
    assert.equal(formatIssue(port), 'server.config.port: "eighty" must be an integer from 0 to 65535');
    assert.equal(issueAt(issues, 'queue.config[0].maxMessages').value, 'ten');
    assert.equal(issueAt(issues, 'queue.config[1].greedy').value, 'yes');
    for (const issue of issues) assert.doesNotMatch(formatIssue(issue), /NaN|null/);
  });

  it('keeps a top-level number leaf given as a non-numeric string as the shown value', () => {
    const doc = validDocument({ 'threadpool.config': { maxQueueSize: 'lots' } });
    onlyIssue(doc, 'threadpool.config.maxQueueSize', { value: 'lots' });
  });

  it('does not take a JSON-encoded string for a number ("\\"5\\"" is not 5)', () => {
    const doc = validDocument({ 'threadpool.config': { poolSize: '"5"' } });
    onlyIssue(doc, 'threadpool.config.poolSize', { value: '"5"' });
  });
});
