/**
 * RFC 9457 problem details: every 4xx/5xx answer is `application/problem+json` with `type`,
 * `title`, `status` and `detail`. Throw {@link HttpProblem} from a route; anything else becomes 500
 * (503 when storage is unreachable) without its message.
 */
import type { Context } from 'koa';
import { type EngineErrorCode, isEngineError } from '../errors.js';

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

/** Seconds a client should wait before retrying when a dependency is unreachable. */
const RETRY_AFTER_IN_SECONDS = 5;

interface ProblemKind {
  status: number;
  slug: string;
  title: string;
  /** What the client reads unless the error is marked `expose`, which shows its own message. */
  detail: string;
  retryAfterInSeconds?: number;
}

const INTERNAL: ProblemKind = { status: 500, slug: 'internal', title: 'Internal Server Error', detail: 'the engine failed to handle the request' };
const STORAGE_UNAVAILABLE: ProblemKind = {
  status: 503,
  slug: 'storage-unavailable',
  title: 'Service Unavailable',
  detail: 'storage is unreachable; try again later',
  retryAfterInSeconds: RETRY_AFTER_IN_SECONDS,
};

/**
 * The answer for each error code. Codes a request can never meet (configuration, emulator,
 * command line) and faults the client can do nothing about are a 500 that hides its message.
 */
const PROBLEMS: Readonly<Record<EngineErrorCode, ProblemKind>> = {
  AE_STORAGE_UNAVAILABLE: STORAGE_UNAVAILABLE,
  AE_AUTH_UNAVAILABLE: {
    status: 503,
    slug: 'auth-unavailable',
    title: 'Service Unavailable',
    detail: 'the OpenID provider cannot be reached; try again later',
    retryAfterInSeconds: RETRY_AFTER_IN_SECONDS,
  },
  AE_SHUTDOWN: { status: 503, slug: 'shutting-down', title: 'Service Unavailable', detail: 'the engine is shutting down; try again', retryAfterInSeconds: 1 },
  AE_REPLAY_IMPOSSIBLE: { status: 409, slug: 'replay-impossible', title: 'Conflict', detail: 'the entry cannot be replayed' },
  AE_STORAGE_CONFLICT: { status: 409, slug: 'conflict', title: 'Conflict', detail: 'the resource changed meanwhile; try again' },
  AE_INVALID_CONFIG: INTERNAL,
  AE_CONFIG_UNREADABLE: INTERNAL,
  AE_INVALID_OPTION: INTERNAL,
  AE_USAGE: INTERNAL,
  AE_EMULATOR_PORT_IN_USE: INTERNAL,
  AE_EMULATOR_NOT_INSTALLED: INTERNAL,
  AE_EMULATOR_FAILED: INTERNAL,
  AE_NOT_FOUND: INTERNAL,
  AE_MESSAGE_LOST: INTERNAL,
  AE_POOL_TIMEOUT: INTERNAL,
  AE_CALL_TIMEOUT: INTERNAL,
  AE_RESPONSE_TOO_LARGE: INTERNAL,
  AE_PLATFORM_TOKEN: INTERNAL,
  AE_STORAGE: INTERNAL,
};

function answer(kind: ProblemKind, detail: string): { body: ProblemBody; headers: Record<string, string> } {
  const type = kind === INTERNAL ? 'about:blank' : problemType(kind.slug);
  const headers: Record<string, string> = kind.retryAfterInSeconds === undefined ? {} : { 'retry-after': String(kind.retryAfterInSeconds) };
  return { body: { type, title: kind.title, status: kind.status, detail }, headers };
}

/** The problem for any error; only an HttpProblem or an error marked `expose` shows its message. */
export function toProblem(err: unknown): { body: ProblemBody; headers: Record<string, string> } {
  if (err instanceof HttpProblem) {
    return { body: { type: problemType(err.slug), title: err.title, status: err.status, detail: err.message }, headers: { ...err.headers } };
  }
  if (isEngineError(err)) {
    const kind = PROBLEMS[err.code];
    return answer(kind, err.expose ? err.message : kind.detail);
  }
  // A route's deadline runs out only while it waits for storage.
  const name = (err as { name?: unknown } | null | undefined)?.name;
  if (name === 'AbortError' || name === 'TimeoutError') return answer(STORAGE_UNAVAILABLE, STORAGE_UNAVAILABLE.detail);
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
  return answer(INTERNAL, INTERNAL.detail);
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
