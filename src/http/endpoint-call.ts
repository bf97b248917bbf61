/**
 * One POST of a step's input to its endpoint, through the process's Agent and connection permits.
 * Returns the outcome as a value; throws only when `signal` aborts (the step was given up).
 * undici's UND_ERR_* codes are translated here.
 *
 * Bounds: the whole call, from holding a connection permit to the last byte of the answer, ends
 * within the step's callTimeout (AE_CALL_TIMEOUT), and a 2xx answer is read as a stream and given
 * up, its connection dropped, the moment it passes payload.config.maxResponseBytes
 * (AE_RESPONSE_TOO_LARGE): nothing beyond the limit is buffered. Both are transport errors, so the
 * redelivery rules apply as for a refused connection.
 */
import { type Dispatcher, request } from 'undici';
import { redactUrl } from '../common/redact-url.js';
import { EngineError, isEngineError } from '../errors.js';
import { ATTR, isTracingOn, runInSpan, SpanKind, setSpanError, startSpan, traceHeadersOf } from '../observability/spans.js';
import type { OutboundHttp } from './agent.js';

export type StepOutcome =
  | { kind: 'ok'; status: number; contentType: string; body: Buffer; durationInMs: number }
  | { kind: 'http-error'; status: number; retryAfterInMs: number | null; detail: string; durationInMs: number }
  | { kind: 'transport-error'; code: string; detail: string; durationInMs: number };

export interface EndpointRequest {
  url: string;
  body: Buffer;
  contentType: string;
  requestId: string;
  flow: string;
  step: number;
  /**
   * Sent as the `traceparent` header while tracing is off (the client's, as the envelope carries it);
   * while tracing is on, the call's own client span (a child of the active span) is sent instead.
   */
  traceparent: string | null;
  /** `Bearer ...` for platform endpoints, else null. */
  authorization: string | null;
  /** The whole call's limit (the step's effective callTimeout); 0 = none. */
  callTimeoutInMs: number;
}

/** How much of an error answer is kept for the status row. */
const ERROR_DETAIL_BYTES = 512;

export async function callEndpoint(http: OutboundHttp, req: EndpointRequest, signal: AbortSignal): Promise<StepOutcome> {
  if (!isTracingOn()) return call(http, req, req.traceparent, null, signal);
  const url = redactUrl(req.url);
  const { hostname, port, protocol } = new URL(req.url);
  const span = startSpan('POST', {
    kind: SpanKind.CLIENT,
    attributes: {
      [ATTR.httpMethod]: 'POST',
      [ATTR.urlFull]: url,
      [ATTR.serverAddress]: hostname,
      [ATTR.serverPort]: port === '' ? (protocol === 'https:' ? 443 : 80) : Number(port),
    },
  });
  return runInSpan(span, async () => {
    // The endpoint's own spans become children of this one.
    const { traceparent, tracestate } = traceHeadersOf(span);
    const outcome = await call(http, req, traceparent, tracestate, signal);
    if (outcome.kind === 'transport-error') setSpanError(span, outcome.detail, outcome.code);
    else {
      span.setAttribute(ATTR.httpStatus, outcome.status);
      // As the HTTP conventions ask of a client span: a 4xx or 5xx answer is an error.
      if (outcome.kind === 'http-error') setSpanError(span, `HTTP ${outcome.status}`, String(outcome.status));
    }
    return outcome;
  });
}

/** The call itself, sending `traceparent` and `tracestate` when not null. */
async function call(http: OutboundHttp, req: EndpointRequest, traceparent: string | null, tracestate: string | null, signal: AbortSignal): Promise<StepOutcome> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  try {
    return await withConnection(http, req.url, req.callTimeoutInMs, signal, async (callSignal) => {
      const headers: Record<string, string> = {
        'content-type': req.contentType,
        'x-request-id': req.requestId,
        'x-flow-name': req.flow,
        'x-flow-step': String(req.step),
        'idempotency-key': `${req.requestId}:${req.step}`,
      };
      if (traceparent !== null) headers['traceparent'] = traceparent;
      if (tracestate !== null) headers['tracestate'] = tracestate;
      if (req.authorization) headers['authorization'] = req.authorization;
      const response = await request(req.url, {
        method: 'POST',
        dispatcher: http.agent,
        headers,
        body: req.body,
        signal: callSignal,
        ...(http.socketTimeoutInMs !== undefined ? { headersTimeout: http.socketTimeoutInMs, bodyTimeout: http.socketTimeoutInMs } : {}),
      });
      if (response.statusCode >= 200 && response.statusCode < 300) {
        const body = await readAtMost(response, http.maxResponseBytes);
        const contentType = String(response.headers['content-type'] ?? 'application/octet-stream');
        return { kind: 'ok', status: response.statusCode, contentType, body, durationInMs: elapsed() };
      }
      const detail = await readSome(response.body, ERROR_DETAIL_BYTES);
      return {
        kind: 'http-error',
        status: response.statusCode,
        retryAfterInMs: parseRetryAfter(response.headers['retry-after']),
        detail: `HTTP ${response.statusCode}${detail ? `: ${detail}` : ''}`,
        durationInMs: elapsed(),
      };
    });
  } catch (err) {
    if (signal.aborted) throw signal.reason ?? err;
    if (isEngineError(err)) return { kind: 'transport-error', code: err.code, detail: err.message, durationInMs: elapsed() };
    const code = (err as { code?: unknown }).code;
    return {
      kind: 'transport-error',
      code: typeof code === 'string' ? code : 'UNKNOWN',
      detail: err instanceof Error ? err.message : String(err),
      durationInMs: elapsed(),
    };
  }
}

/**
 * Runs `call` while holding a connection permit for `url`'s origin, with a signal that also aborts
 * `callTimeoutInMs` after the permit was granted (0 = no limit). Throws AE_POOL_TIMEOUT when no
 * permit came in time, AE_CALL_TIMEOUT when the call ran out of time, and `signal`'s reason when
 * it aborts.
 */
export async function withConnection<T>(http: OutboundHttp, url: string, callTimeoutInMs: number, signal: AbortSignal, call: (callSignal: AbortSignal) => Promise<T>): Promise<T> {
  const release = await http.limiter.acquire(new URL(url).origin, signal);
  // A controller of its own rather than AbortSignal.any(): `signal` may live as long as the process.
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let isTimedOut = false;
  const timer =
    callTimeoutInMs > 0
      ? setTimeout(() => {
          isTimedOut = true;
          controller.abort(new EngineError('AE_CALL_TIMEOUT', 'callTimeout'));
        }, callTimeoutInMs)
      : undefined;
  try {
    return await call(controller.signal);
  } catch (err) {
    if (isTimedOut && !signal.aborted) {
      throw new EngineError('AE_CALL_TIMEOUT', `the call to ${new URL(url).origin} took longer than ${callTimeoutInMs} ms (callTimeout)`, { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    release();
  }
}

/**
 * The answer's body, read as it arrives; AE_RESPONSE_TOO_LARGE, with the connection dropped, as
 * soon as it is declared or grows larger than `limit`. Read by events rather than `for await`:
 * a stream's async iterator costs a handful of promises and an end-of-stream watcher per answer,
 * on every step-message (Performance issue).
 */
export function readAtMost(response: Dispatcher.ResponseData, limit: number): Promise<Buffer> {
  const { body } = response;
  const tooLarge = (): EngineError => {
    // Destroying an unfinished body aborts the request, and undici closes its connection. The body
    // then emits an AbortError: handled here, or it would be an uncaught exception.
    body.once('error', () => undefined).destroy();
    return new EngineError('AE_RESPONSE_TOO_LARGE', `response larger than ${limit} bytes (payload.config.maxResponseBytes)`);
  };
  if (Number(response.headers['content-length']) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      body.off('data', onData);
      reject(tooLarge());
    };
    body.on('data', onData);
    body.once('end', () => resolve(Buffer.concat(chunks, size)));
    // An abort (the call's time-out, the step given up) or a broken connection; after a reject above, nothing.
    body.once('error', reject);
  });
}

/** Reads up to `limit` bytes as text and discards the rest, so the connection is freed. */
async function readSome(body: AsyncIterable<Buffer> & { dump(opts?: { limit: number }): Promise<void> }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  await body.dump({ limit: 1024 * 1024 }).catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8').replace(/\s+/g, ' ').trim();
}

/** Retry-After as delay-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  // Every HTTP-date form starts with a day name (RFC 9110 section 5.6.7); Date.parse alone reads
  // "1.5" or "-5" as dates in 2001, which would turn a malformed header into "retry at once".
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/i.test(text.trim())) return null;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
