/**
 * How the ingress serves the dashboard's files, over plain HTTP: the headers that keep the page to
 * itself (CSP, nosniff, no framing), caching, the favicon, 404s, and paths that try to reach a file
 * outside src/ui.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../support/cli.js';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';
import { TestIdp } from '../support/oidc.js';

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** GET `target` exactly as written: node:http does not normalise `..` or percent-escapes. */
function getRaw(e: TestEngine, target: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const { hostname, port } = new URL(e.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method: 'GET', path: target, headers: { connection: 'close', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const UI_SOURCES = path.join(REPO_ROOT, 'src', 'ui');

/** Every file of the package the dashboard must never serve: everything but src/ui's own files. */
const OUTSIDE_FILES = ['package.json', 'README.md', 'tsconfig.json', path.join('config', 'local.json'), path.join('src', 'runtime.ts')].map((file) => readFileSync(path.join(REPO_ROOT, file)));

function csp(answer: RawAnswer | Response): Map<string, string> {
  const header = answer instanceof Response ? answer.headers.get('content-security-policy') : answer.headers['content-security-policy'];
  assert.equal(typeof header, 'string', 'a Content-Security-Policy');
  return new Map(
    String(header)
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .map(([name = '', ...values]) => [name, values.join(' ')]),
  );
}

describe('the dashboard over HTTP (auth "none")', () => {
  const suite = engineSuite();
  let e: TestEngine;
  before(async () => {
    e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    await e.runtime.engine.close();
  });

  it('serves the page at /ui and /ui/ with a strict CSP, nosniff, no framing and revalidation', async () => {
    for (const target of ['/ui', '/ui/']) {
      const response = await fetch(`${e.url}${target}`);
      assert.equal(response.status, 200, target);
      assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(response.headers.get('x-frame-options'), 'DENY');
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(response.headers.get('cache-control'), 'no-cache');
      const policy = csp(response);
      assert.equal(policy.get('default-src'), "'self'");
      assert.equal(policy.get('connect-src'), "'self'");
      assert.equal(policy.get('frame-ancestors'), "'none'");
      assert.equal(policy.get('object-src'), "'none'");
      assert.equal(policy.has('script-src'), false, 'scripts fall back to default-src: no inline script');
      assert.doesNotMatch(String(response.headers.get('content-security-policy')), /unsafe/);
      assert.match(await response.text(), /<script type="module" src="\/ui\/app.js"><\/script>/);
    }
    const page = await fetch(`${e.url}/ui`);
    const etag = page.headers.get('etag');
    assert.ok(etag);
    // (fetch would add Cache-Control: no-cache to a conditional request, as a browser's reload does.)
    const again = await getRaw(e, '/ui', { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
  });

  it('serves every file the page names, and each file of src/ui, with its type', async () => {
    const html = readFileSync(path.join(UI_SOURCES, 'index.html'), 'utf8');
    const named = [...html.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(named.includes('/ui/favicon.svg'), 'a favicon, so that no 404 reaches the console');
    const files = readdirSync(UI_SOURCES).map((name) => `/ui/${name}`);
    const types: Record<string, RegExp> = { '.js': /^text\/javascript/, '.css': /^text\/css/, '.svg': /^image\/svg\+xml/, '.html': /^text\/html/ };
    for (const target of new Set([...named, ...files])) {
      const response = await fetch(`${e.url}${target}`);
      assert.equal(response.status, 200, target);
      assert.match(response.headers.get('content-type') ?? '', types[path.extname(target)]!, target);
      assert.ok(response.headers.get('content-security-policy'), `${target} carries the CSP`);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), readFileSync(path.join(UI_SOURCES, path.basename(target))), target);
    }
  });

  it('tells the page the engine needs no sign-in, never to be cached', async () => {
    const response = await fetch(`${e.url}/ui/config.json`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await response.json(), { auth: 'none' });
  });

  it('answers 404 problem+json for a file it does not have', async () => {
    for (const target of ['/ui/nope.js', '/ui/app.js.map', '/ui/index.htm', '/UI', '/ui/App.js']) {
      const response = await fetch(`${e.url}${target}`);
      assert.equal(response.status, 404, target);
      assert.equal(response.headers.get('content-type'), 'application/problem+json', target);
    }
  });

  it('serves no file outside src/ui, whatever the path says', async () => {
    const tricks = [
      '/ui/../api/requests',
      '/ui/../package.json',
      '/ui/%2e%2e/',
      '/ui/%2e%2e/package.json',
      '/ui/%2E%2E%2Fpackage.json',
      '/ui/..%2f..%2fpackage.json',
      '/ui/..%5c..%5cpackage.json',
      '/ui/%2e%2e%2f%2e%2e%2fREADME.md',
      '/ui/.%2e/.%2e/tsconfig.json',
      '/ui//etc/passwd',
      '/ui/%2fetc%2fpasswd',
      '/ui/app.js%00.html',
      '/ui/app.js/..',
      '/ui/./app.js/../../config/local.json',
      '/ui/%252e%252e%252fpackage.json',
      '/ui/..;/package.json',
      '/ui/config.json/../../src/runtime.ts',
    ];
    for (const target of tricks) {
      const answer = await getRaw(e, target);
      assert.ok(answer.status === 404 || answer.status === 400, `${target} answered ${answer.status}`);
      assert.equal(answer.headers['content-type'], 'application/problem+json', target);
      for (const outside of OUTSIDE_FILES) assert.ok(!answer.body.includes(outside.subarray(0, 64)), `${target} served a file outside src/ui`);
    }
  });
});

describe('the dashboard over HTTP (auth "oidc")', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  const openid = (): Record<string, unknown> => ({ realm: 'ui', 'auth-server-url': idp.authServerUrl, resource: 'async-engine' });
  before(async () => {
    idp = await TestIdp.start({ realm: 'ui', clientId: 'async-engine', clientSecret: 's3cret', users: {} });
  });
  after(() => idp.close());

  it('serves the page without a token, lets it connect to the provider, and names the provider and the public client', async () => {
    const e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: 'http://127.0.0.1:9/x' }],
        extra: { 'server.config': { auth: 'oidc' }, 'openid.config': openid(), 'ui.config': { clientId: 'async-engine-ui' } },
      }),
    );
    await e.runtime.engine.close();
    assert.equal((await fetch(`${e.url}/api/flows`)).status, 401, 'the data needs a token');
    const page = await fetch(`${e.url}/ui`);
    assert.equal(page.status, 200);
    assert.equal(csp(page).get('connect-src'), `'self' ${new URL(idp.authServerUrl).origin}`);
    assert.equal((await fetch(`${e.url}/ui/app.js`)).status, 200);
    assert.deepEqual(await (await fetch(`${e.url}/ui/config.json`)).json(), { auth: 'oidc', issuer: idp.issuer, clientId: 'async-engine-ui' });
  });

  it('is refused over plain HTTP where ssl-required refuses the API: a page that signs in must come over https', async () => {
    const e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: 'http://127.0.0.1:9/x' }],
        extra: { 'server.config': { auth: 'oidc', trustProxy: true }, 'openid.config': openid(), 'ui.config': { clientId: 'async-engine-ui' } },
      }),
    );
    await e.runtime.engine.close();
    const fromAfar = { 'x-forwarded-for': '203.0.113.7' };
    for (const target of ['/ui', '/ui/app.js', '/ui/config.json']) {
      const refused = await fetch(`${e.url}${target}`, { headers: fromAfar });
      assert.equal(refused.status, 403, target);
      assert.equal(((await refused.json()) as { type: string }).type, 'urn:async-engine:problem:https-required');
    }
    assert.equal((await fetch(`${e.url}/ui`, { headers: { ...fromAfar, 'x-forwarded-proto': 'https' } })).status, 200, 'https at the proxy');
    assert.equal((await fetch(`${e.url}/ui`, { headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 200, 'a private client under "external"');
  });

  it('says when no client is configured, and is not served by a worker or on the management port', async () => {
    const document = flowDocument(suite.azurite, {
      steps: [{ url: 'http://127.0.0.1:9/x' }],
      extra: { 'server.config': { auth: 'oidc', managementPort: 0 }, 'openid.config': openid() },
    });
    const e = await suite.engine(document);
    await e.runtime.engine.close();
    assert.deepEqual(await (await fetch(`${e.url}/ui/config.json`)).json(), { auth: 'oidc', issuer: idp.issuer, clientId: null });
    assert.equal((await fetch(`${e.managementUrl}/ui`)).status, 404);
    const worker = await suite.engine({ ...document, 'server.config': { ...(document['server.config'] as object), managementPort: null } }, {}, 'worker');
    await worker.runtime.engine.close();
    const answer = await fetch(`${worker.url}/ui`);
    assert.equal(answer.status, 404);
    assert.equal(answer.headers.get('content-type'), 'application/problem+json');
  });
});
