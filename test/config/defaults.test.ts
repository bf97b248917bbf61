import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEMO_FLOW, DEMO_QUEUES, openIdSection, queuesOf, sectionOf, stepsOf, validDocument } from '../support/config-docs.js';
import { onlyIssue, parse } from './issues-helpers.js';

/** The top-level keys of the contract, in the order the document prints them. */
const CONTRACT_KEYS = [
  'azure.storage.config',
  'queue.config',
  'flow.config',
  'table.config',
  'redelivery.config',
  'http.connection.config',
  'threadpool.config',
  'openid.config',
  'rbac.config',
  'openapi.url',
  'openapi.username',
  'openapi.password',
  'server.config',
  'callback.config',
  'payload.config',
  'ui.config',
  'retention.config',
];

describe('defaults', () => {
  it('prints every top-level key of the contract, set or not, and no other', () => {
    const { document } = parse(validDocument());
    assert.deepEqual(Object.keys(document), CONTRACT_KEYS);
    assert.equal(document['openapi.url'], null);
    assert.equal(document['openapi.username'], null);
    assert.equal(document['openapi.password'], null);
  });

  it('gives a queue declared by name only one message per poll, a 500 ms delay, no greed and a one-hour life', () => {
    const { config, document } = parse(validDocument());
    assert.deepEqual(config.queues.get(DEMO_QUEUES[0]), {
      name: DEMO_QUEUES[0],
      maxMessages: 1,
      pollDelayInMs: 500,
      maxIdleDelayInMs: 5000,
      greedy: false,
      timeToLiveInMs: 3_600_000,
      visibilityTimeoutInMs: 30_000,
      maxDequeueCount: 5,
    });
    assert.deepEqual((document['queue.config'] as unknown[])[0], {
      name: DEMO_QUEUES[0],
      maxMessages: 1,
      delay: 500,
      maxIdleDelay: 5000,
      greedy: false,
      timeToLive: 1,
      visibilityTimeout: 30,
      maxDequeueCount: 5,
    });
  });

  it('applies queue defaults to every queue, keeping the values that are given', () => {
    const doc = validDocument();
    Object.assign(queuesOf(doc)[1]!, { maxMessages: 32, delay: 0, maxIdleDelay: 2000, greedy: true, timeToLive: 48, visibilityTimeout: 120, maxDequeueCount: 9 });
    const { config, document } = parse(doc);
    assert.deepEqual(config.queues.get(DEMO_QUEUES[1]), {
      name: DEMO_QUEUES[1],
      maxMessages: 32,
      pollDelayInMs: 0,
      maxIdleDelayInMs: 2000,
      greedy: true,
      timeToLiveInMs: 48 * 3_600_000,
      visibilityTimeoutInMs: 120_000,
      maxDequeueCount: 9,
    });
    assert.equal(config.queues.get(DEMO_QUEUES[2])?.maxMessages, 1);
    assert.deepEqual((document['queue.config'] as unknown[])[1], {
      name: DEMO_QUEUES[1],
      maxMessages: 32,
      delay: 0,
      maxIdleDelay: 2000,
      greedy: true,
      timeToLive: 48,
      visibilityTimeout: 120,
      maxDequeueCount: 9,
    });
  });

  it('turns timeToLive hours into seconds, keeping -1 as never expires and allowing fractions of an hour', () => {
    const doc = validDocument();
    queuesOf(doc)[0]!.timeToLive = -1;
    queuesOf(doc)[1]!.timeToLive = 0.5;
    queuesOf(doc)[2]!.timeToLive = 24;
    const { config } = parse(doc);
    assert.deepEqual(
      DEMO_QUEUES.map((q) => config.queues.get(q)?.timeToLiveInMs),
      [null, 1_800_000, 86_400_000],
    );
  });

  it('gives a step without maxThreads 10 threads, no target when it is the last, and no initial flag', () => {
    const { config, document } = parse(validDocument());
    const flow = config.flows[0]!;
    assert.equal(flow.name, DEMO_FLOW);
    assert.deepEqual(
      flow.steps.map((s) => s.maxThreads),
      [10, 10, 10],
    );
    assert.equal(flow.steps[2]!.targetQueueName, null);
    const printed = ((document['flow.config'] as Array<{ queueMappings: unknown[] }>)[0]!).queueMappings;
    assert.deepEqual(printed[2], {
      initial: false,
      sourceQueueName: DEMO_QUEUES[2],
      endpointName: null,
      endpointUrl: 'http://127.0.0.1:9/third',
      targetQueueName: null,
      maxThreads: 10,
      maxRatePerSecond: null,
      callTimeout: null,
    });
    assert.deepEqual(
      flow.steps.map((s) => s.callTimeoutInMs),
      [60_000, 60_000, 60_000],
      'a step without callTimeout takes http.connection.config.callTimeout',
    );
  });

  it('lets a step\'s callTimeout override http.connection.config.callTimeout, 0 included', () => {
    const doc = validDocument({ 'http.connection.config': { callTimeout: 5000 } });
    stepsOf(doc)[0]!.callTimeout = 0;
    stepsOf(doc)[1]!.callTimeout = 120_000;
    assert.deepEqual(
      parse(doc).config.flows[0]!.steps.map((s) => s.callTimeoutInMs),
      [0, 120_000, 5000],
    );
  });

  it('keeps a maxThreads that is given', () => {
    const doc = validDocument();
    stepsOf(doc)[1]!.maxThreads = 64;
    assert.deepEqual(
      parse(doc).config.flows[0]!.steps.map((s) => s.maxThreads),
      [10, 64, 10],
    );
  });

  it('names the tables AsyncEngineStatus and AsyncEngineDlq unless told otherwise', () => {
    const { config, document } = parse(validDocument());
    assert.deepEqual(config.tables, { statusTable: 'AsyncEngineStatus', dlqTable: 'AsyncEngineDlq' });
    assert.deepEqual(document['table.config'], { statusTable: 'AsyncEngineStatus', dlqTable: 'AsyncEngineDlq' });

    const custom = parse(validDocument({ 'table.config': { dlqTable: 'MyDlq' } }));
    assert.deepEqual(custom.config.tables, { statusTable: 'AsyncEngineStatus', dlqTable: 'MyDlq' });
  });

  it('pools outgoing connections 20 per route and 200 in all, forever, with system-default time-outs', () => {
    const { config, document } = parse(validDocument());
    assert.deepEqual(config.http, {
      routeConnections: 20,
      totalConnections: 200,
      connectionTimeToLiveInMs: null,
      requestTimeoutInMs: -1,
      connectionTimeoutInMs: -1,
      socketTimeoutInMs: -1,
      callTimeoutInMs: 60_000,
    });
    assert.deepEqual(document['http.connection.config'], {
      routeConnections: 20,
      totalConnections: 200,
      connectionTimeToLive: null,
      requestTimeout: -1,
      connectionTimeout: -1,
      socketTimeout: -1,
      callTimeout: 60_000,
    });
  });

  it('keeps the http connection settings that are given, defaulting the others', () => {
    const { config } = parse(validDocument({ 'http.connection.config': { connectionTimeToLive: 30000, socketTimeout: 0 } }));
    assert.deepEqual(config.http, {
      routeConnections: 20,
      totalConnections: 200,
      connectionTimeToLiveInMs: 30000,
      requestTimeoutInMs: -1,
      connectionTimeoutInMs: -1,
      socketTimeoutInMs: 0,
      callTimeoutInMs: 60_000,
    });
  });

  it('sizes the admission pool 10 warm, 20 at most, 1000 waiting', () => {
    const { config, document } = parse(validDocument());
    assert.deepEqual(config.admission, { poolSize: 10, maxPoolSize: 20, maxQueueSize: 1000 });
    assert.deepEqual(document['threadpool.config'], { poolSize: 10, maxPoolSize: 20, maxQueueSize: 1000 });
  });

  it('serves on 127.0.0.1:8080 with 1 MiB bodies, a 30 s grace, oidc, no proxy trust and no demo endpoints', () => {
    const { config, document } = parse(validDocument({ 'server.config': undefined, 'openid.config': openIdSection() }));
    assert.deepEqual(config.server, {
      host: '127.0.0.1',
      port: 8080,
      maxBodyBytes: 1048576,
      shutdownGraceInMs: 30000,
      trustProxy: false,
      trustedProxies: [],
      maxConnections: 1024,
      headersTimeoutInMs: 10_000,
      requestTimeoutInMs: 30_000,
      expirySweepInMs: 300000,
      demoEndpoints: false,
      maxWaitInSeconds: 30,
      managementPort: null,
      managementHost: '127.0.0.1',
    });
    assert.equal(config.auth.mode, 'oidc');
    assert.deepEqual(document['server.config'], {
      host: '127.0.0.1',
      port: 8080,
      maxBodyBytes: 1048576,
      shutdownGraceMs: 30000,
      auth: 'oidc',
      trustProxy: false,
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

  it('defaults the rest of server.config when only auth is set', () => {
    const { config } = parse(validDocument({ 'server.config': { auth: 'none' } }));
    assert.deepEqual(config.server, {
      host: '127.0.0.1',
      port: 8080,
      maxBodyBytes: 1048576,
      shutdownGraceInMs: 30000,
      trustProxy: false,
      trustedProxies: [],
      maxConnections: 1024,
      headersTimeoutInMs: 10_000,
      requestTimeoutInMs: 30_000,
      expirySweepInMs: 300000,
      demoEndpoints: false,
      maxWaitInSeconds: 30,
      managementPort: null,
      managementHost: '127.0.0.1',
    });
    assert.equal(config.auth.mode, 'none');
  });

  it('allows no callback hosts by default, with a 10 s time-out and 3 retries', () => {
    const { config, document } = parse(validDocument());
    assert.deepEqual(config.callback, { allowedHosts: [], timeoutInMs: 10000, retries: 3 });
    assert.deepEqual(document['callback.config'], { allowedHosts: [], timeout: 10000, retries: 3 });
  });

  it('carries bodies up to 32768 bytes inline, puts larger ones in async-engine-payloads, and reads answers up to 10 MiB', () => {
    const { config, document } = parse(validDocument());
    assert.deepEqual(config.payload, { inlineLimitBytes: 32768, container: 'async-engine-payloads', maxResponseBytes: 10_485_760 });
    assert.deepEqual(document['payload.config'], { inlineLimitBytes: 32768, container: 'async-engine-payloads', maxResponseBytes: 10_485_760 });
  });

  it('names no dashboard client unless ui.config.clientId is set', () => {
    assert.deepEqual(parse(validDocument()).config.ui, { clientId: null });
    const { config, document } = parse(validDocument({ 'ui.config': { clientId: 'async-engine-ui' } }));
    assert.deepEqual(config.ui, { clientId: 'async-engine-ui' });
    assert.deepEqual(document['ui.config'], { clientId: 'async-engine-ui' });
    onlyIssue(validDocument({ 'ui.config': { clientId: '' } }), 'ui.config.clientId', { value: '' });
  });

  it('reaches a storage account under core.windows.net unless another suffix is given', () => {
    const account = { accountName: 'myaccount', accountKey: 'a2V5' };
    const { config, document } = parse(validDocument({ 'azure.storage.config': account }));
    const urls = { blob: 'https://myaccount.blob.core.windows.net', queue: 'https://myaccount.queue.core.windows.net', table: 'https://myaccount.table.core.windows.net' };
    assert.deepEqual(config.storage, { kind: 'account', accountName: 'myaccount', accountKey: 'a2V5', urls });
    assert.equal((document['azure.storage.config'] as Record<string, unknown>)['suffix'], 'core.windows.net');

    const china = parse(validDocument({ 'azure.storage.config': { ...account, suffix: 'core.chinacloudapi.cn' } }));
    assert.equal(china.config.storage.kind === 'account' && china.config.storage.urls.table, 'https://myaccount.table.core.chinacloudapi.cn');
  });

  it('starts the embedded emulator in azurite/ on ports 10000-10002 by default', () => {
    const { config, document } = parse(validDocument({ 'azure.storage.config': { emulator: 'embedded' } }));
    assert.deepEqual(config.storage, { kind: 'embedded-emulator', location: 'azurite', blobPort: 10000, queuePort: 10001, tablePort: 10002 });
    assert.deepEqual(document['azure.storage.config'], {
      accountName: null,
      accountKey: null,
      suffix: 'core.windows.net',
      credential: null,
      managedIdentityClientId: null,
      endpoints: { blob: null, queue: null, table: null },
      connectionString: null,
      emulator: 'embedded',
      emulatorLocation: 'azurite',
      emulatorBlobPort: 10000,
      emulatorQueuePort: 10001,
      emulatorTablePort: 10002,
    });
  });

  it('redelivers 3 times after a fixed 1000 ms by default, without jitter, capped at 7 days, with no per-status rules', () => {
    const { config, document } = parse(validDocument());
    assert.deepEqual(config.redelivery.default, { count: 3, delayInMs: 1000, backoff: 'fixed', maxDelayInMs: 7 * 24 * 3_600_000, hasJitter: false });
    assert.deepEqual(config.redelivery.statusRules, []);
    assert.deepEqual(document['redelivery.config'], { default: { count: 3, delay: 1000, backoff: 'fixed', maxDelay: null, jitter: null }, additional: [] });
  });

  it('fills the missing half of a redelivery default and resolves per-status rules', () => {
    const { config, document } = parse(
      validDocument({ 'redelivery.config': { default: { count: 2 }, additional: [{ httpStatus: 502, count: 5, delay: 250 }] } }),
    );
    const fixed = { backoff: 'fixed', maxDelayInMs: 7 * 24 * 3_600_000, hasJitter: false };
    assert.deepEqual(config.redelivery.default, { count: 2, delayInMs: 1000, ...fixed });
    assert.deepEqual(config.redelivery.statusRules, [{ fromStatus: 502, toStatus: 502, rule: { count: 5, delayInMs: 250, ...fixed } }]);
    const unset = { backoff: 'fixed', maxDelay: null, jitter: null };
    assert.deepEqual(document['redelivery.config'], { default: { count: 2, delay: 1000, ...unset }, additional: [{ httpStatus: 502, count: 5, delay: 250, ...unset }] });
  });

  it('turns jitter on for exponential rules and off for fixed ones, unless a rule says otherwise', () => {
    const { config } = parse(
      validDocument({
        'redelivery.config': {
          default: { backoff: 'exponential' },
          additional: [
            { httpStatus: 500, count: 1, delay: 10 },
            { httpStatus: 501, count: 1, delay: 10, jitter: true },
            { httpStatus: 502, count: 1, delay: 10, backoff: 'exponential', maxDelay: 60_000 },
            { httpStatus: 503, count: 1, delay: 10, backoff: 'exponential', jitter: false },
          ],
        },
      }),
    );
    assert.deepEqual(config.redelivery.default, { count: 3, delayInMs: 1000, backoff: 'exponential', maxDelayInMs: 7 * 24 * 3_600_000, hasJitter: true });
    assert.deepEqual(
      config.redelivery.statusRules.map((r) => [r.fromStatus, r.rule.backoff, r.rule.hasJitter, r.rule.maxDelayInMs]),
      [
        [500, 'fixed', false, 7 * 24 * 3_600_000],
        [501, 'fixed', true, 7 * 24 * 3_600_000],
        [502, 'exponential', true, 60_000],
        [503, 'exponential', false, 7 * 24 * 3_600_000],
      ],
    );
  });

  it('fills the Keycloak adapter flags: external ssl, sub as principal, realm roles, no bearer-only detection', () => {
    const { config, document } = parse(validDocument({ 'server.config': undefined, 'openid.config': openIdSection() }));
    assert.equal(config.auth.mode, 'oidc');
    assert.deepEqual(config.auth.openid, {
      realm: 'engine',
      authServerUrl: 'https://keycloak.example/auth',
      resource: 'async-engine',
      clientSecret: null,
      useResourceRoleMappings: false,
      sslRequired: 'external',
      principalAttribute: 'sub',
    });
    assert.deepEqual(document['openid.config'], {
      realm: 'engine',
      'auth-server-url': 'https://keycloak.example/auth',
      resource: 'async-engine',
      credentials: { secret: null },
      'use-resource-role-mappings': false,
      'ssl-required': 'external',
      'principal-attribute': 'sub',
      'autodetect-bearer-only': false,
    });
  });

  it('leaves openid unresolved when auth is "none" and openid.config is absent', () => {
    assert.deepEqual(parse(validDocument()).config.auth, { mode: 'none', openid: null });
  });

  it('maps no URLs to roles by default, lets every token read every request, and resolves what is given', () => {
    const { config, document } = parse(validDocument());
    assert.deepEqual(config.rbac, { apiMappings: [], applicationMappings: [], ownRequestsOnly: false, adminRoles: [] });
    assert.deepEqual(document['rbac.config'], { apiMappings: [], applicationMappings: [], ownRequestsOnly: false, adminRoles: [] });

    const withRoles = parse(
      validDocument({
        'server.config': undefined,
        'openid.config': openIdSection(),
        'rbac.config': { apiMappings: [{ url: '/api', roles: ['async-engine'] }], ownRequestsOnly: true, adminRoles: ['auditor'] },
      }),
    );
    assert.deepEqual(withRoles.config.rbac, { apiMappings: [{ urlPrefix: '/api', roles: ['async-engine'] }], applicationMappings: [], ownRequestsOnly: true, adminRoles: ['auditor'] });
  });

  it('refuses ownRequestsOnly under auth "none", where no request has an owner', () => {
    onlyIssue(validDocument({ 'rbac.config': { ownRequestsOnly: true } }), 'rbac.config.ownRequestsOnly', { message: /needs server\.config\.auth "oidc"/ });
  });

  it('has no platform url or credentials unless given', () => {
    assert.deepEqual(parse(validDocument()).config.platform, { url: null, username: null, password: null });
    const doc = validDocument({ 'openapi.url': 'https://platform.example/api/', 'openapi.username': 'host' });
    assert.deepEqual(parse(doc).config.platform, { url: 'https://platform.example/api/', username: 'host', password: null });
  });

  it('takes section values given in a partial section and defaults the rest of that section', () => {
    const doc = validDocument();
    Object.assign(sectionOf(doc, 'threadpool.config'), { maxQueueSize: -1 });
    Object.assign(sectionOf(doc, 'callback.config'), { allowedHosts: ['hooks.example:8443'] });
    const { config } = parse(doc);
    assert.deepEqual(config.admission, { poolSize: 10, maxPoolSize: 20, maxQueueSize: -1 });
    assert.deepEqual(config.callback, { allowedHosts: ['hooks.example:8443'], timeoutInMs: 10000, retries: 3 });
  });
});
