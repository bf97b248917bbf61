import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startAzurite, type TestAzurite } from '../support/azurite.js';
import { EndpointServer, echo } from '../support/endpoints.js';
import { configOf, flowDocument, startEngine, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

/** Storage calls the request path made (pollers receive in the background all the while). */
function requestPathCalls(engine: TestEngine): number {
  const calls = engine.storageCalls.snapshot();
  return ['table.insert', 'table.read', 'table.update', 'queue.send', 'blob.write'].reduce((n, kind) => n + (calls[kind] ?? 0), 0);
}

async function problemOf(response: Response): Promise<Record<string, unknown>> {
  assert.equal(response.headers.get('content-type'), 'application/problem+json');
  const body = (await response.json()) as Record<string, unknown>;
  for (const key of ['type', 'title', 'status', 'detail']) assert.ok(key in body, `problem has ${key}`);
  assert.equal(body['status'], response.status);
  return body;
}

describe('ingress routes of the request path', () => {
  let azurite: TestAzurite;
  let endpoint: EndpointServer;
  let engine: TestEngine;
  before(async () => {
    azurite = await startAzurite();
    endpoint = await EndpointServer.start(echo);
    engine = await startEngine(configOf(flowDocument(azurite, { steps: [{ url: endpoint.url() }], extra: { 'server.config': { maxBodyBytes: 1000 } } })));
  });
  after(async () => {
    await engine.close();
    await endpoint.close();
    await azurite.close();
  });

  it('answers 404 problem+json for an unknown flow, and stores nothing', async () => {
    engine.storageCalls.reset();
    const response = await fetch(`${engine.url}/api/flows/nope`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 404);
    assert.match(String((await problemOf(response))['detail']), /no flow named "nope"/);
    assert.equal(requestPathCalls(engine), 0);
  });

  it('answers 404 for an unknown request id, and for an id the engine never hands out without asking storage', async () => {
    const unknown = await fetch(`${engine.url}/api/requests/00000000-0000-4000-8000-000000000000`);
    assert.equal(unknown.status, 404);
    await problemOf(unknown);
    engine.storageCalls.reset();
    for (const id of ["x'%20or%20'1'%20eq%20'1", 'not-a-uuid']) {
      const response = await fetch(`${engine.url}/api/requests/${id}/result`);
      assert.equal(response.status, 404);
      await problemOf(response);
    }
    assert.equal(requestPathCalls(engine), 0);
  });

  it('answers 405 problem+json with Allow for a method a route does not have, and 404 for an unknown route', async () => {
    const wrongMethod = await fetch(`${engine.url}/api/flows/flow`, { method: 'GET' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
    await problemOf(wrongMethod);
    const onDlqEntry = await fetch(`${engine.url}/api/dlq/some-flow~1700000000000-x`, { method: 'PUT' });
    assert.equal(onDlqEntry.status, 405);
    assert.equal(onDlqEntry.headers.get('allow'), 'HEAD, GET, DELETE');
    await problemOf(onDlqEntry);
    const unknownRoute = await fetch(`${engine.url}/nothing/here`);
    assert.equal(unknownRoute.status, 404);
    await problemOf(unknownRoute);
  });

  it('answers 413 for a declared Content-Length over maxBodyBytes without reading the body', async () => {
    // Declares 10 MB but sends only the headers: an engine that tried to read would wait forever.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${engine.url}/api/flows/flow`, { method: 'POST', headers: { 'content-length': String(10_000_000) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(status, 413);
  });

  it('answers 413 for a streamed body that grows past maxBodyBytes, and stores nothing', async () => {
    engine.storageCalls.reset();
    const response = await fetch(`${engine.url}/api/flows/flow`, {
      method: 'POST',
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(100));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(response.status, 413);
    assert.match(String((await problemOf(response))['detail']), /larger than 1000 bytes/);
    assert.equal(requestPathCalls(engine), 0);
  });

  it('accepts a body of exactly maxBodyBytes, of any content type', async () => {
    const response = await fetch(`${engine.url}/api/flows/flow`, { method: 'POST', body: 'x'.repeat(1000), headers: { 'content-type': 'application/vnd.custom+xml' } });
    assert.equal(response.status, 202);
    const { id } = (await response.json()) as { id: string };
    assert.equal(response.headers.get('x-request-id'), id);
    assert.equal(response.headers.get('location'), `/api/requests/${id}`);
  });

  it('reports health UP while storage answers, and 503 DOWN once it is gone', async () => {
    const own = await startAzurite();
    const e = await startEngine(configOf(flowDocument(own, { steps: [{ url: endpoint.url() }] })), { healthCacheInMs: 50 });
    try {
      const up = await fetch(`${e.url}/actuator/health`);
      assert.equal(up.status, 200);
      const health = (await up.json()) as { status: string; components: Record<string, { status: string; detail?: string }> };
      assert.equal(health.status, 'UP');
      const { sweeper, ...components } = health.components;
      assert.deepEqual(components, { storage: { status: 'UP' }, pollers: { status: 'UP' } });
      // Whether this replica won the sweeper's lease yet is a race of its own: either answer is UP.
      assert.equal(sweeper?.status, 'UP');
      assert.match(sweeper?.detail ?? '', /^(this replica is the sweeper|standing by)$/);
      await own.close();
      const down = await eventually(async () => {
        const answer = await fetch(`${e.url}/actuator/health`);
        assert.equal(answer.status, 503);
        return answer;
      }, { timeoutInMs: 10_000 });
      const body = (await down.json()) as { status: string; components: { storage: { status: string; detail: string } } };
      assert.equal(body.status, 'DOWN');
      assert.equal(body.components.storage.status, 'DOWN');
      assert.match(body.components.storage.detail, /unreachable/);
    } finally {
      await e.close();
      await own.close();
    }
  });
});
