/**
 * server.config.managementPort under auth "oidc": every /actuator/* route on the management port
 * without a token, none of them on the main port, and nothing else on the management port.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { configOf, engineSuite, flowDocument, startEngine, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { TestIdp } from '../support/oidc.js';

const REALM = 'management';
const CLIENT = 'async-engine';
const ROLES = { realm_access: { roles: ['async-engine', 'ops'] } };
const ACTUATOR_ROUTES = ['/actuator/health', '/actuator/health/liveness', '/actuator/health/readiness', '/actuator/prometheus', '/actuator/info'];

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** A GET of `target` sent as written: no client normalises `..` or decodes `%2f` first. */
function rawGet(origin: string, target: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: target, headers: { connection: 'close', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function assertNotFound(answer: Answer, what: string): void {
  assert.equal(answer.status, 404, `${what}: ${answer.body}`);
  assert.match(answer.contentType, /^application\/problem\+json/, what);
  assert.doesNotMatch(answer.body, /async_engine_/, `${what} shows no metric`);
}

describe('the management port under auth "oidc"', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  let e: TestEngine;
  let management: string;
  let token: string;
  const documentFor = (server: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    flowDocument(suite.azurite, {
      steps: [{ url: 'http://127.0.0.1:9/x' }],
      extra: {
        'server.config': { auth: 'oidc', managementPort: 0, ...server },
        'openid.config': { realm: REALM, 'auth-server-url': idp.authServerUrl, resource: CLIENT },
        'rbac.config': { apiMappings: [{ url: '/api', roles: ['async-engine'] }], applicationMappings: [{ url: '/actuator', roles: ['ops'] }] },
        ...extra,
      },
    });
  before(async () => {
    idp = await TestIdp.start({ realm: REALM, clientId: CLIENT, clientSecret: 's3cret', users: {} });
    e = await suite.engine(documentFor({}, { 'callback.config': { allowedHosts: ['127.0.0.1', 'localhost'] } }), { healthCacheInMs: 50 });
    assert.ok(e.managementUrl !== null);
    management = e.managementUrl;
    token = await idp.sign(ROLES);
  });
  after(() => idp.close());

  it('serves every /actuator/* route there without a token', async () => {
    for (const route of ACTUATOR_ROUTES) {
      const response = await eventually(
        async () => {
          const answer = await fetch(`${management}${route}`);
          assert.equal(answer.status, 200, `${route}: ${await answer.clone().text()}`);
          return answer;
        },
        { timeoutInMs: 20_000 },
      );
      const text = await response.text();
      if (route === '/actuator/prometheus') assert.match(text, /^async_engine_/m);
      else assert.equal((JSON.parse(text) as { status?: string; role?: string })[route === '/actuator/info' ? 'role' : 'status'], route === '/actuator/info' ? 'all' : 'UP');
    }
    const health = (await (await fetch(`${management}/actuator/health`)).json()) as { components: Record<string, unknown> };
    assert.deepEqual(Object.keys(health.components).sort(), ['auth', 'pollers', 'storage', 'sweeper'], 'health keeps its details there');
  });

  it('serves none of them on the main port, token or not, while /api/* there still needs a token', async () => {
    for (const route of ACTUATOR_ROUTES) {
      assertNotFound(await rawGet(e.url, route), `${route} without a token`);
      assertNotFound(await rawGet(e.url, route, { authorization: `Bearer ${token}` }), `${route} with a token`);
    }
    assertNotFound(await rawGet(e.url, '/actuator'), '/actuator');
    assert.equal((await fetch(`${e.url}/api/flows`)).status, 401);
    assert.equal((await fetch(`${e.url}/api/flows`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  });

  it('answers 404 for near paths on the management port, and on the main port gives them nothing but 401 or 404', async () => {
    const near = ['/Actuator/prometheus', '/actuator/PROMETHEUS', '/ACTUATOR/HEALTH', '/actuator%2fprometheus', '/actuator%2Fprometheus', '/api/../actuator/prometheus', '/api/%2e%2e/actuator/prometheus', '//actuator/prometheus', '/actuator/health/livenessx'];
    for (const target of near) assertNotFound(await rawGet(management, target), `${target} on the management port`);
    // A trailing slash is the same route (the routers are not strict): served there, and not here.
    for (const target of [...near, '/actuator/prometheus/', '/actuator/']) {
      const bare = await rawGet(e.url, target);
      assert.ok(bare.status === 401 || bare.status === 404, `${target} on the main port without a token: ${bare.status}`);
      assertNotFound(await rawGet(e.url, target, { authorization: `Bearer ${token}` }), `${target} on the main port with a token`);
    }
    // The absolute form names the path too: it is no way around the port either.
    const { port } = new URL(e.url);
    assertNotFound(await rawGet(e.url, `http://127.0.0.1:${port}/actuator/prometheus`), 'an absolute-form target on the main port');
  });

  it('serves nothing of the API on the management port, token or not', async () => {
    for (const target of ['/api/flows', '/api/requests', '/api/dlq', '/openapi.json', '/', '/demo/echo']) {
      assertNotFound(await rawGet(management, target), target);
      assertNotFound(await rawGet(management, target, { authorization: `Bearer ${token}` }), `${target} with a token`);
    }
    const submitted = await fetch(`${management}/api/flows/flow`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
    assert.equal(submitted.status, 404);
    const other = await fetch(`${management}/actuator/health`, { method: 'DELETE' });
    assert.equal(other.status, 405);
    assert.equal(other.headers.get('allow'), 'HEAD, GET');
    assert.match(other.headers.get('content-type') ?? '', /^application\/problem\+json/);
  });

  it('refuses a callback aimed at the management port', async () => {
    const response = await fetch(`${e.url}/api/flows/flow`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-callback-url': `${management.replace('127.0.0.1', 'localhost')}/actuator/info` },
    });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { detail: string }).detail, /own address/);
  });

  it('is the only port of a worker, which serves /actuator/* there and nothing else', async () => {
    const worker = await suite.engine(documentFor(), { healthCacheInMs: 50 }, 'worker');
    assert.equal(worker.runtime.url, null, 'no main port');
    assert.throws(() => worker.url, /no main port/);
    const workerManagement = worker.managementUrl ?? assert.fail('a management URL');
    for (const route of ACTUATOR_ROUTES) await eventually(async () => assert.equal((await fetch(`${workerManagement}${route}`)).status, 200, route), { timeoutInMs: 20_000 });
    assert.equal(((await (await fetch(`${workerManagement}/actuator/info`)).json()) as { role: string }).role, 'worker');
    for (const target of ['/api/flows', '/openapi.json']) assertNotFound(await rawGet(workerManagement, target), target);
  });

  it('lets close() finish though a client holds a half-sent request on the management port', async () => {
    // The drain may take ten minutes and the client as long to send its headers: only cutting it at the end of the drain lets close() end.
    const own = await startEngine(configOf(documentFor({ shutdownGraceMs: 600_000, headersTimeoutMs: 600_000, requestTimeoutMs: 600_000 })));
    const { hostname, port } = new URL(own.managementUrl ?? assert.fail('a management URL'));
    const socket = connect(Number(port), hostname);
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /actuator/health HTTP/1.1\r\nHost: x\r\n');
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await own.close();
    await ended;
    assert.equal(own.logged('runtime.close_failed').length, 0);
  });
});
