/**
 * RFC 9457 problem details: every 4xx/5xx answer is `application/problem+json` with `type`,
 * `title`, `status` and `detail`. Throw {@link HttpProblem} from a route; anything else becomes 500
 * (503 when storage is unreachable) without its message.
 */
import type { Context } from 'koa';
import { isEngineError } from '../errors.js';

export class HttpProblem extends Error {
  override name = 'HttpProblem';
  readonly status: number;
  readonly slug: string;
  readonly title: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, slug: string, title: string, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.status = status;
    this.slug = slug;
    this.title = title;
    this.headers = headers;
  }
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
}

export function problemType(slug: string): string {
  return `urn:async-engine:problem:${slug}`;
}

/** Seconds a client should wait before retrying when storage is unreachable. */
const STORAGE_RETRY_AFTER_IN_SECONDS = 5;

/** The problem for any error; `exposed` says whether its message may be shown. */
export function toProblem(err: unknown): { body: ProblemBody; headers: Record<string, string> } {
  if (err instanceof HttpProblem) {
    return { body: { type: problemType(err.slug), title: err.title, status: err.status, detail: err.message }, headers: { ...err.headers } };
  }
  // A route's deadline runs out only while it waits for storage.
  const name = (err as { name?: unknown } | null | undefined)?.name;
  if (isEngineError(err, 'AE_STORAGE_UNAVAILABLE') || name === 'AbortError' || name === 'TimeoutError') {
    return {
      body: { type: problemType('storage-unavailable'), title: 'Service Unavailable', status: 503, detail: 'storage is unreachable; try again later' },
      headers: { 'retry-after': String(STORAGE_RETRY_AFTER_IN_SECONDS) },
    };
  }
  if (isEngineError(err, 'AE_AUTH_UNAVAILABLE')) {
    return {
      body: { type: problemType('auth-unavailable'), title: 'Service Unavailable', status: 503, detail: 'the OpenID provider cannot be reached; try again later' },
      headers: { 'retry-after': String(STORAGE_RETRY_AFTER_IN_SECONDS) },
    };
  }
  if (isEngineError(err, 'AE_REPLAY_IMPOSSIBLE')) {
    return { body: { type: problemType('replay-impossible'), title: 'Conflict', status: 409, detail: err.message }, headers: {} };
  }
  // Koa's and the router's own errors (http-errors): 404, 405, 501, 400 for bad input ...
  // `?.`: a rejection can carry null or undefined, and the error handler itself must not throw.
  const fields = err as { status?: unknown; statusCode?: unknown } | null | undefined;
  const status = fields?.status ?? fields?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 600) {
    const expose = (err as { expose?: unknown }).expose === true;
    const headers = (err as { headers?: Record<string, string> }).headers ?? {};
    const title = STATUS_TITLES[status] ?? 'Error';
    return { body: { type: 'about:blank', title, status, detail: expose ? (err as Error).message : title }, headers: { ...headers } };
  }
  return { body: { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'the engine failed to handle the request' }, headers: {} };
}

export function sendProblem(ctx: Context, err: unknown): ProblemBody {
  const { body, headers } = toProblem(err);
  ctx.status = body.status;
  for (const [name, value] of Object.entries(headers)) ctx.set(name, value);
  ctx.type = 'application/problem+json';
  ctx.body = body;
  return body;
}

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};
