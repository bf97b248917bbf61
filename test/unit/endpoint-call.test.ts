import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOutboundHttp } from '../../src/http/agent.js';
import type { OutboundHttp } from '../../src/http/agent.js';
import { callEndpoint, parseRetryAfter } from '../../src/http/endpoint-call.js';
import type { EndpointRequest, StepOutcome } from '../../src/http/endpoint-call.js';
import type { HttpConnectionOptions } from '../../src/config/types.js';
import { streamBody } from '../support/endpoints.js';
import { eventually } from '../support/eventually.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  const cases: Array<[name: string, value: string | string[] | undefined, expected: number | null]> = [
    ['delay-seconds become milliseconds', '120', 120_000],
    ['zero seconds means at once', '0', 0],
    ['surrounding spaces are ignored', ' 5 ', 5_000],
    ['an HTTP date becomes the time until it', 'Wed, 01 May 2024 12:00:30 GMT', 30_000],
    ['an obsolete RFC 850 date is still read', 'Wednesday, 01-May-24 12:00:10 GMT', 10_000],
    ['an HTTP date in the past means at once', 'Wed, 01 May 2024 11:00:00 GMT', 0],
    ['the first of several values counts', ['7', '9'], 7_000],
    ['an absent header is null', undefined, null],
    ['an empty header is null', '', null],
    ['an empty list of values is null', [], null],
    ['words are null', 'soon', null],
    ['seconds with a unit are null', '5 seconds', null],
    ['fractional seconds are null', '1.5', null],
    ['negative seconds are null', '-5', null],
    ['a number after a word is null', 'in 3', null],
  ];
  for (const [name, value, expected] of cases) {
    it(`${name}: ${JSON.stringify(value)} -> ${expected}`, () => {
      assert.equal(parseRetryAfter(value, now), expected);
    });
  }
});

// --- callEndpoint against real node:http servers -------------------------------------------------

interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface TestServer {
  url: string;
  requests: RecordedRequest[];
  /** Highest number of TCP connections open at once. */
  maxConnections: number;
  close(): Promise<void>;
}

type Respond = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const servers: TestServer[] = [];
const outbounds: OutboundHttp[] = [];

afterEach(async () => {
  await Promise.all(outbounds.splice(0).map((http) => http.agent.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serve(respond: Respond): Promise<TestServer> {
  let open = 0;
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      respond(req, res, body);
    });
  });
  const testServer: TestServer = {
    url: '',
    requests,
    maxConnections: 0,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  server.on('connection', (socket) => {
    open++;
    testServer.maxConnections = Math.max(testServer.maxConnections, open);
    socket.on('close', () => open--);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  testServer.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/step`;
  servers.push(testServer);
  return testServer;
}

/** A server that reads each request and never answers it. */
const silent: Respond = () => undefined;

function outbound(overrides: Partial<HttpConnectionOptions> = {}, maxResponseBytes = 1024 * 1024): OutboundHttp {
  const http = createOutboundHttp({
    routeConnections: 2,
    totalConnections: 4,
    connectionTimeToLiveInMs: null,
    requestTimeoutInMs: -1,
    connectionTimeoutInMs: -1,
    socketTimeoutInMs: -1,
    callTimeoutInMs: 0,
    ...overrides,
  }, maxResponseBytes);
  outbounds.push(http);
  return http;
}

function request(url: string, overrides: Partial<EndpointRequest> = {}): EndpointRequest {
  return {
    url,
    body: Buffer.from('{"order":42}'),
    contentType: 'application/json',
    requestId: 'req-7f3a',
    flow: 'orders',
    step: 2,
    traceparent: null,
    authorization: null,
    callTimeoutInMs: 0,
    ...overrides,
  };
}

const never = (): AbortSignal => new AbortController().signal;

function assertKind<K extends StepOutcome['kind']>(outcome: StepOutcome, kind: K): asserts outcome is Extract<StepOutcome, { kind: K }> {
  assert.equal(outcome.kind, kind, `outcome ${JSON.stringify({ ...outcome, body: undefined })}`);
}

describe('callEndpoint', { timeout: 15_000 }, () => {
  it('returns ok with the answer body and content type for a 200', async () => {
    const answer = Buffer.from([0x00, 0xff, 0x10, 0x80]);
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.result+octet; v=2' }).end(answer);
    });
    const started = performance.now();
    const outcome = await callEndpoint(outbound(), request(server.url), never());
    const tookInMs = performance.now() - started;
    assertKind(outcome, 'ok');
    assert.equal(outcome.status, 200);
    assert.equal(outcome.contentType, 'application/vnd.result+octet; v=2');
    assert.ok(outcome.body.equals(answer));
    // Whole milliseconds of this call: no more than the time measured around it.
    assert.ok(Number.isInteger(outcome.durationInMs) && outcome.durationInMs <= Math.ceil(tookInMs), `durationInMs ${outcome.durationInMs}, the call took ${tookInMs} ms`);
  });

  it('treats any 2xx as ok and defaults the content type of an answer without one', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(204).end();
    });
    const outcome = await callEndpoint(outbound(), request(server.url), never());
    assertKind(outcome, 'ok');
    assert.equal(outcome.status, 204);
    assert.equal(outcome.contentType, 'application/octet-stream');
    assert.equal(outcome.body.length, 0);
  });

  it('POSTs the exact body with the flow headers and an idempotency key of request id and step', async () => {
    const server = await serve((_req, res) => res.end('{}'));
    const body = Buffer.concat([Buffer.from('grüße '), Buffer.from([0xff, 0xfe, 0x00])]);
    await callEndpoint(outbound(), request(server.url, { body, contentType: 'application/x-custom; charset=binary' }), never());
    const [received] = server.requests;
    assert.ok(received);
    assert.equal(received.method, 'POST');
    assert.equal(received.path, '/step');
    assert.ok(received.body.equals(body));
    assert.equal(received.headers['content-type'], 'application/x-custom; charset=binary');
    assert.equal(received.headers['x-request-id'], 'req-7f3a');
    assert.equal(received.headers['x-flow-name'], 'orders');
    assert.equal(received.headers['x-flow-step'], '2');
    assert.equal(received.headers['idempotency-key'], 'req-7f3a:2');
  });

  it('sends traceparent and authorization only when the request has them', async () => {
    const server = await serve((_req, res) => res.end('{}'));
    const http = outbound();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await callEndpoint(http, request(server.url, { traceparent, authorization: 'Bearer token-1' }), never());
    await callEndpoint(http, request(server.url), never());
    const [withBoth, withNeither] = server.requests;
    assert.equal(withBoth?.headers['traceparent'], traceparent);
    assert.equal(withBoth?.headers['authorization'], 'Bearer token-1');
    assert.ok(withNeither);
    assert.equal('traceparent' in withNeither.headers, false);
    assert.equal('authorization' in withNeither.headers, false);
  });

  it('returns http-error with the Retry-After delay and a short detail for a 503', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(503, { 'retry-after': '7', 'content-type': 'text/plain' }).end(`Service   busy\n\tplease wait ${'x'.repeat(20_000)}`);
    });
    const outcome = await callEndpoint(outbound(), request(server.url), never());
    assertKind(outcome, 'http-error');
    assert.equal(outcome.status, 503);
    assert.equal(outcome.retryAfterInMs, 7_000);
    assert.match(outcome.detail, /^HTTP 503: Service busy please wait x+$/);
    assert.ok(outcome.detail.length <= 'HTTP 503: '.length + 512, `detail of ${outcome.detail.length} characters`);
  });

  it('returns http-error without a delay and with the bare status for a 400 without body', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(400).end();
    });
    const outcome = await callEndpoint(outbound(), request(server.url), never());
    assertKind(outcome, 'http-error');
    assert.deepEqual([outcome.status, outcome.retryAfterInMs, outcome.detail], [400, null, 'HTTP 400']);
  });

  it('frees the connection after a long error answer so the next call on it succeeds', async () => {
    let calls = 0;
    const server = await serve((_req, res) => {
      if (++calls === 1) res.writeHead(500).end('e'.repeat(200_000));
      else res.end('fine');
    });
    const http = outbound({ routeConnections: 1, requestTimeoutInMs: 1_000 });
    assertKind(await callEndpoint(http, request(server.url), never()), 'http-error');
    const second = await callEndpoint(http, request(server.url), never());
    assertKind(second, 'ok');
    assert.equal(second.body.toString(), 'fine');
    assert.equal(http.limiter.inUse, 0);
  });

  it('returns transport-error ECONNREFUSED when nothing listens, and frees its permit', async () => {
    const dead = await serve(silent);
    await dead.close();
    servers.splice(servers.indexOf(dead), 1);
    // One permit and a short wait for it: if the first call kept its permit, the second would time out waiting.
    const http = outbound({ routeConnections: 1, requestTimeoutInMs: 100 });
    for (let call = 0; call < 2; call++) {
      const outcome = await callEndpoint(http, request(dead.url), never());
      assertKind(outcome, 'transport-error');
      assert.equal(outcome.code, 'ECONNREFUSED');
    }
    assert.equal(http.limiter.inUse, 0);
  });

  it('returns transport-error UND_ERR_HEADERS_TIMEOUT when the endpoint does not answer within socketTimeout', async () => {
    const server = await serve(silent);
    const started = performance.now();
    const outcome = await callEndpoint(outbound({ socketTimeoutInMs: 200 }), request(server.url), never());
    const tookInMs = performance.now() - started;
    assertKind(outcome, 'transport-error');
    assert.equal(outcome.code, 'UND_ERR_HEADERS_TIMEOUT');
    assert.ok(tookInMs >= 180 && tookInMs < 3_000, `took ${tookInMs} ms`);
  });

  it('returns transport-error AE_POOL_TIMEOUT when no connection frees up within requestTimeout', async () => {
    const server = await serve(silent);
    const http = outbound({ routeConnections: 1, requestTimeoutInMs: 100 });
    const hanging = new AbortController();
    const first = callEndpoint(http, request(server.url), hanging.signal).catch((err: unknown) => err);
    await eventually(() => assert.equal(server.requests.length, 1), { timeoutInMs: 2_000, intervalInMs: 5 });
    const started = performance.now();
    const second = await callEndpoint(http, request(server.url, { requestId: 'req-second' }), never());
    const tookInMs = performance.now() - started;
    assertKind(second, 'transport-error');
    assert.equal(second.code, 'AE_POOL_TIMEOUT');
    assert.ok(tookInMs >= 90 && tookInMs < 2_000, `took ${tookInMs} ms`);
    assert.equal(server.requests.length, 1, 'the second call reached the server');
    hanging.abort(new Error('test over'));
    await first;
  });

  it('rejects with the signal reason instead of returning an outcome when the call is aborted', async () => {
    const server = await serve(silent);
    const http = outbound();
    const controller = new AbortController();
    const reason = new Error('step given up');
    const call = callEndpoint(http, request(server.url), controller.signal);
    await eventually(() => assert.equal(server.requests.length, 1), { timeoutInMs: 2_000, intervalInMs: 5 });
    controller.abort(reason);
    await assert.rejects(call, (err: unknown) => err === reason);
    assert.equal(http.limiter.inUse, 0);
  });

  it('rejects with the signal reason when aborted while waiting for a connection', async () => {
    const server = await serve(silent);
    const http = outbound({ routeConnections: 1 });
    const hanging = new AbortController();
    const first = callEndpoint(http, request(server.url), hanging.signal).catch((err: unknown) => err);
    await eventually(() => assert.equal(server.requests.length, 1), { timeoutInMs: 2_000, intervalInMs: 5 });
    const waiting = new AbortController();
    const reason = new Error('shutting down');
    const second = callEndpoint(http, request(server.url), waiting.signal);
    waiting.abort(reason);
    await assert.rejects(second, (err: unknown) => err === reason);
    hanging.abort(new Error('test over'));
    await first;
  });

  it('opens no more connections to one origin than routeConnections', async () => {
    const server = await serve((_req, res) => {
      setTimeout(() => res.end('ok'), 30);
    });
    const http = outbound({ routeConnections: 2, totalConnections: 4 });
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => callEndpoint(http, request(server.url, { requestId: `r-${i}` }), never())));
    assert.deepEqual(
      outcomes.map((o) => o.kind),
      Array.from({ length: 8 }, () => 'ok'),
    );
    assert.equal(server.requests.length, 8);
    assert.equal(server.maxConnections, 2);
  });

  it('keeps the calls to all origins within totalConnections', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const respond: Respond = (_req, res) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      void sleep(30).then(() => {
        inFlight--;
        res.end('ok');
      });
    };
    const [one, two] = await Promise.all([serve(respond), serve(respond)]);
    const http = outbound({ routeConnections: 2, totalConnections: 3 });
    const calls = Array.from({ length: 12 }, (_, i) => callEndpoint(http, request((i % 2 === 0 ? one : two)!.url), never()));
    const outcomes = await Promise.all(calls);
    assert.ok(outcomes.every((o) => o.kind === 'ok'));
    assert.equal(maxInFlight, 3);
    assert.ok(one!.maxConnections <= 2 && two!.maxConnections <= 2);
  });
});

// --- bounds on what an endpoint can make the engine do ---------------------------------------------

/**
 * A 2xx answer of `totalBytes`, written in 64 KiB chunks as fast as the reader takes them (never
 * buffered whole); `sent` counts what was written and `closed` resolves when the connection ends.
 */
function streaming(totalBytes: number, declareLength: boolean): { respond: Respond; sent: () => number; closed: Promise<void> } {
  let sent = (): number => 0;
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const respond: Respond = (_req, res) => {
    res.on('close', onClosed);
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...(declareLength ? { 'content-length': String(totalBytes) } : {}) });
    sent = streamBody(res, totalBytes);
  };
  return { respond, sent: () => sent(), closed };
}

/** Headers at once, then one byte every `everyInMs`, for ever (until the connection closes). */
function dripping(everyInMs: number): { respond: Respond; closed: Promise<void> } {
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const respond: Respond = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('.'), everyInMs);
    res.on('close', () => {
      clearInterval(timer);
      onClosed();
    });
  };
  return { respond, closed };
}

describe('callEndpoint bounds', () => {
  it('gives up a streamed 2xx answer larger than maxResponseBytes, naming the limit, and drops its connection', async () => {
    const answer = streaming(256 * 1024 * 1024, false);
    const server = await serve(answer.respond);
    const outcome = await callEndpoint(outbound({}, 1024 * 1024), request(server.url), never());
    assertKind(outcome, 'transport-error');
    assert.equal(outcome.code, 'AE_RESPONSE_TOO_LARGE');
    assert.equal(outcome.detail, 'response larger than 1048576 bytes (payload.config.maxResponseBytes)');
    await answer.closed;
    assert.ok(answer.sent() < 64 * 1024 * 1024, `the endpoint could write only ${answer.sent()} bytes before the engine hung up`);
  });

  it('gives up at once an answer whose Content-Length is over the limit', async () => {
    const answer = streaming(8 * 1024 * 1024, true);
    const server = await serve(answer.respond);
    const outcome = await callEndpoint(outbound({}, 1000), request(server.url), never());
    assertKind(outcome, 'transport-error');
    assert.equal(outcome.code, 'AE_RESPONSE_TOO_LARGE');
    await answer.closed;
  });

  it('reads an answer of exactly maxResponseBytes, and one byte more fails', async () => {
    const exact = await serve((_req, res) => res.end(Buffer.alloc(1000, 'a')));
    const ok = await callEndpoint(outbound({}, 1000), request(exact.url), never());
    assertKind(ok, 'ok');
    assert.equal(ok.body.length, 1000);
    const over = await serve((_req, res) => res.end(Buffer.alloc(1001, 'a')));
    const failed = await callEndpoint(outbound({}, 1000), request(over.url), never());
    assertKind(failed, 'transport-error');
    assert.equal(failed.code, 'AE_RESPONSE_TOO_LARGE');
  });

  it('keeps error answers cut at 512 bytes whatever maxResponseBytes says', async () => {
    const server = await serve((_req, res) => res.writeHead(500).end(Buffer.alloc(10_000, 'e')));
    const outcome = await callEndpoint(outbound({}, 10), request(server.url), never());
    assertKind(outcome, 'http-error');
    assert.equal(outcome.detail.length, 'HTTP 500: '.length + 512);
  });

  it('aborts a call that drips one byte at a time past callTimeout, naming callTimeout, and closes its connection', async () => {
    const answer = dripping(50);
    const server = await serve(answer.respond);
    const http = outbound({ socketTimeoutInMs: 10_000 });
    const outcome = await callEndpoint(http, request(server.url, { callTimeoutInMs: 300 }), never());
    assertKind(outcome, 'transport-error');
    assert.equal(outcome.code, 'AE_CALL_TIMEOUT');
    assert.match(outcome.detail, /took longer than 300 ms \(callTimeout\)/);
    await answer.closed;
    assert.equal(http.limiter.inUse, 0, 'its connection permit is free again');
  });

  it('aborts a call that hangs after its headers past callTimeout', async () => {
    const server = await serve((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).flushHeaders());
    const outcome = await callEndpoint(outbound(), request(server.url, { callTimeoutInMs: 200 }), never());
    assertKind(outcome, 'transport-error');
    assert.equal(outcome.code, 'AE_CALL_TIMEOUT');
  });

  it('returns a transport error when the endpoint resets the connection mid-answer, and frees the permit', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.socket?.resetAndDestroy(), 20);
    });
    const http = outbound();
    const outcome = await callEndpoint(http, request(server.url), never());
    assertKind(outcome, 'transport-error');
    assert.match(outcome.code, /^(UND_ERR_SOCKET|ECONNRESET)$/);
    assert.equal(http.limiter.inUse, 0);
  });

  it('lets a slow call finish when callTimeout is 0', async () => {
    const server = await serve((_req, res) => setTimeout(() => res.end('late'), 300));
    const outcome = await callEndpoint(outbound(), request(server.url, { callTimeoutInMs: 0 }), never());
    assertKind(outcome, 'ok');
    assert.equal(outcome.body.toString(), 'late');
  });

  it('reports a given-up step as the abort, not as a call time-out, when both could apply', async () => {
    const server = await serve(silent);
    const controller = new AbortController();
    const call = callEndpoint(outbound(), request(server.url, { callTimeoutInMs: 60_000 }), controller.signal);
    await eventually(() => assert.equal(server.requests.length, 1), { timeoutInMs: 2_000, intervalInMs: 5 });
    controller.abort(new Error('shutting down'));
    await assert.rejects(call, /shutting down/);
  });
});
