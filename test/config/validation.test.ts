import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue } from '../../src/config/issues.js';
import { DEMO_QUEUES, flowsOf, queuesOf, sectionOf, stepsOf, validDocument } from '../support/config-docs.js';
import { issueAt, issuePaths, issuesOf, onlyIssue, parse } from './issues-helpers.js';

describe('queue values', () => {
  it('rejects maxMessages 0 and 33, showing each value, and accepts 1 and 32', () => {
    const doc = validDocument();
    queuesOf(doc)[0]!.maxMessages = 0;
    queuesOf(doc)[2]!.maxMessages = 33;
    const issues = issuePaths(doc, ['queue.config[0].maxMessages', 'queue.config[2].maxMessages']);
    const zero = issueAt(issues, 'queue.config[0].maxMessages');
    assert.equal(zero.value, 0);
    assert.equal(formatIssue(zero), 'queue.config[0].maxMessages: 0 must be an integer from 1 to 32');
    assert.equal(formatIssue(issueAt(issues, 'queue.config[2].maxMessages')), 'queue.config[2].maxMessages: 33 must be an integer from 1 to 32');

    queuesOf(doc)[0]!.maxMessages = 1;
    queuesOf(doc)[2]!.maxMessages = 32;
    parse(doc);
  });

  it('rejects a fractional maxMessages', () => {
    const doc = validDocument();
    queuesOf(doc)[1]!.maxMessages = 2.5;
    onlyIssue(doc, 'queue.config[1].maxMessages', { value: 2.5 });
  });

  it('rejects timeToLive 0 and -2, and accepts -1 as never expires', () => {
    const doc = validDocument();
    queuesOf(doc)[0]!.timeToLive = 0;
    queuesOf(doc)[1]!.timeToLive = -2;
    queuesOf(doc)[2]!.timeToLive = -1;
    const issues = issuePaths(doc, ['queue.config[0].timeToLive', 'queue.config[1].timeToLive']);
    assert.equal(issueAt(issues, 'queue.config[0].timeToLive').value, 0);
    assert.equal(issueAt(issues, 'queue.config[1].timeToLive').value, -2);
    assert.match(issueAt(issues, 'queue.config[1].timeToLive').message, /-1/);
  });

  it('rejects a negative poll delay', () => {
    const doc = validDocument();
    queuesOf(doc)[0]!.delay = -1;
    onlyIssue(doc, 'queue.config[0].delay', { value: -1 });
  });

  it('rejects a greedy flag that is not a boolean', () => {
    const doc = validDocument();
    queuesOf(doc)[0]!.greedy = 1;
    onlyIssue(doc, 'queue.config[0].greedy', { value: 1, message: /true or false/ });
  });

  for (const [name, why] of [
    ['Demo-queue', 'an uppercase letter'],
    ['demo--queue', 'a double hyphen'],
    ['ab', 'only two characters'],
    ['-demo', 'a leading hyphen'],
    ['demo-', 'a trailing hyphen'],
    ['demo_queue', 'an underscore'],
    ['q'.repeat(64), '64 characters'],
  ] as const) {
    it(`rejects a queue name with ${why}`, () => {
      const doc = validDocument({ 'queue.config': [...DEMO_QUEUES.map((q) => ({ name: q })), { name }] });
      onlyIssue(doc, 'queue.config[3].name', { value: name, message: /Azure queue name/ });
    });
  }

  it('accepts queue names of 3 and 63 characters with digits and single hyphens', () => {
    parse(validDocument({ 'queue.config': [...DEMO_QUEUES.map((q) => ({ name: q })), { name: 'a1b' }, { name: `a-${'9'.repeat(61)}` }] }));
  });

  it('rejects a queue declared twice', () => {
    const doc = validDocument({ 'queue.config': [...DEMO_QUEUES.map((q) => ({ name: q })), { name: DEMO_QUEUES[1] }] });
    onlyIssue(doc, 'queue.config[3].name', { value: DEMO_QUEUES[1], message: /declared twice \(also queue\.config\[1\]\)/ });
  });

  it('rejects a queue entry that is not an object', () => {
    const doc = validDocument({ 'queue.config': [...DEMO_QUEUES.map((q) => ({ name: q })), 42] });
    onlyIssue(doc, 'queue.config[3]', { value: 42, message: /must be an object/ });
  });
});

describe('table names', () => {
  for (const [name, why] of [
    ['1Status', 'a leading digit'],
    ['Async-Status', 'a hyphen'],
    ['St', 'two characters'],
    ['Tables', 'the reserved name "tables"'],
    [`T${'a'.repeat(63)}`, '64 characters'],
  ] as const) {
    it(`rejects a table name with ${why}`, () => {
      onlyIssue(validDocument({ 'table.config': { statusTable: name } }), 'table.config.statusTable', { value: name, message: /Azure table name/ });
      onlyIssue(validDocument({ 'table.config': { dlqTable: name } }), 'table.config.dlqTable', { value: name, message: /Azure table name/ });
    });
  }

  it('accepts mixed-case table names of letters and digits', () => {
    assert.deepEqual(parse(validDocument({ 'table.config': { statusTable: 'Status2024', dlqTable: 'dlQ' } })).config.tables, {
      statusTable: 'Status2024',
      dlqTable: 'dlQ',
    });
  });
});

describe('URLs', () => {
  it('rejects the seed\'s mistyped "https: //" endpointUrl, showing it', () => {
    const doc = validDocument();
    stepsOf(doc)[1]!.endpointUrl = 'https: //google.com';
    onlyIssue(doc, 'flow.config[0].queueMappings[1].endpointUrl', { value: 'https: //google.com', message: /not a valid URL/ });
  });

  it('rejects an endpointUrl that is relative or not http(s)', () => {
    const doc = validDocument();
    stepsOf(doc)[0]!.endpointUrl = '/relative/path';
    stepsOf(doc)[2]!.endpointUrl = 'ftp://127.0.0.1/file';
    const issues = issuePaths(doc, ['flow.config[0].queueMappings[0].endpointUrl', 'flow.config[0].queueMappings[2].endpointUrl']);
    assert.equal(issueAt(issues, 'flow.config[0].queueMappings[0].endpointUrl').value, '/relative/path');
    const ftp = issueAt(issues, 'flow.config[0].queueMappings[2].endpointUrl');
    assert.equal(ftp.value, 'ftp://127.0.0.1/file');
    assert.match(ftp.message, /http or https/);
  });

  it('rejects a malformed openapi.url and openid auth-server-url', () => {
    const doc = validDocument({ 'openapi.url': 'platform/api', 'openid.config': { 'auth-server-url': 'https: //keycloak/auth' } });
    const issues = issuePaths(doc, ['openapi.url', 'openid.config.auth-server-url']);
    assert.equal(issueAt(issues, 'openapi.url').value, 'platform/api');
    assert.equal(issueAt(issues, 'openid.config.auth-server-url').value, 'https: //keycloak/auth');
  });
});

describe('limits', () => {
  it('accepts maxQueueSize -1 (unbounded) and 0, and rejects -2', () => {
    assert.equal(parse(validDocument({ 'threadpool.config': { maxQueueSize: -1 } })).config.admission.maxQueueSize, -1);
    assert.equal(parse(validDocument({ 'threadpool.config': { maxQueueSize: 0 } })).config.admission.maxQueueSize, 0);
    onlyIssue(validDocument({ 'threadpool.config': { maxQueueSize: -2 } }), 'threadpool.config.maxQueueSize', { value: -2, message: /-1/ });
  });

  it('rejects a server port outside 0..65535 and a non-positive body limit', () => {
    const doc = validDocument({ 'server.config': { auth: 'none', port: 65536, maxBodyBytes: 0 } });
    const issues = issuePaths(doc, ['server.config.port', 'server.config.maxBodyBytes']);
    assert.equal(issueAt(issues, 'server.config.port').value, 65536);
    assert.equal(issueAt(issues, 'server.config.maxBodyBytes').value, 0);
  });

  it('rejects an inline payload limit above 32768 bytes', () => {
    onlyIssue(validDocument({ 'payload.config': { inlineLimitBytes: 32769 } }), 'payload.config.inlineLimitBytes', { value: 32769 });
  });

  it('rejects an invalid payload container name', () => {
    onlyIssue(validDocument({ 'payload.config': { container: 'Payloads' } }), 'payload.config.container', { value: 'Payloads' });
  });

  it('rejects a callback host that is not a lowercase host or host:port, naming its index', () => {
    const doc = validDocument({ 'callback.config': { allowedHosts: ['hooks.example', 'https://bad.example/'] } });
    onlyIssue(doc, 'callback.config.allowedHosts[1]', { value: 'https://bad.example/' });
  });

  it('rejects a server auth other than "oidc" or "none"', () => {
    onlyIssue(validDocument({ 'server.config': { auth: 'basic' } }), 'server.config.auth', { value: 'basic', message: /"oidc", "none"/ });
  });

  it('rejects a storage emulator other than "embedded"', () => {
    onlyIssue(validDocument({ 'azure.storage.config': { emulator: 'external' } }), 'azure.storage.config.emulator', { value: 'external' });
  });

  it('rejects an http time-out that is not an integer', () => {
    onlyIssue(validDocument({ 'http.connection.config': { socketTimeout: 1.5 } }), 'http.connection.config.socketTimeout', { value: 1.5 });
  });
});

describe('unknown and missing keys', () => {
  it('names an unknown top-level key and suggests the nearest known one', () => {
    const doc = validDocument();
    doc['queue.confg'] = [{ name: 'other' }];
    const issue = onlyIssue(doc, 'queue.confg');
    assert.match(issue.message, /did you mean "queue\.config"/);
  });

  it('names an unknown top-level key without a suggestion when nothing is near', () => {
    const doc = validDocument({ 'logging.level': 'debug' });
    const issue = onlyIssue(doc, 'logging.level');
    assert.equal(issue.message, 'is not a known key');
  });

  it('names an unknown key in a queue entry and suggests the nearest field', () => {
    const doc = validDocument();
    queuesOf(doc)[1]!.maxMesages = 4;
    const issue = onlyIssue(doc, 'queue.config[1].maxMesages');
    assert.match(issue.message, /did you mean "maxMessages"/);
    assert.equal(formatIssue(issue), 'queue.config[1].maxMesages: is not a known key; did you mean "maxMessages"?');
  });

  it('names an unknown key in a step and in a section object, with suggestions', () => {
    const doc = validDocument();
    stepsOf(doc)[0]!.targetQeueName = DEMO_QUEUES[1];
    sectionOf(doc, 'server.config').prot = 9000;
    const issues = issuePaths(doc, ['flow.config[0].queueMappings[0].targetQeueName', 'server.config.prot']);
    assert.match(issueAt(issues, 'flow.config[0].queueMappings[0].targetQeueName').message, /did you mean "targetQueueName"/);
    assert.match(issueAt(issues, 'server.config.prot').message, /did you mean "port"/);
  });

  it('names an unknown key nested below a section', () => {
    const doc = validDocument({ 'redelivery.config': { default: { count: 1, dealy: 10 } } });
    assert.match(onlyIssue(doc, 'redelivery.config.default.dealy').message, /did you mean "delay"/);
  });

  it('says a required field "is required", without a value', () => {
    const doc = validDocument();
    delete queuesOf(doc)[2]!.name;
    const issues = issuesOf(doc);
    const missing = issueAt(issues, 'queue.config[2].name');
    assert.equal(formatIssue(missing), 'queue.config[2].name: is required');
  });

  it('requires flowName and queueMappings in a flow', () => {
    const doc = validDocument({ 'flow.config': [{}] });
    const issues = issuePaths(doc, ['flow.config[0].flowName', 'flow.config[0].queueMappings']);
    for (const issue of issues) assert.equal(issue.message, 'is required');
  });

  it('requires sourceQueueName in a step', () => {
    const doc = validDocument();
    delete stepsOf(doc)[2]!.sourceQueueName;
    const issue = issueAt(issuesOf(doc), 'flow.config[0].queueMappings[2].sourceQueueName');
    assert.equal(issue.message, 'is required');
  });

  for (const [what, document] of [
    ['null', null],
    ['a list', [validDocument()]],
    ['a string', 'queue.config'],
    ['a number', 42],
  ] as const) {
    it(`rejects a document that is ${what} at path "$"`, () => {
      const issue = issueAt(issuesOf(document), '$');
      assert.match(issue.message, /must be a JSON object of configuration keys/);
    });
  }

  it('rejects a section that is not an object', () => {
    onlyIssue(validDocument({ 'threadpool.config': 5 }), 'threadpool.config', { value: 5, message: /must be an object/ });
  });

  it('rejects a list section that is not a list', () => {
    const doc = validDocument({ 'rbac.config': { apiMappings: { url: '/api', roles: ['x'] } } });
    onlyIssue(doc, 'rbac.config.apiMappings', { value: { url: '/api', roles: ['x'] }, message: /must be a list/ });
  });

  it('rejects an rbac mapping without roles or with a URL that is not a path', () => {
    const doc = validDocument({ 'rbac.config': { applicationMappings: [{ url: '/actuator', roles: [] }, { url: 'actuator', roles: ['ops'] }] } });
    const issues = issuePaths(doc, ['rbac.config.applicationMappings[0].roles', 'rbac.config.applicationMappings[1].url']);
    assert.equal(issueAt(issues, 'rbac.config.applicationMappings[1].url').value, 'actuator');
  });

  it('rejects a flow name with characters outside letters, digits, "_", "." and "-"', () => {
    const doc = validDocument();
    flowsOf(doc)[0]!.flowName = 'my flow';
    onlyIssue(doc, 'flow.config[0].flowName', { value: 'my flow' });
  });
});
