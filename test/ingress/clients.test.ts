import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

const REQUEST_TIMEOUT_IN_MS = 600;
const HEADERS_TIMEOUT_IN_MS = 500;

/** A raw connection to the engine, for what fetch will not send: lies, stalls and half requests. */
async function rawConnection(e: TestEngine): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const { hostname, port } = new URL(e.url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => text, closed };
}

const submitHead = (e: TestEngine, headers: Record<string, string>): string =>
  [`POST /api/flows/flow HTTP/1.1`, `Host: ${new URL(e.url).host}`, 'Content-Type: application/json', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');

async function requestIds(e: TestEngine): Promise<string[]> {
  const listed = (await (await fetch(`${e.url}/api/requests?flow=flow`)).json()) as { items: Array<{ id: string }> };
  return listed.items.map((i) => i.id);
}

describe('slow and lying clients', () => {
  const suite = engineSuite();
  const engine = async (server: Record<string, unknown> = {}): Promise<TestEngine> => {
    const e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: 'http://127.0.0.1:9/x' }],
        extra: {
          'server.config': { maxBodyBytes: 1000, requestTimeoutMs: REQUEST_TIMEOUT_IN_MS, headersTimeoutMs: HEADERS_TIMEOUT_IN_MS, ...server },
          'threadpool.config': { poolSize: 1, maxPoolSize: 1, maxQueueSize: 0 },
        },
      }),
    );
    await e.runtime.engine.close(); // accepted requests stay queued, to be counted
    return e;
  };

  it('answers Expect: 100-continue with 413 before the upload when Content-Length is over maxBodyBytes', async () => {
    const e = await engine();
    const c = await rawConnection(e);
    c.socket.write(submitHead(e, { 'Content-Length': '5000', Expect: '100-continue' }));
    await eventually(() => assert.match(c.received(), /^HTTP\/1\.1 413 /), { timeoutInMs: 10_000 });
    assert.doesNotMatch(c.received(), /100 Continue/);
    assert.match(c.received(), /content-type: application\/problem\+json/i);
    await c.closed;
    assert.deepEqual(await requestIds(e), []);
  });

  it('answers Expect: 100-continue with 100 Continue when the body may come, then accepts it', async () => {
    const e = await engine();
    const c = await rawConnection(e);
    c.socket.write(submitHead(e, { 'Content-Length': '9', Expect: '100-continue', Connection: 'close' }));
    await eventually(() => assert.match(c.received(), /^HTTP\/1\.1 100 Continue\r\n\r\n/), { timeoutInMs: 10_000 });
    c.socket.write('{"n":100}');
    await c.closed;
    assert.match(c.received(), /HTTP\/1\.1 202 /);
    assert.equal((await requestIds(e)).length, 1);
  });

  it('answers a body that stalls mid-upload with 408 problem+json at requestTimeoutMs, stores nothing and frees its place', async () => {
    const e = await engine();
    const c = await rawConnection(e);
    c.socket.write(`${submitHead(e, { 'Content-Length': '100' })}{"stalled":`);
    await eventually(() => assert.equal(e.runtime.admission.running, 1, 'the upload holds the only place'), { timeoutInMs: 10_000 });
    await c.closed;
    assert.match(c.received(), /^HTTP\/1\.1 408 /);
    assert.match(c.received(), /content-type: application\/problem\+json/i);
    assert.match(c.received(), /"detail":"the body did not arrive within 600 ms \(server.config.requestTimeoutMs\)"/);
    assert.equal(e.runtime.admission.running, 0, 'the place is free again');
    const next = await fetch(`${e.url}/api/flows/flow`, { method: 'POST', body: '{"n":2}' });
    assert.equal(next.status, 202, 'the next client is accepted');
    assert.equal((await requestIds(e)).length, 1, 'only the complete request was stored');
  });

  it('stores nothing and frees the place when the client disconnects mid-body', async () => {
    const e = await engine();
    const c = await rawConnection(e);
    c.socket.write(`${submitHead(e, { 'Content-Length': '100' })}{"gone":`);
    await eventually(() => assert.equal(e.runtime.admission.running, 1), { timeoutInMs: 10_000 });
    c.socket.destroy();
    await eventually(() => assert.equal(e.runtime.admission.running, 0, 'the place is free again'), { timeoutInMs: 10_000 });
    assert.deepEqual(await requestIds(e), []);
    assert.equal(e.logged('ingress.request_failed').length, 0, 'a client going away is no engine failure');
  });

  it('logs a client that disconnects mid-body as ingress.client_closed at info, without its body, and stores nothing', async () => {
    const e = await engine();
    const c = await rawConnection(e);
    c.socket.write(`${submitHead(e, { 'Content-Length': '100' })}{"half-a-body":`);
    await eventually(() => assert.equal(e.runtime.admission.running, 1, 'the body is being read'), { timeoutInMs: 10_000 });
    c.socket.destroy();
    const [line, ...more] = await eventually(
      () => {
        const lines = e.logged('ingress.client_closed');
        assert.ok(lines.length > 0);
        return lines;
      },
      { timeoutInMs: 10_000 },
    );
    assert.equal(more.length, 0);
    assert.equal(line!['level'], 30, 'info');
    assert.equal(line!['method'], 'POST');
    assert.equal(line!['path'], '/api/flows/flow');
    assert.doesNotMatch(JSON.stringify(e.logs), /half-a-body/);
    assert.equal(e.logged('ingress.request_failed').length, 0, 'not blamed on storage or the engine');
    assert.deepEqual(await requestIds(e), []);
  });

  it('closes a connection whose headers never finish (slow loris)', async () => {
    const e = await engine();
    const c = await rawConnection(e);
    c.socket.write('POST /api/flows/flow HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const timer = setInterval(() => c.socket.write('a'), 100);
    try {
      await c.closed;
    } finally {
      clearInterval(timer);
    }
    assert.deepEqual(await requestIds(e), []);
  });

  it('refuses connections beyond maxConnections at once, and takes new ones when others close', async () => {
    const e = await engine({ maxConnections: 3 });
    const held = await Promise.all([rawConnection(e), rawConnection(e), rawConnection(e)]);
    for (const c of held) c.socket.write(`GET /api/flows HTTP/1.1\r\nHost: x\r\n\r\n`);
    for (const c of held) await eventually(() => assert.match(c.received(), /^HTTP\/1\.1 200 /), { timeoutInMs: 10_000 });
    const refused = await rawConnection(e);
    await refused.closed; // Node closes it without reading a byte
    assert.equal(refused.received(), '');
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await eventually(async () => assert.equal((await fetch(`${e.url}/api/flows`, { headers: { connection: 'close' } })).status, 200), { timeoutInMs: 10_000 });
    for (const c of held.slice(1)) c.socket.destroy();
  });

  it('answers what never reaches a route as problem+json too: malformed requests, huge headers, odd Expect, CONNECT, unknown methods', async () => {
    const e = await engine();
    const cases: Array<[name: string, bytes: string, status: number]> = [
      ['a malformed request line', 'GET /api/flows HTTP/1.1 extra\r\nHost: x\r\n\r\n', 400],
      ['a header block over 16 KiB', `GET /api/flows HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['a Content-Length that is no number', 'POST /api/flows/flow HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400],
      ['an Expect the ingress cannot meet', 'POST /api/flows/flow HTTP/1.1\r\nHost: x\r\nExpect: the-unexpected\r\nContent-Length: 2\r\n\r\n', 417],
      ['CONNECT, as to a proxy', 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', 501],
      ['PROPFIND on a route', 'PROPFIND /api/flows HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 405],
      ['PROPFIND where no route is', 'PROPFIND /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404],
    ];
    for (const [name, bytes, status] of cases) {
      const c = await rawConnection(e);
      c.socket.write(bytes);
      await c.closed;
      const answer = c.received();
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${answer.slice(0, 80)}`);
      assert.match(answer, /content-type: application\/problem\+json/i, name);
      // Koa's answers come chunked, the server's own in one piece: the problem's status either way.
      assert.match(answer, new RegExp(`"status":${status}[,}]`), name);
    }
    const propfind = await rawConnection(e);
    propfind.socket.write('PROPFIND /api/flows HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await propfind.closed;
    assert.match(propfind.received(), /\r\nallow: HEAD, GET\r\n/i);
    assert.deepEqual(await requestIds(e), [], 'none of them stored anything');
  });
});
