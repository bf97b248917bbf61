/**
 * The trace of a submission. While tracing is on, POST /api/flows/{flowName} runs in a server span,
 * a child of the client's `traceparent` (with its `tracestate`) when it sent a valid one, else the
 * root of a new trace; the request's messages carry that span's context, so each of its steps, on
 * any replica, joins this trace. While tracing is off the messages carry the client's valid
 * traceparent as it came, and its endpoints receive it verbatim.
 */
import type { Middleware } from 'koa';
import { validTraceparent } from '../common/trace-context.js';
import {
  ATTR,
  activeSpan,
  inSpan,
  isTracingOn,
  ROOT_CONTEXT,
  remoteParentOf,
  SpanKind,
  setSpanThrown,
  startSpan,
  traceHeadersOf,
} from '../observability/spans.js';
import { toProblem } from './problem.js';
import type { IngressContext, IngressState } from './state.js';

/** The route as the HTTP conventions name it (`http.route`, and the span's name after the method). */
const SUBMIT_ROUTE = '/api/flows/{flowName}';

/** The server span of a submission while tracing is on; nothing otherwise. Mounted on the submit route. */
export function traceSubmission(): Middleware<IngressState> {
  return async (ctx, next) => {
    if (!isTracingOn()) return next();
    const parent = remoteParentOf(validTraceparent(ctx.get('traceparent')), ctx.get('tracestate') || null);
    const span = startSpan(`POST ${SUBMIT_ROUTE}`, {
      kind: SpanKind.SERVER,
      attributes: {
        [ATTR.httpMethod]: 'POST',
        [ATTR.httpRoute]: SUBMIT_ROUTE,
        [ATTR.urlPath]: ctx.path,
        [ATTR.flow]: (ctx as IngressContext).params['flowName'] ?? '',
      },
      parent,
    });
    try {
      await inSpan(span, next, ROOT_CONTEXT);
      span.setAttribute(ATTR.httpStatus, ctx.status);
    } catch (err) {
      // The status the error middleware will answer; as the HTTP conventions ask of a server span,
      // only a 5xx marks it failed (a 4xx is the client's doing).
      const { status } = toProblem(err).body;
      span.setAttribute(ATTR.httpStatus, status);
      if (status >= 500) setSpanThrown(span, err);
      throw err;
    } finally {
      span.end();
    }
  };
}

/**
 * The trace context a submission's messages carry: the submission span's while tracing is on
 * (called within it), else the client's traceparent when it is valid, and no tracestate.
 */
export function submissionTraceOf(ctx: IngressContext): { traceparent: string | null; tracestate: string | null } {
  const span = isTracingOn() ? activeSpan() : undefined;
  if (span === undefined) return { traceparent: validTraceparent(ctx.get('traceparent')), tracestate: null };
  return traceHeadersOf(span);
}
