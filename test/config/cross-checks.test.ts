import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue } from '../../src/config/issues.js';
import { type ConfigDocument, DEMO_ENDPOINT_BASE, DEMO_QUEUES, flowsOf, openIdSection, platformKeys, queuesOf, stepsOf, validDocument } from '../support/config-docs.js';
import { issueAt, issuePaths, issuesOf, onlyIssue, parse } from './issues-helpers.js';

const [FIRST, SECOND, THIRD] = DEMO_QUEUES;

describe('flow steps against queue.config', () => {
  it('rejects a sourceQueueName that is not declared, with the contract\'s exact line', () => {
    const doc = validDocument();
    stepsOf(doc)[1]!.sourceQueueName = 'x';
    stepsOf(doc)[0]!.targetQueueName = 'x';
    const issues = issuePaths(doc, ['flow.config[0].queueMappings[0].targetQueueName', 'flow.config[0].queueMappings[1].sourceQueueName']);
    const source = issueAt(issues, 'flow.config[0].queueMappings[1].sourceQueueName');
    assert.equal(formatIssue(source), 'flow.config[0].queueMappings[1].sourceQueueName: "x" is not declared in queue.config');
    assert.equal(issueAt(issues, 'flow.config[0].queueMappings[0].targetQueueName').message, 'is not declared in queue.config');
  });

  it('rejects a targetQueueName that is not declared', () => {
    const doc = validDocument();
    queuesOf(doc).pop();
    const issues = issuesOf(doc);
    const target = issueAt(issues, 'flow.config[0].queueMappings[1].targetQueueName');
    assert.equal(target.value, THIRD);
    assert.equal(target.message, 'is not declared in queue.config');
  });
});

describe('flow chains', () => {
  it('rejects a flow without an initial step', () => {
    const doc = validDocument();
    stepsOf(doc)[0]!.initial = false;
    onlyIssue(doc, 'flow.config[0].queueMappings', { message: /no step with "initial": true/ });
  });

  it('rejects a flow with two initial steps, naming the second', () => {
    const doc = validDocument();
    stepsOf(doc)[2]!.initial = true;
    onlyIssue(doc, 'flow.config[0].queueMappings[2].initial', { message: /second initial step \(the first is flow\.config\[0\]\.queueMappings\[0\]\)/ });
  });

  it('rejects steps whose targets lead back to an earlier step', () => {
    const doc = validDocument();
    stepsOf(doc)[2]!.targetQueueName = SECOND;
    onlyIssue(doc, 'flow.config[0].queueMappings[2].targetQueueName', { value: SECOND, message: /cycle/ });
  });

  it('rejects a cycle back to the initial step', () => {
    const doc = validDocument();
    stepsOf(doc)[2]!.targetQueueName = FIRST;
    onlyIssue(doc, 'flow.config[0].queueMappings[2].targetQueueName', { value: FIRST, message: /leads back to flow\.config\[0\]\.queueMappings\[0\]/ });
  });

  it('rejects a target that no step of the flow reads', () => {
    const doc = validDocument();
    queuesOf(doc).push({ name: 'demo-fourth' });
    stepsOf(doc)[2]!.targetQueueName = 'demo-fourth';
    onlyIssue(doc, 'flow.config[0].queueMappings[2].targetQueueName', { value: 'demo-fourth', message: /not the sourceQueueName of any step of flow "demo"/ });
  });

  it('rejects a step that the chain from the initial step never reaches', () => {
    const doc = validDocument();
    stepsOf(doc)[1]!.targetQueueName = null;
    onlyIssue(doc, 'flow.config[0].queueMappings[2]', { message: /not reachable from the initial step/ });
  });

  it('rejects a flow without steps', () => {
    const doc = validDocument();
    flowsOf(doc)[0]!.queueMappings = [];
    onlyIssue(doc, 'flow.config[0].queueMappings', { message: /at least one step/ });
  });

  it('resolves the steps in chain order, whatever order they are listed in', () => {
    const doc = validDocument();
    stepsOf(doc).reverse();
    const steps = parse(doc).config.flows[0]!.steps;
    assert.deepEqual(
      steps.map((s) => [s.index, s.sourceQueueName, s.targetQueueName]),
      [
        [0, FIRST, SECOND],
        [1, SECOND, THIRD],
        [2, THIRD, null],
      ],
    );
  });

  it('accepts a flow of one step', () => {
    const doc = validDocument({ 'flow.config': [{ flowName: 'single', queueMappings: [{ initial: true, sourceQueueName: FIRST, endpointUrl: `${DEMO_ENDPOINT_BASE}/one` }] }] });
    assert.deepEqual(parse(doc).config.flows.map((f) => [f.name, f.steps.length]), [['single', 1]]);
  });

  it('rejects a flow name declared twice', () => {
    const doc = validDocument();
    queuesOf(doc).push({ name: 'other-first' });
    flowsOf(doc).push({ flowName: 'demo', queueMappings: [{ initial: true, sourceQueueName: 'other-first', endpointUrl: `${DEMO_ENDPOINT_BASE}/x` }] });
    onlyIssue(doc, 'flow.config[1].flowName', { value: 'demo', message: /declared twice/ });
  });
});

describe('queue ownership', () => {
  it('rejects a queue that is the source of two steps of one flow', () => {
    const doc = validDocument();
    stepsOf(doc)[2]!.sourceQueueName = SECOND;
    const issue = issueAt(issuesOf(doc), 'flow.config[0].queueMappings[2].sourceQueueName');
    assert.equal(issue.value, SECOND);
    assert.match(issue.message, /already the source of flow\.config\[0\]\.queueMappings\[1\]/);
  });

  it('rejects a queue that is the source of steps in two flows', () => {
    const doc = validDocument();
    flowsOf(doc).push({ flowName: 'other', queueMappings: [{ initial: true, sourceQueueName: FIRST, endpointUrl: `${DEMO_ENDPOINT_BASE}/x` }] });
    onlyIssue(doc, 'flow.config[1].queueMappings[0].sourceQueueName', { value: FIRST, message: /already the source of flow\.config\[0\]\.queueMappings\[0\]/ });
  });

  it('accepts two flows on distinct queues', () => {
    const doc = validDocument();
    queuesOf(doc).push({ name: 'other-first' });
    flowsOf(doc).push({ flowName: 'other', queueMappings: [{ initial: true, sourceQueueName: 'other-first', endpointUrl: `${DEMO_ENDPOINT_BASE}/x` }] });
    assert.deepEqual(parse(doc).config.flows.map((f) => f.name), ['demo', 'other']);
  });
});

describe('endpoints', () => {
  it('rejects a step with neither endpointUrl nor endpointName', () => {
    const doc = validDocument();
    delete stepsOf(doc)[1]!.endpointUrl;
    onlyIssue(doc, 'flow.config[0].queueMappings[1]', { message: /has no endpoint/ });
  });

  it('rejects an endpointName while openapi.url is unset', () => {
    const doc = validDocument(platformKeys());
    stepsOf(doc)[0]!.endpointName = 'Pipeline_Step1';
    onlyIssue(doc, 'flow.config[0].queueMappings[0].endpointName', { value: 'Pipeline_Step1', message: /needs openapi\.url/ });
  });

  it('resolves an endpointName against openapi.url, winning over endpointUrl', () => {
    const doc = validDocument(platformKeys({ 'openapi.url': 'https://platform.example/ftosapi/actions/' }));
    stepsOf(doc)[0]!.endpointName = 'Pipeline_Step1';
    const steps = parse(doc).config.flows[0]!.steps;
    assert.deepEqual(steps[0]!.endpoint, { kind: 'platform', name: 'Pipeline_Step1', url: 'https://platform.example/ftosapi/actions/Pipeline_Step1' });
    assert.deepEqual(steps[1]!.endpoint, { kind: 'url', url: `${DEMO_ENDPOINT_BASE}/second` });
  });

  it('resolves an endpointName below openapi.url when the base has no trailing slash', () => {
    const doc = validDocument(platformKeys({ 'openapi.url': 'https://platform.example/ftosapi/actions' }));
    stepsOf(doc)[2]!.endpointName = 'Pipeline_Step3';
    delete stepsOf(doc)[2]!.endpointUrl;
    assert.deepEqual(parse(doc).config.flows[0]!.steps[2]!.endpoint, {
      kind: 'platform',
      name: 'Pipeline_Step3',
      url: 'https://platform.example/ftosapi/actions/Pipeline_Step3',
    });
  });

  it('takes a path under /demo/ as the engine\'s own demo endpoints while server.config.demoEndpoints is true', () => {
    const doc = validDocument({ 'server.config': { auth: 'none', demoEndpoints: true } });
    stepsOf(doc)[0]!.endpointUrl = '/demo/echo';
    stepsOf(doc)[1]!.endpointUrl = '/demo/fail?share=0.5';
    const steps = parse(doc).config.flows[0]!.steps;
    assert.deepEqual(steps.map((s) => s.endpoint), [
      { kind: 'demo', path: '/demo/echo' },
      { kind: 'demo', path: '/demo/fail?share=0.5' },
      { kind: 'url', url: `${DEMO_ENDPOINT_BASE}/third` },
    ]);
  });

  it('rejects a demo path without server.config.demoEndpoints: nothing would answer it', () => {
    const doc = validDocument();
    stepsOf(doc)[0]!.endpointUrl = '/demo/echo';
    onlyIssue(doc, 'flow.config[0].queueMappings[0].endpointUrl', { value: '/demo/echo', message: /only server\.config\.demoEndpoints: true serves/ });
  });

  for (const path of ['/api/dlq/replay?flow=demo', '/demo', '/demo/../api/dlq/replay', '/demo/%2e%2e/api/flows/demo', '/demo/x%2f..%2f..%2fapi', '/demo/x\\..\\api', '//evil.example/demo/echo']) {
    it(`rejects the path ${JSON.stringify(path)}: a path may name the demo endpoints only, never the engine's API`, () => {
      const doc = validDocument({ 'server.config': { auth: 'none', demoEndpoints: true } });
      stepsOf(doc)[0]!.endpointUrl = path;
      onlyIssue(doc, 'flow.config[0].queueMappings[0].endpointUrl', { value: path, message: /only the engine's demo endpoints may be named by path/ });
    });
  }
});

describe('the platform token and the OpenID provider', () => {
  it('requires openapi.username, openapi.password and openid.config for endpointName steps, even with auth "none"', () => {
    const doc = validDocument({ 'openapi.url': 'https://platform.example/actions/' });
    stepsOf(doc)[0]!.endpointName = 'Step1';
    issuePaths(doc, ['openapi.password', 'openapi.username', 'openid.config.auth-server-url', 'openid.config.realm', 'openid.config.resource']);
  });

  it('takes openapi.password from OPENAPI_PASSWORD', () => {
    const doc = validDocument({ ...platformKeys({ 'openapi.url': 'https://platform.example/actions/' }), 'openapi.password': undefined });
    stepsOf(doc)[0]!.endpointName = 'Step1';
    assert.equal(parse(doc, { OPENAPI_PASSWORD: 'from-env' }).config.platform.password, 'from-env');
  });

  it('requires an https provider unless ssl-required is "none", or "external" with a loopback or private host', () => {
    const withProvider = (url: string, sslRequired: string): ConfigDocument =>
      validDocument({ 'server.config': { auth: 'oidc' }, 'openid.config': openIdSection({ 'auth-server-url': url, 'ssl-required': sslRequired }) });
    onlyIssue(withProvider('http://keycloak.example/auth', 'external'), 'openid.config.auth-server-url', {
      value: 'http://keycloak.example/auth',
      message: /must be https while openid\.config\.ssl-required is "external"/,
    });
    onlyIssue(withProvider('http://127.0.0.1:8180/auth', 'all'), 'openid.config.auth-server-url', { value: 'http://127.0.0.1:8180/auth', message: /must be https/ });
    for (const [url, mode] of [
      ['http://127.0.0.1:8180/auth', 'external'],
      ['http://10.0.0.5/auth', 'external'],
      ['http://keycloak.example/auth', 'none'],
      ['https://keycloak.example/auth', 'all'],
    ]) {
      assert.doesNotThrow(() => parse(withProvider(url!, mode!)), `${url} under ${mode}`);
    }
  });
});

describe('limits between keys', () => {
  it('rejects routeConnections above totalConnections and accepts them equal', () => {
    const doc = validDocument({ 'http.connection.config': { routeConnections: 300 } });
    onlyIssue(doc, 'http.connection.config.routeConnections', { value: 300, message: /must not exceed totalConnections \(200\)/ });
    parse(validDocument({ 'http.connection.config': { routeConnections: 50, totalConnections: 50 } }));
  });

  it('rejects poolSize above maxPoolSize and accepts them equal', () => {
    const doc = validDocument({ 'threadpool.config': { poolSize: 5, maxPoolSize: 4 } });
    onlyIssue(doc, 'threadpool.config.poolSize', { value: 5, message: /must not exceed maxPoolSize \(4\)/ });
    parse(validDocument({ 'threadpool.config': { poolSize: 5, maxPoolSize: 5 } }));
  });

  it('rejects a dlq table named like the status table, ignoring case', () => {
    onlyIssue(validDocument({ 'table.config': { statusTable: 'Requests', dlqTable: 'rEQUESTS' } }), 'table.config.dlqTable', {
      value: 'rEQUESTS',
      message: /must differ from statusTable/,
    });
    onlyIssue(validDocument({ 'table.config': { dlqTable: 'AsyncEngineStatus' } }), 'table.config.dlqTable', { value: 'AsyncEngineStatus' });
  });

  it("rejects a declared queue named like the engine's own callback queue, which is named after the status table", () => {
    const doc = validDocument({ 'table.config': { statusTable: 'Requests' } });
    queuesOf(doc)[1]!.name = 'requests-callbacks';
    stepsOf(doc)[0]!.targetQueueName = 'requests-callbacks';
    stepsOf(doc)[1]!.sourceQueueName = 'requests-callbacks';
    onlyIssue(doc, 'queue.config[1].name', { value: 'requests-callbacks', message: /the engine's own callback queue \(named after table\.config\.statusTable "Requests"\)/ });
    // With the default status table the callback queue is asyncenginestatus-callbacks: the name is free.
    delete doc['table.config'];
    parse(doc);
  });
});

describe('authentication', () => {
  const OIDC_PATHS = ['openid.config.realm', 'openid.config.auth-server-url', 'openid.config.resource'];

  it('requires realm, auth-server-url and resource while auth is "oidc" by default', () => {
    const issues = issuePaths(validDocument({ 'server.config': undefined }), OIDC_PATHS);
    for (const issue of issues) {
      assert.match(issue.message, /required while server\.config\.auth is "oidc"/);
      assert.ok(!('value' in issue));
    }
  });

  it('requires them when auth is "oidc" explicitly, naming only those missing', () => {
    const doc = validDocument({ 'server.config': { auth: 'oidc' }, 'openid.config': { realm: 'engine' } });
    issuePaths(doc, ['openid.config.auth-server-url', 'openid.config.resource']);
  });

  it('accepts oidc with the three fields set', () => {
    const { config } = parse(validDocument({ 'server.config': { auth: 'oidc' }, 'openid.config': openIdSection() }));
    assert.equal(config.auth.mode, 'oidc');
    assert.equal(config.auth.openid?.realm, 'engine');
  });

  it('needs no openid.config when auth is "none"', () => {
    const { config } = parse(validDocument({ 'server.config': { auth: 'none' } }));
    assert.equal(config.auth.mode, 'none');
    assert.equal(config.auth.openid, null);
  });
});

describe('storage', () => {
  it('rejects a document that sets no way to reach storage', () => {
    onlyIssue(validDocument({ 'azure.storage.config': undefined }), 'azure.storage.config', { message: /must say how to reach storage: accountName with credential "default" .*accountName and accountKey, connectionString, or emulator/ });
    onlyIssue(validDocument({ 'azure.storage.config': { suffix: 'core.windows.net' } }), 'azure.storage.config');
  });

  it('rejects a document that sets two ways to reach storage', () => {
    const both = validDocument({ 'azure.storage.config': { connectionString: 'UseDevelopmentStorage=true', emulator: 'embedded' } });
    onlyIssue(both, 'azure.storage.config', { message: /only one way/ });
    const account = validDocument({ 'azure.storage.config': { connectionString: 'UseDevelopmentStorage=true', accountName: 'acct', accountKey: 'a2V5' } });
    onlyIssue(account, 'azure.storage.config', { message: /only one way/ });
  });

  it('rejects an accountName without accountKey, and an accountKey without accountName', () => {
    onlyIssue(validDocument({ 'azure.storage.config': { accountName: 'acct' } }), 'azure.storage.config.accountKey', { message: /is required with accountName/ });
    onlyIssue(validDocument({ 'azure.storage.config': { accountKey: 'a2V5' } }), 'azure.storage.config.accountName', { message: /is required with accountKey/ });
  });

  it('rejects emulator ports that clash, naming the port each one repeats', () => {
    const doc = validDocument({ 'azure.storage.config': { emulator: 'embedded', emulatorQueuePort: 10000, emulatorTablePort: 10001 } });
    const issues = issuesOf(doc);
    assert.deepEqual(
      issues.map((i) => i.path),
      ['azure.storage.config.emulatorQueuePort'],
    );
    assert.equal(formatIssue(issues[0]!), 'azure.storage.config.emulatorQueuePort: 10000 is also emulatorBlobPort; each service needs its own port');

    const table = validDocument({ 'azure.storage.config': { emulator: 'embedded', emulatorTablePort: 10001 } });
    onlyIssue(table, 'azure.storage.config.emulatorTablePort', { value: 10001, message: /emulatorQueuePort/ });
  });

  it('lets every emulator port be 0 (any free port)', () => {
    const doc = validDocument({ 'azure.storage.config': { emulator: 'embedded', emulatorBlobPort: 0, emulatorQueuePort: 0, emulatorTablePort: 0 } });
    assert.deepEqual(parse(doc).config.storage, { kind: 'embedded-emulator', location: 'azurite', blobPort: 0, queuePort: 0, tablePort: 0 });
  });

  it('ignores emulator ports when the emulator is not used', () => {
    parse(validDocument({ 'azure.storage.config': { connectionString: 'UseDevelopmentStorage=true', emulatorQueuePort: 10000 } }));
  });
});
