/**
 * RBAC against the paths an attacker writes: letter case, doubled or encoded slashes, dot segments,
 * matrix parameters, trailing slashes and absolute-form targets. A property-based test: whatever the
 * mutation, a token without the guard's role never reaches a guarded handler (never a 2xx), while
 * the same handlers answer 2xx to a token with the role, so the guard is what stops it.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { TestIdp } from '../support/oidc.js';

const REALM = 'rbac';
const CLIENT = 'async-engine';
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261201);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 250);

/** Sends `method target` as written (absolute-form included) and returns the status. */
function send(e: TestEngine, method: string, target: string, token: string): Promise<number> {
  const { hostname, port } = new URL(e.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path: target, headers: { authorization: `Bearer ${token}`, connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

type Mutation = (path: string, origin: string) => string;

const flipCase: Mutation = (path) => path.replace(/[a-z]/, (c) => c.toUpperCase());
const upper: Mutation = (path) => path.toUpperCase();
const doubleSlash: Mutation = (path) => path.replace('/', '//');
const innerDoubleSlash: Mutation = (path) => path.replace(/\/(?=[^/]*$)/, '//');
const encodedSlash: Mutation = (path) => path.replace(/(?<=.)\//, '%2F');
const encodedSlashLower: Mutation = (path) => path.replace(/(?<=.)\//, '%2f');
const dotSegments: Mutation = (path) => path.replace(/^\/([^/]+)\//, '/$1/x/../');
const encodedDots: Mutation = (path) => path.replace(/^\/([^/]+)\//, '/$1/%2e%2e/$1/');
const matrix: Mutation = (path) => path.replace(/^(\/[^/]+)/, '$1;x=1');
const trailingSlash: Mutation = (path) => `${path}/`;
const encodedLetter: Mutation = (path) => path.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`);
const absoluteForm: Mutation = (path, origin) => `${origin}${path}`;
const MUTATIONS = [flipCase, upper, doubleSlash, innerDoubleSlash, encodedSlash, encodedSlashLower, dotSegments, encodedDots, matrix, trailingSlash, encodedLetter, absoluteForm];

describe('RBAC against rewritten paths', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  let e: TestEngine;
  let dlqId: string;
  before(async () => {
    idp = await TestIdp.start({ realm: REALM, clientId: CLIENT, clientSecret: 's3cret', users: {} });
    e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: 'http://127.0.0.1:9/x' }],
        extra: {
          'server.config': { auth: 'oidc' },
          'openid.config': { realm: REALM, 'auth-server-url': idp.authServerUrl, resource: CLIENT },
          'rbac.config': {
            apiMappings: [
              { url: '/api', roles: ['async-engine'] },
              { url: '/api/dlq', roles: ['ops'] },
            ],
            applicationMappings: [
              { url: '/actuator', roles: ['ops'] },
              { url: '/openapi.json', roles: ['ops'] },
            ],
          },
        },
      }),
    );
    // One DLQ entry, so that the entry's routes have something to answer 2xx about.
    const queue = e.runtime.flows.get('flow')?.steps[0]?.source.queue.name ?? '';
    await e.runtime.storage.clients.queues.getQueueClient(queue).sendMessage('not an envelope');
    const ops = await idp.sign({ realm_access: { roles: ['async-engine', 'ops'] } });
    dlqId = await eventually(
      async () => {
        const listed = (await (await fetch(`${e.url}/api/dlq`, { headers: { authorization: `Bearer ${ops}` } })).json()) as { items: Array<{ dlqId: string }> };
        assert.equal(listed.items.length, 1);
        return listed.items[0]?.dlqId ?? '';
      },
      { timeoutInMs: 30_000 },
    );
  });
  after(() => idp.close());

  const guarded = (): Array<[method: string, path: string]> => [
    ['GET', '/api/dlq'],
    ['GET', `/api/dlq/${dlqId}`],
    ['POST', `/api/dlq/${dlqId}/replay`],
    ['DELETE', `/api/dlq/${dlqId}`],
    ['POST', '/api/dlq/replay?flow=flow'],
    ['GET', '/actuator/info'],
    ['GET', '/actuator/health'],
    ['GET', '/actuator/prometheus'],
    ['GET', '/openapi.json'],
  ];

  it('the guarded handlers answer 2xx to a token with the role (the control)', async () => {
    const ops = await idp.sign({ realm_access: { roles: ['async-engine', 'ops'] } });
    for (const [method, path] of guarded().filter(([m]) => m === 'GET')) {
      const status = await send(e, method, path, ops);
      assert.ok(status >= 200 && status < 300, `${method} ${path} answered ${status}`);
    }
  });

  it('no rewriting of a guarded path reaches its handler without the role', async () => {
    const apiOnly = await idp.sign({ realm_access: { roles: ['async-engine'] } });
    const routes = guarded();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.array(fc.constantFrom(...MUTATIONS), { minLength: 0, maxLength: 3 }),
        async ([method, path], mutations) => {
          const [bare = '', query] = path.split('?');
          const rewritten = mutations.reduce((p, mutate) => mutate(p, e.url), bare) + (query ? `?${query}` : '');
          const status = await send(e, method, rewritten, apiOnly);
          assert.ok(status < 200 || status >= 300, `${method} ${rewritten} answered ${status} to a token without "ops"`);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
    const entry = await fetch(`${e.url}/api/dlq/${dlqId}`, { headers: { authorization: `Bearer ${await idp.sign({ realm_access: { roles: ['ops'] } })}` } });
    assert.equal(entry.status, 200, 'the entry is still there: no replay or delete got through');
  });
});
