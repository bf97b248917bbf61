/**
 * Property-based fuzzing of the HTTP ingress: random methods, targets, headers, query strings,
 * bodies and framings thrown at a running engine (auth "none", and auth "oidc" with a real OpenID
 * provider), over a raw socket so that nothing is tidied up on the way. The engine does not process
 * (its pollers are closed at once), so every accepted request stays queued and can be counted.
 *
 * Properties, per request: every answer is a documented 2xx or a problem+json 4xx whose `status` is
 * the HTTP status, never a 5xx (storage is up), and the engine keeps answering; overall: every
 * status row, idempotency key, payload blob and queue message belongs to a submission answered 202,
 * and the flow's queue holds exactly one message per accepted request.
 *
 * Replay a failure with the seed fast-check prints: FUZZ_SEED=<seed> (FUZZ_RUNS to run longer).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { UnsecuredJWT } from 'jose';
import { decodeEnvelope } from '../../src/storage/envelope.js';
import { SWEEPER_LOCK_BLOB } from '../../src/storage/lock-blob.js';
import { uniqueQueueName } from '../support/azurite.js';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { TestIdp } from '../support/oidc.js';
import { exchange, headerOf, type RawResponse } from './raw-http.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261201);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 200);
const MAX_BODY_BYTES = 40_000;
/** Small, so that some accepted bodies go to payload blobs. */
const INLINE_LIMIT_BYTES = 4096;
const ALLOWED_CALLBACK_HOSTS = ['callbacks.example', 'hooks.example:8443'];
const REALM = 'fuzz';
const CLIENT = 'async-engine';
/** Node's default --max-http-header-size; a larger head is refused with a bare 431. */
const MAX_HEADER_BYTES = 16 * 1024;
/** The methods the routers implement by name; every other method Node parses gets 405 or 404. */
const ROUTER_METHODS = new Set(['HEAD', 'OPTIONS', 'GET', 'PUT', 'PATCH', 'POST', 'DELETE']);
/** Methods llhttp knows: others, lowercase ones included, are refused by the parser. */
const PARSER_METHODS = new Set([
  ...ROUTER_METHODS,
  'CONNECT',
  'TRACE',
  'COPY',
  'LOCK',
  'MKCOL',
  'MOVE',
  'PROPFIND',
  'PROPPATCH',
  'SEARCH',
  'UNLOCK',
  'REPORT',
  'M-SEARCH',
  'PURGE',
  'LINK',
  'UNLINK',
  'QUERY',
]);

// ---------------------------------------------------------------------------------------------
// Requests

type Framing =
  /** A correct Content-Length (none for an empty body on a method without one, sometimes). */
  | { kind: 'length'; omitWhenEmpty: boolean }
  /** Transfer-Encoding: chunked, split at the given sizes. */
  | { kind: 'chunked'; sizes: number[] }
  /** A Content-Length over maxBodyBytes, with fewer bytes sent: the engine must answer before reading. */
  | { kind: 'over-limit'; extra: number }
  /** Content-Length shorter than what is sent; the rest is a second, pipelined request. */
  | { kind: 'pipelined' }
  /** A Content-Length the parser refuses. */
  | { kind: 'bad-length'; value: string[]; alsoChunked: boolean };

interface FuzzRequest {
  method: string;
  credential: Credential;
  target: TargetPart[];
  headers: Array<[string, string]>;
  body: Buffer;
  framing: Framing;
  hasHost: boolean;
}

/** A target is built at run time: a part may name a request id accepted earlier in the run. */
type TargetPart = string | { acceptedId: number };

/** An Authorization header, and the roles it carries when it is a valid token (null: not valid). */
interface Credential {
  header: string | null;
  roles: readonly string[] | null;
}

/** The second request of a pipelined pair. */
const PIPELINED_TARGET = '/actuator/info';

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');
/** Whether a header value holds a control character other than HTAB, which the parser refuses. */
const hasControlCharacter = (value: string): boolean => [...value].some((c) => (c < ' ' && c !== '\t') || c === '\x7f');

const printable = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });
/** Any byte but CR and LF, as a latin1 string. */
const headerBytes = (maxLength: number): fc.Arbitrary<string> =>
  fc.uint8Array({ maxLength }).map((bytes) => latin1(bytes.filter((b) => b !== 0x0d && b !== 0x0a)));
const percentEncoded = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).map(encodeURIComponent);
const base64url = (maxLength: number): fc.Arbitrary<string> => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b).toString('base64url'));

/** One path segment in the odd forms clients and scanners send. */
const oddSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('%2F', '%2f', '%2e%2e', '..', '.', '', ';', 'a;b=c', '%', '%zz', '%E0%A4%A', '%00', '%C0%AF', '~', '*', '+', '%20', 'flow%00', '%66low', 'FLOW'),
  percentEncoded,
  fc.string({ unit: fc.constantFrom(...'abcXYZ019-_.~!$&\'()*+,;=:@%'.split('')), maxLength: 20 }),
  // Raw UTF-8 in the request line: the parser refuses it.
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')),
  fc.integer({ min: 200, max: 18_000 }).map((n) => 'a'.repeat(n)),
);

const flowSegment = fc.oneof({ arbitrary: fc.constant('flow'), weight: 6 }, { arbitrary: fc.constantFrom('nope', 'Flow', 'flow.', 'flow~x'), weight: 1 }, { arbitrary: oddSegment, weight: 1 });
const idSegment: fc.Arbitrary<TargetPart> = fc.oneof(
  { arbitrary: fc.nat().map((n) => ({ acceptedId: n })), weight: 3 },
  { arbitrary: fc.uuid(), weight: 2 },
  { arbitrary: fc.uuid().map((u) => u.toUpperCase()), weight: 1 },
  { arbitrary: oddSegment, weight: 2 },
);
const dlqIdSegment = fc.oneof(
  fc.constantFrom('flow~0000000000001-abc', 'flow~9999999999999-00000000-0000-0000-0000-000000000000', 'nope~0000000000001-x', 'replay', 'flow~'),
  oddSegment,
);

/** Routes with their parameters, and (last) random segments. */
const pathParts: fc.Arbitrary<TargetPart[]> = fc.oneof(
  { arbitrary: flowSegment.map((f): TargetPart[] => ['api', 'flows', f]), weight: 8 },
  { arbitrary: fc.constant<TargetPart[]>(['api', 'flows']), weight: 1 },
  { arbitrary: fc.constant<TargetPart[]>(['api', 'requests']), weight: 2 },
  { arbitrary: idSegment.map((id): TargetPart[] => ['api', 'requests', id]), weight: 2 },
  { arbitrary: idSegment.map((id): TargetPart[] => ['api', 'requests', id, 'result']), weight: 2 },
  { arbitrary: fc.constant<TargetPart[]>(['api', 'dlq']), weight: 1 },
  { arbitrary: dlqIdSegment.map((id): TargetPart[] => ['api', 'dlq', id]), weight: 1 },
  { arbitrary: dlqIdSegment.map((id): TargetPart[] => ['api', 'dlq', id, 'replay']), weight: 1 },
  { arbitrary: fc.constant<TargetPart[]>(['api', 'dlq', 'replay']), weight: 1 },
  { arbitrary: fc.constantFrom('health', 'prometheus', 'info', 'env', 'health/liveness').map((a): TargetPart[] => ['actuator', a]), weight: 1 },
  { arbitrary: fc.constant<TargetPart[]>(['openapi.json']), weight: 1 },
  { arbitrary: fc.array(oddSegment, { maxLength: 4 }), weight: 1 },
);

const queryValue = fc.oneof(
  fc.constantFrom('0', '1', '2', '50', '1000', '1001', '-1', '1.5', '1e3', '0x10', ' 5', 'NaN', 'Infinity', '', '%zz', '%00', '&', '=', 'flow', 'nope'),
  fc.constantFrom('queued', 'processing', 'retrying', 'completed', 'dead-lettered', 'QUEUED', "queued' or '1' eq '1"),
  percentEncoded,
  base64url(60),
  // Cursors of the right shape, naming keys that never came from the engine.
  fc.record({ nextPartitionKey: fc.string({ unit: 'binary', maxLength: 40 }), nextRowKey: fc.option(fc.string({ unit: 'binary', maxLength: 40 }), { nil: undefined }) }).map((token) =>
    Buffer.from(Buffer.from(JSON.stringify(token), 'latin1').toString('base64'), 'utf8').toString('base64url'),
  ),
  printable(30).map(encodeURIComponent),
);
const query: fc.Arbitrary<string> = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom('limit', 'cursor', 'status', 'flow'), fc.constantFrom('', 'x', 'limit[]', '%zz')), queryValue), { maxLength: 4 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));

/** The parts joined with `/` or `//`, a trailing slash sometimes, a query string sometimes. */
const target: fc.Arbitrary<TargetPart[]> = fc
  .record({
    parts: pathParts,
    separators: fc.array(fc.oneof({ arbitrary: fc.constant('/'), weight: 12 }, { arbitrary: fc.constant('//'), weight: 1 }), { minLength: 6, maxLength: 6 }),
    trailing: fc.oneof({ arbitrary: fc.constant(''), weight: 5 }, { arbitrary: fc.constant('/'), weight: 1 }),
    origin: fc.oneof({ arbitrary: fc.constant(''), weight: 20 }, { arbitrary: fc.constantFrom('http://localhost', 'http://evil.example'), weight: 1 }),
    query: fc.option(query, { freq: 2, nil: '' }),
    upperCase: fc.oneof({ arbitrary: fc.constant(false), weight: 10 }, { arbitrary: fc.constant(true), weight: 1 }),
  })
  .map(({ parts, separators, trailing, origin, query: q, upperCase }) => {
    const out: TargetPart[] = [origin];
    parts.forEach((part, i) => {
      out.push(separators[i] ?? '/', upperCase && typeof part === 'string' ? part.toUpperCase() : part);
    });
    out.push(trailing, q);
    return out;
  });

const method = fc.oneof(
  { arbitrary: fc.constant('POST'), weight: 8 },
  { arbitrary: fc.constant('GET'), weight: 5 },
  { arbitrary: fc.constantFrom('DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'), weight: 2 },
  { arbitrary: fc.constantFrom('PROPFIND', 'TRACE', 'MKCOL', 'SEARCH', 'PURGE', 'M-SEARCH', 'QUERY', 'CONNECT'), weight: 1 },
  { arbitrary: fc.constantFrom('get', 'post', 'Post', 'delete', 'FOO', 'BREW', 'GETS', 'X', 'G3T'), weight: 1 },
);

const idempotencyKey = fc.oneof(
  { arbitrary: fc.constantFrom('key-1', 'key-2', 'key-3', 'order 42', '~!@#$%^&*()'), weight: 4 },
  { arbitrary: printable(300), weight: 2 },
  { arbitrary: headerBytes(300), weight: 2 },
  { arbitrary: fc.constantFrom('', ' ', '\t', ' key-1', 'key-1 ', 'ü'), weight: 1 },
  { arbitrary: fc.integer({ min: 255, max: 258 }).map((n) => 'k'.repeat(n)), weight: 1 },
  { arbitrary: fc.constant('k'.repeat(17_000)), weight: 1 },
);

const callbackUrl = fc.oneof(
  { arbitrary: fc.constantFrom('http://callbacks.example/cb', 'https://callbacks.example:9999/x?y=1', 'https://hooks.example:8443/done', 'HTTP://CALLBACKS.EXAMPLE/up'), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      'ftp://callbacks.example/x',
      'javascript:alert(1)',
      'file:///etc/passwd',
      'data:text/plain,hi',
      'gopher://callbacks.example/',
      'http://127.0.0.1/',
      'http://localhost:8080/api/dlq/replay',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/',
      'http://0x7f000001/',
      'http://hooks.example:9999/',
      'http://hooks.example/',
      'http://callbacks.example@evil.example/',
      'http://evil.example#@callbacks.example',
      'http://callbacks.example.evil.example/',
      'http://callbacks.example%2eevil.example/',
      '//callbacks.example/x',
      'callbacks.example',
      'http://',
      'http://callbacks.example:99999/',
    ),
    weight: 3,
  },
  { arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true }), weight: 1 },
  { arbitrary: headerBytes(80), weight: 1 },
);

const traceparent = fc.oneof(
  fc.constantFrom('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'ff-00000000000000000000000000000000-0000000000000000-00', '00--', ''),
  printable(80),
  headerBytes(80),
);

const contentType = fc.oneof(
  fc.constantFrom('application/json', 'text/plain; charset=utf-16', 'multipart/form-data; boundary=', 'application/octet-stream', ';;;', 'a/b; c="d', '*/*', 'application/problem+json'),
  printable(60),
  headerBytes(60),
);

const otherHeader: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.constantFrom<[string, string]>(
    ['Accept', 'application/xml'],
    ['Accept-Encoding', 'gzip, br'],
    ['X-Forwarded-For', '203.0.113.7, garbage'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Request-Id', '../../etc'],
    ['Prefer', 'wait=99999'],
    ['Expect', '100-continue'],
    ['Expect', 'the-unexpected'],
    ['Cookie', 'a=b'],
  ),
  fc.tuple(fc.stringMatching(/^X-[A-Za-z0-9-]{1,20}$/), headerBytes(40)),
);

const body = fc.oneof(
  { arbitrary: fc.constant(Buffer.alloc(0)), weight: 3 },
  { arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), weight: 3 },
  { arbitrary: fc.json().map((j) => Buffer.from(j, 'utf8')), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }).map((s) => Buffer.from(s, 'utf8')), weight: 1 },
  {
    arbitrary: fc
      .oneof(fc.constantFrom(MAX_BODY_BYTES - 1, MAX_BODY_BYTES, MAX_BODY_BYTES + 1, INLINE_LIMIT_BYTES, INLINE_LIMIT_BYTES + 1), fc.integer({ min: INLINE_LIMIT_BYTES, max: MAX_BODY_BYTES + 1 }))
      .chain((size) => fc.integer({ min: 0, max: 255 }).map((fill) => Buffer.alloc(size, fill))),
    weight: 1,
  },
);

const framing = (bodyLength: number): fc.Arbitrary<Framing> =>
  fc.oneof(
    { arbitrary: fc.boolean().map((omitWhenEmpty) => ({ kind: 'length' as const, omitWhenEmpty })), weight: 8 },
    { arbitrary: fc.array(fc.integer({ min: 1, max: Math.max(1, bodyLength) }), { minLength: 1, maxLength: 5 }).map((sizes) => ({ kind: 'chunked' as const, sizes })), weight: 2 },
    { arbitrary: fc.integer({ min: 1, max: 10_000_000 }).map((extra) => ({ kind: 'over-limit' as const, extra })), weight: 1 },
    { arbitrary: fc.constant<Framing>({ kind: 'pipelined' }), weight: 1 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom(['abc'], ['-1'], ['1.5'], ['1 2'], ['0x10'], ['+5'], [`${bodyLength}`, `${bodyLength + 1}`]), fc.boolean())
        .map(([value, alsoChunked]): Framing => ({ kind: 'bad-length', value: [...value], alsoChunked })),
      weight: 1,
    },
  );

/** Submissions to the flow with headers that pass the parser: the part of the space where requests get stored. */
const submission = {
  method: fc.constant('POST'),
  target: fc.option(query, { freq: 4, nil: '' }).map((q): TargetPart[] => ['/api/flows/flow', q]),
  idempotencyKey: fc.option(fc.oneof(fc.constantFrom('key-1', 'key-2', 'key-3', 'order 42'), printable(260)), { freq: 2 }),
  callbackUrl: fc.option(fc.oneof(callbackUrl.filter((url) => !hasControlCharacter(url)), fc.constant('http://callbacks.example/cb')), { freq: 3 }),
  traceparent: fc.option(printable(60), { freq: 3 }),
  contentType: fc.option(printable(60), { freq: 3 }),
  others: fc.constant<Array<[string, string]>>([]),
  body,
  hasHost: fc.constant(true),
};

/** Anything: odd methods, targets, headers and framings. */
const anything = {
  method,
  target,
  idempotencyKey: fc.option(idempotencyKey, { freq: 2 }),
  callbackUrl: fc.option(callbackUrl, { freq: 3 }),
  traceparent: fc.option(traceparent, { freq: 4 }),
  contentType: fc.option(contentType, { freq: 2 }),
  others: fc.array(otherHeader, { maxLength: 2 }),
  body,
  hasHost: fc.oneof({ arbitrary: fc.constant(true), weight: 30 }, { arbitrary: fc.constant(false), weight: 1 }),
};

function fuzzRequest(credential: fc.Arbitrary<Credential>): fc.Arbitrary<FuzzRequest> {
  return fc
    .oneof({ arbitrary: fc.record({ ...submission, credential }), weight: 2 }, { arbitrary: fc.record({ ...anything, credential }), weight: 3 })
    .chain((r) =>
      framing(r.body.length).map((f): FuzzRequest => {
        const headers: Array<[string, string]> = [];
        if (r.credential.header !== null) headers.push(['Authorization', r.credential.header]);
        if (r.idempotencyKey !== null) headers.push(['Idempotency-Key', r.idempotencyKey]);
        if (r.callbackUrl !== null) headers.push(['X-Callback-Url', r.callbackUrl]);
        if (r.traceparent !== null) headers.push(['traceparent', r.traceparent]);
        if (r.contentType !== null) headers.push(['Content-Type', r.contentType]);
        headers.push(...r.others);
        return { method: r.method, credential: r.credential, target: r.target, headers, body: r.body, framing: f, hasHost: r.hasHost };
      }),
    );
}

/** The bytes of a request; `accepted` resolves the ids a target names. */
function serialise(req: FuzzRequest, accepted: readonly string[]): { bytes: Buffer; methods: string[]; target: string } {
  const authorization = req.credential.header;
  const targetText = req.target.map((part) => (typeof part === 'string' ? part : (accepted[part.acceptedId % accepted.length] ?? randomUUID()))).join('');
  const head: string[] = [`${req.method} ${targetText || '/'} HTTP/1.1`];
  if (req.hasHost) head.push('Host: localhost');
  for (const [name, value] of req.headers) head.push(`${name}: ${value}`);
  let payload = req.body;
  const methods = [req.method];
  const { framing: f } = req;
  switch (f.kind) {
    case 'length':
      if (!(f.omitWhenEmpty && payload.length === 0)) head.push(`Content-Length: ${payload.length}`);
      head.push('Connection: close');
      break;
    case 'chunked': {
      head.push('Transfer-Encoding: chunked', 'Connection: close');
      const chunks: Buffer[] = [];
      let offset = 0;
      for (const size of [...f.sizes, payload.length]) {
        const chunk = payload.subarray(offset, offset + size);
        if (chunk.length === 0) break;
        chunks.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
        offset += chunk.length;
      }
      chunks.push(Buffer.from('0\r\n\r\n'));
      payload = Buffer.concat(chunks);
      break;
    }
    case 'over-limit':
      head.push(`Content-Length: ${MAX_BODY_BYTES + f.extra}`, 'Connection: close');
      payload = payload.subarray(0, Math.min(payload.length, 100));
      break;
    case 'pipelined': {
      // No Connection: close on the first: the second request follows in the same bytes.
      head.push(`Content-Length: ${payload.length}`);
      const second = [`GET ${PIPELINED_TARGET} HTTP/1.1`, 'Host: localhost', ...(authorization ? [`Authorization: ${authorization}`] : []), 'Connection: close', '', ''].join('\r\n');
      payload = Buffer.concat([payload, Buffer.from(second, 'latin1')]);
      methods.push('GET');
      break;
    }
    case 'bad-length':
      for (const value of f.value) head.push(`Content-Length: ${value}`);
      if (f.alsoChunked) head.push('Transfer-Encoding: chunked');
      head.push('Connection: close');
      break;
    default:
      throw new Error(`unhandled framing ${(f satisfies never as { kind: string }).kind}`);
  }
  const headBytes = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
  return { bytes: Buffer.concat([headBytes, payload]), methods, target: targetText };
}

/**
 * Why Node's HTTP parser may refuse the request before the engine sees it (a bare 400, 417 or 431
 * without a body: no route runs, so there is nothing to store); null when it must reach the engine.
 * The server answers these itself (no route runs), as problem+json.
 */
function parserRefusal(req: FuzzRequest, bytes: Buffer, target: string): string | null {
  if (!PARSER_METHODS.has(req.method)) return 'a method llhttp does not know';
  if (/[^\x21-\x7e]/.test(target)) return 'a byte outside visible ASCII in the target';
  if (!/^(\/|[a-z]+:\/\/)/i.test(target)) return 'a target that is neither a path nor an absolute URL';
  if (!req.hasHost) return 'no Host header';
  if (req.framing.kind === 'bad-length') return 'a malformed Content-Length';
  if (req.headers.some(([, value]) => hasControlCharacter(value))) return 'a control character in a header value';
  if (req.headers.some(([name, value]) => name === 'Expect' && value !== '100-continue')) return 'an Expect the server cannot meet (417)';
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd > MAX_HEADER_BYTES - 512) return 'a head near or over the header size limit (431)';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Answers

interface RunState {
  /** Ids answered 202 as new submissions, in order. */
  accepted: string[];
  acceptedSet: Set<string>;
  /** Ids answered 202 with Idempotent-Replayed: true. */
  replayed: Set<string>;
  /** Answers by status, for the log. */
  statuses: Map<number, number>;
}

function json(response: RawResponse): Record<string, unknown> {
  const text = response.body.toString('utf8');
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    assert.fail(`a body that is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
  }
}

function assertProblem(response: RawResponse, method: string): void {
  assert.equal(headerOf(response, 'content-type'), 'application/problem+json', `a ${response.status} answer is problem+json`);
  if (method === 'HEAD') return;
  const problem = json(response);
  for (const key of ['type', 'title', 'detail']) assert.equal(typeof problem[key], 'string', `problem.${key} is a string: ${JSON.stringify(problem)}`);
  assert.equal(problem['status'], response.status, 'problem.status is the HTTP status');
  if (response.status === 405) assert.ok(headerOf(response, 'allow'), '405 names the allowed methods');
  if (response.status === 401) assert.match(headerOf(response, 'www-authenticate') ?? '', /^Bearer realm=/, '401 carries WWW-Authenticate: Bearer');
  if (response.status === 429) assert.ok(headerOf(response, 'retry-after'), '429 carries Retry-After');
}

/** The path of a request target, as Koa's ctx.path has it. */
const pathOf = (target: string): string => target.replace(/^[a-z]+:\/\/[^/]*/i, '').split('?')[0] ?? '';

/** The role rbac.config (as the oidc engine below has it) asks of a path. */
function roleNeeded(path: string): string | null {
  if (path === '/api' || path.startsWith('/api/')) return 'async-engine';
  if (path === '/actuator' || path.startsWith('/actuator/')) return 'ops';
  return null;
}

/** Under oidc, whose request an answer is: a 2xx needs a valid token with the role its path needs. */
interface Access {
  credential: Credential;
  target: string;
}

/** Checks one answer of the engine (not of the parser) and records what it accepted. */
function checkAnswer(response: RawResponse, method: string, access: Access | null, state: RunState): void {
  const { status } = response;
  state.statuses.set(status, (state.statuses.get(status) ?? 0) + 1);
  if (access !== null && status < 300) {
    const { roles } = access.credential;
    assert.ok(roles !== null, `a ${status} answer to ${method} ${access.target} without a valid token`);
    const needed = roleNeeded(pathOf(access.target));
    assert.ok(needed === null || roles.includes(needed), `a ${status} answer to ${method} ${access.target} for a token without the role ${needed}`);
  }
  if (status >= 500) {
    // GET /actuator/health while the engine's pollers are closed (as here): the documented 503 DOWN.
    if (status === 503 && headerOf(response, 'content-type')?.startsWith('application/json')) {
      if (method === 'HEAD') return;
      const health = json(response) as { status?: unknown; components?: Record<string, { status?: unknown }> };
      assert.equal(health.status, 'DOWN');
      assert.equal(health.components?.['storage']?.status, 'UP', 'storage is up: the only 503 is the pollers being closed');
      assert.equal(health.components?.['pollers']?.status, 'DOWN');
      return;
    }
    assert.fail(`a ${status} answer to ${method}: ${response.body.toString('utf8').slice(0, 300)}`);
  }
  if (status >= 400) {
    assertProblem(response, method);
    return;
  }
  switch (status) {
    case 200:
      if (method === 'OPTIONS') {
        assert.ok(headerOf(response, 'allow'), 'OPTIONS names the allowed methods');
        return;
      }
      assert.ok(method === 'GET' || method === 'HEAD', `200 answers a GET or HEAD, not ${method}`);
      if (method === 'GET' && headerOf(response, 'content-type')?.startsWith('application/json')) json(response);
      return;
    case 202: {
      if (method === 'HEAD') return;
      const body = json(response);
      if (method === 'POST' && 'replayed' in body) return; // POST /api/dlq/replay?flow=
      const id = body['id'];
      assert.equal(typeof id, 'string', `a 202 names its request: ${JSON.stringify(body)}`);
      if (method === 'GET') {
        // The result of a request still in progress.
        assert.ok(state.acceptedSet.has(id as string), 'a result in progress is one of an accepted request');
        assert.equal(headerOf(response, 'location'), `/api/requests/${id}/result`);
        assert.ok(headerOf(response, 'retry-after'));
        return;
      }
      assert.equal(method, 'POST', `202 answers a POST, not ${method}`);
      assert.equal(body['flow'], 'flow');
      assert.equal(headerOf(response, 'location'), `/api/requests/${id}`);
      assert.equal(headerOf(response, 'x-request-id'), id);
      if (headerOf(response, 'idempotent-replayed') === 'true') {
        assert.ok(state.acceptedSet.has(id as string), `an idempotent replay names a request accepted before: ${id}`);
        state.replayed.add(id as string);
      } else {
        assert.equal(body['status'], 'queued');
        assert.ok(!state.acceptedSet.has(id as string), `a new submission has a new id: ${id}`);
        state.accepted.push(id as string);
        state.acceptedSet.add(id as string);
      }
      return;
    }
    case 204:
      assert.equal(method, 'DELETE', `204 answers a DELETE, not ${method}`);
      return;
    default:
      assert.fail(`an undocumented ${status} answer to ${method}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Storage

/** Every status row and idempotency key in the status table. */
async function statusTableContents(e: TestEngine): Promise<{ rows: Set<string>; keys: Array<{ requestId: string }> }> {
  const rows = new Set<string>();
  const keys: Array<{ requestId: string }> = [];
  for await (const entity of e.runtime.storage.clients.statusTable.listEntities<{ RequestId?: string }>()) {
    if (entity.rowKey === 'status') rows.add(entity.partitionKey ?? '');
    else if (entity.rowKey === 'idempotency') keys.push({ requestId: entity.RequestId ?? '' });
    // The time index: written before the rows it points to, so a refused submission may leave one
    // behind, which the sweep removes (a row without an index row would be the half-stored case).
    else if (entity.partitionKey?.startsWith('due~') || entity.partitionKey === 'meta~index') continue;
    else assert.fail(`an unexpected entity in the status table: ${entity.partitionKey} / ${entity.rowKey}`);
  }
  return { rows, keys };
}

async function assertNoPartialRequest(e: TestEngine, state: RunState): Promise<void> {
  const { rows, keys } = await statusTableContents(e);
  const orphans = [...rows].filter((id) => !state.acceptedSet.has(id));
  assert.deepEqual(orphans, [], 'every status row belongs to a submission answered 202');
  assert.equal(rows.size, state.acceptedSet.size, 'every accepted submission has its status row');
  for (const { requestId } of keys) assert.ok(state.acceptedSet.has(requestId), `an idempotency key names request ${requestId}, which was never accepted`);
}

/** The request ids of every message in the flow's first queue (the engine is not processing). */
async function queuedRequestIds(e: TestEngine): Promise<string[]> {
  const name = e.runtime.flows.get('flow')?.steps[0]?.source.queue.name;
  assert.ok(name);
  const queue = e.runtime.storage.clients.queues.getQueueClient(name);
  const ids: string[] = [];
  for (;;) {
    // Hidden for a minute: each receive returns messages not yet seen.
    const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    if (receivedMessageItems.length === 0) return ids;
    for (const message of receivedMessageItems) ids.push(decodeEnvelope(message.messageText).requestId);
  }
}

async function assertQueueAndBlobs(e: TestEngine, state: RunState): Promise<void> {
  const queued = await queuedRequestIds(e);
  assert.equal(queued.length, state.acceptedSet.size, 'one message per accepted request');
  assert.deepEqual(new Set(queued), state.acceptedSet, 'the queue holds exactly the accepted requests');
  for await (const blob of e.runtime.storage.clients.payloads.listBlobsFlat()) {
    if (blob.name === SWEEPER_LOCK_BLOB) continue; // the sweepers' election, no payload
    const requestId = blob.name.split('/')[0] ?? '';
    assert.ok(state.acceptedSet.has(requestId), `payload blob ${blob.name} belongs to no accepted request`);
  }
}

// ---------------------------------------------------------------------------------------------
// The runs

interface FuzzTarget {
  engine: TestEngine;
  /** For the health checks; null without auth. */
  goodAuthorization: string | null;
  credential: fc.Arbitrary<Credential>;
  /** Whether answers are checked against the credential's roles (auth "oidc"). */
  isAuthenticated: boolean;
}

async function assertServing(e: TestEngine, authorization: string | null): Promise<void> {
  const response = await fetch(`${e.url}/actuator/health`, { headers: authorization ? { authorization } : {} });
  const health = (await response.json()) as { components?: Record<string, { status?: string }> };
  assert.equal(health.components?.['storage']?.status, 'UP', `the engine answers its health check: ${JSON.stringify(health)}`);
}

async function fuzz({ engine: e, goodAuthorization, credential, isAuthenticated }: FuzzTarget): Promise<RunState> {
  const state: RunState = { accepted: [], acceptedSet: new Set(), replayed: new Set(), statuses: new Map() };
  await fc.assert(
    fc.asyncProperty(fuzzRequest(credential), async (req) => {
      const { bytes, methods, target } = serialise(req, state.accepted);
      const targets = [target, PIPELINED_TARGET];
      const refusal = parserRefusal(req, bytes, target);
      const { responses } = await exchange(e.url, bytes, { methods, timeoutInMs: 15_000 });
      if (req.method === 'CONNECT') {
        // The ingress is no proxy: one 501 problem (a 400 one when the parser refused the target
        // first), and the connection closed.
        assert.equal(responses.length, 1, 'CONNECT gets one answer');
        assert.ok([400, 501].includes(responses[0]?.status ?? 0), `CONNECT answered ${responses[0]?.status}`);
        assertProblem(responses[0] as RawResponse, 'CONNECT');
      } else {
        assert.ok(responses.length >= 1, `an answer to ${req.method} ${target.slice(0, 200)}`);
        assert.ok(responses.length <= methods.length, 'no more answers than requests');
        // The pipelined request is answered unless the first answer closed the connection.
        if (responses.length < methods.length) assert.ok(/close/i.test(headerOf(responses[0] as RawResponse, 'connection') ?? ''), 'every pipelined request is answered');
        responses.forEach((response, i) => {
          if (refusal !== null && [400, 417, 431].includes(response.status)) {
            // Node's parser refused the request (no route ran): the server's own problem+json
            // (without a body for HEAD, as for any HEAD answer).
            assertProblem(response, req.method === 'HEAD' ? 'HEAD' : 'GET');
            return;
          }
          const access = isAuthenticated ? { credential: req.credential, target: targets[i] ?? target } : null;
          checkAnswer(response, methods[i] ?? 'GET', access, state);
        });
      }
      await assertServing(e, goodAuthorization);
      if (req.method.toUpperCase() === 'POST') await assertNoPartialRequest(e, state);
    }),
    { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
  );
  await assertNoPartialRequest(e, state);
  await assertQueueAndBlobs(e, state);
  return state;
}

function fuzzDocument(suite: ReturnType<typeof engineSuite>, extra: Record<string, unknown>): Record<string, unknown> {
  const { ['server.config']: server, ...rest } = extra;
  return flowDocument(suite.azurite, {
    steps: [{ url: 'http://127.0.0.1:9/never-called' }],
    extra: {
      // The engine here never processes: a Prefer: wait would hold its answer for the whole cap, past
      // the exchange's time-out, so the cap is one second.
      'server.config': { maxBodyBytes: MAX_BODY_BYTES, maxWaitSeconds: 1, ...(server as object | undefined) },
      'payload.config': { inlineLimitBytes: INLINE_LIMIT_BYTES, container: uniqueQueueName('payloads') },
      'callback.config': { allowedHosts: ALLOWED_CALLBACK_HOSTS },
      ...rest,
    },
  });
}

function summary(state: RunState): string {
  const statuses = [...state.statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`);
  return `accepted ${state.acceptedSet.size}, idempotent replays ${state.replayed.size}; answers ${statuses.join(' ')}`;
}

describe('ingress fuzzing', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  before(async () => {
    idp = await TestIdp.start({ realm: REALM, clientId: CLIENT, clientSecret: 's3cret', users: {} });
  });
  after(() => idp.close());

  it('without auth: random requests get a documented 2xx or a problem+json 4xx, never a 5xx, and leave nothing half-stored', async (t) => {
    const e = await suite.engine(fuzzDocument(suite, { 'server.config': { auth: 'none' } }));
    await e.runtime.engine.close(); // accepted requests stay queued, to be counted
    const credential = fc
      .option(fc.oneof(fc.constant('Bearer x.y.z'), headerBytes(40)), { freq: 5 })
      .map((header): Credential => ({ header, roles: null }));
    const state = await fuzz({ engine: e, goodAuthorization: null, credential, isAuthenticated: false });
    t.diagnostic(summary(state));
    assert.ok(state.acceptedSet.size > 10, `enough submissions were accepted to mean something: ${summary(state)}`);
  });

  it('with oidc: random requests and tokens get a documented 2xx or a problem+json 4xx, never a 5xx, and leave nothing half-stored', async (t) => {
    const e = await suite.engine(
      fuzzDocument(suite, {
        'server.config': { auth: 'oidc' },
        'openid.config': { realm: REALM, 'auth-server-url': idp.authServerUrl, resource: CLIENT },
        'rbac.config': { apiMappings: [{ url: '/api', roles: ['async-engine'] }], applicationMappings: [{ url: '/actuator', roles: ['ops'] }] },
      }),
    );
    await e.runtime.engine.close();
    const good = `Bearer ${await idp.sign({ realm_access: { roles: ['async-engine', 'ops'] } })}`;
    // The provider is discovered in the background: wait for the first good answer.
    await eventually(async () => assert.equal((await fetch(`${e.url}/api/flows`, { headers: { authorization: good } })).status, 200), { timeoutInMs: 10_000 });
    const ALL = ['async-engine', 'ops'];
    const valid = await idp.sign({ realm_access: { roles: ALL } });
    const [header, payload, signature] = valid.split('.');
    const credentials: Credential[] = [
      { header: good, roles: ALL },
      { header: `bearer ${valid}`, roles: ALL },
      { header: `Bearer  ${valid}`, roles: ALL },
      { header: `Bearer ${await idp.sign({ realm_access: { roles: ['async-engine'] } })}`, roles: ['async-engine'] },
      { header: `Bearer ${await idp.sign({ realm_access: { roles: ['ops'] } })}`, roles: ['ops'] },
      { header: `Bearer ${await idp.sign({ realm_access: { roles: ['someone-else'] } })}`, roles: ['someone-else'] },
      { header: `Bearer ${await idp.sign({ realm_access: { roles: ALL }, exp: Math.floor(Date.now() / 1000) - 3600 })}`, roles: null },
      { header: `Bearer ${await idp.sign({ realm_access: { roles: ALL }, aud: 'another-client' })}`, roles: null },
      { header: `Bearer ${new UnsecuredJWT({ realm_access: { roles: ALL }, iss: idp.issuer, aud: CLIENT }).setExpirationTime('5m').encode()}`, roles: null },
      { header: `Bearer ${header}.${payload}.`, roles: null },
      { header: `Bearer ${header}.${payload}`, roles: null },
      { header: `Bearer ${header}.${payload}.${signature?.slice(0, -4)}`, roles: null },
      { header: `Basic ${Buffer.from('user:pass').toString('base64')}`, roles: null },
      { header: 'Bearer', roles: null },
      { header: 'Bearer ', roles: null },
      { header: valid, roles: null },
      { header: null, roles: null },
    ];
    const credential = fc.oneof(
      { arbitrary: fc.constant<Credential>({ header: good, roles: ALL }), weight: 12 },
      { arbitrary: fc.constantFrom(...credentials), weight: 5 },
      { arbitrary: fc.tuple(base64url(60), base64url(200), base64url(80)).map(([h, p, s]): Credential => ({ header: `Bearer ${h}.${p}.${s}`, roles: null })), weight: 1 },
      { arbitrary: fc.json().map((j): Credential => ({ header: `Bearer ${Buffer.from(j).toString('base64url')}.${payload}.${signature}`, roles: null })), weight: 1 },
      { arbitrary: headerBytes(100).map((b): Credential => ({ header: `Bearer ${b}`, roles: null })), weight: 1 },
    );
    const state = await fuzz({ engine: e, goodAuthorization: good, credential, isAuthenticated: true });
    t.diagnostic(summary(state));
    assert.ok(state.acceptedSet.size > 10, `enough submissions were accepted to mean something: ${summary(state)}`);
  });
});
