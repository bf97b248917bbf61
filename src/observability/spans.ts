/**
 * The engine's spans, on the OpenTelemetry API. Until tracing.ts has started the SDK (an `OTEL_*`
 * variable is set), nothing here makes a span: every caller asks {@link isTracingOn} before it
 * builds a span's name or attributes, so with tracing off a step-message costs one boolean read per
 * place that could trace, and no object.
 *
 * One trace per request: the ingress's server span of the submission (a child of the client's
 * traceparent when it sent one), whose context the request's messages carry in their envelope;
 * under it one consumer span per attempt of each step, and under that a client span per endpoint
 * call (whose context is the traceparent the endpoint receives), the retry, dead-letter and
 * callback spans, and the storage calls made meanwhile (azure-spans.ts).
 */
import {
  type Attributes,
  type AttributeValue,
  type Context,
  context,
  createTraceState,
  isSpanContextValid,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent, validTracestate } from '../common/trace-context.js';
import { VERSION } from '../version.js';

export { ROOT_CONTEXT, SpanKind };
export type { Attributes, Context, Link, Span };

/**
 * Attribute names. Those of the OpenTelemetry semantic conventions are written out rather than
 * imported: the messaging ones are still in development there, and the conventions advise copying
 * such names. `async_engine.*` are the engine's own.
 */
export const ATTR = {
  httpMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpStatus: 'http.response.status_code',
  urlFull: 'url.full',
  urlPath: 'url.path',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
  messagingSystem: 'messaging.system',
  messagingOperationType: 'messaging.operation.type',
  messagingOperationName: 'messaging.operation.name',
  messagingDestination: 'messaging.destination.name',
  messageId: 'messaging.message.id',
  /** The request id: the conversation the messages of one request belong to. */
  conversationId: 'messaging.message.conversation_id',
  requestId: 'async_engine.request_id',
  flow: 'async_engine.flow',
  step: 'async_engine.step',
  attempt: 'async_engine.attempt',
  /** How a step-message ended: forwarded, completed, retry_scheduled, dead_lettered, stale. */
  outcome: 'async_engine.outcome',
  retryDelayInMs: 'async_engine.retry.delay_ms',
  dlqId: 'async_engine.dlq.id',
  dlqReason: 'async_engine.dlq.reason',
} as const;

/** `messaging.system` of the step queues: Azure Storage Queues has no name in the conventions yet. */
export const MESSAGING_SYSTEM = 'azure_storage_queues';

let isOn = false;
let tracer: Tracer = trace.getTracer('async-engine', VERSION);

/** Whether the SDK runs and spans are made. Read it before building anything a span needs. */
export function isTracingOn(): boolean {
  return isOn;
}

/** Called by tracing.ts once the SDK is registered; spans are made from then on. */
export function setTracingOn(): void {
  tracer = trace.getTracer('async-engine', VERSION);
  isOn = true;
}

/**
 * The context whose (remote) parent is the span a traceparent names, with its tracestate; the empty
 * root context when the traceparent is missing or not valid W3C Trace Context, so that the span made
 * under it starts a trace of its own.
 */
export function remoteParentOf(traceparent: string | null, tracestate: string | null | undefined): Context {
  const parent = traceparent === null ? null : parseTraceparent(traceparent);
  if (parent === null) return ROOT_CONTEXT;
  const state = tracestate ? validTracestate(tracestate) : null;
  const spanContext: SpanContext = { ...parent, isRemote: true, ...(state === null ? {} : { traceState: createTraceState(state) }) };
  return trace.setSpanContext(ROOT_CONTEXT, spanContext);
}

/** The span context `traceparent` names, for a link; null when it is not valid. */
export function linkTo(traceparent: string | null): Link | null {
  const parent = traceparent === null ? null : parseTraceparent(traceparent);
  return parent === null ? null : { context: { ...parent, isRemote: true } };
}

export interface StartSpanOptions {
  kind: SpanKind;
  attributes?: Attributes;
  links?: Link[];
  /** The parent; the active context when omitted. */
  parent?: Context;
  /** A new trace whatever the parent (a replay): its origin goes in `links`. */
  isRoot?: boolean;
}

/** A started span; the caller ends it. Only while {@link isTracingOn}. */
export function startSpan(name: string, { kind, attributes, links, parent = context.active(), isRoot = false }: StartSpanOptions): Span {
  return tracer.startSpan(name, { kind, ...(attributes ? { attributes } : {}), ...(links ? { links } : {}), root: isRoot }, parent);
}

/**
 * Runs `work` with `span` as the active span (on top of `base`, the active context by default), so
 * that the spans and log lines made meanwhile belong to it.
 */
export function inSpan<T>(span: Span, work: () => Promise<T>, base: Context = context.active()): Promise<T> {
  return context.with(trace.setSpan(base, span), work);
}

/** What a call made under `span` sends downstream: its traceparent and, when it has one, its tracestate. */
export function traceHeadersOf(span: Span): { traceparent: string; tracestate: string | null } {
  const spanContext = span.spanContext();
  const tracestate = spanContext.traceState?.serialize() ?? '';
  return { traceparent: formatTraceparent(spanContext), tracestate: tracestate === '' ? null : tracestate };
}

/** Marks `span` failed: status error with `message`, and `error.type` when given. */
export function setSpanError(span: Span, message: string, errorType?: string): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  if (errorType !== undefined) span.setAttribute(ATTR.errorType, errorType);
}

/** Marks `span` failed by what was thrown: its message, and its code or class as `error.type`. */
export function setSpanThrown(span: Span, err: unknown): void {
  setSpanError(span, err instanceof Error ? err.message : String(err), errorTypeOf(err));
}

/**
 * Runs `work` with `span` active (on top of `base`), marks the span failed if it throws (and
 * rethrows), and ends it.
 */
export async function runInSpan<T>(span: Span, work: () => Promise<T>, base: Context = context.active()): Promise<T> {
  try {
    return await inSpan(span, work, base);
  } catch (err) {
    setSpanThrown(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** The active span, to add what became known later (an outcome, a request id). Only while {@link isTracingOn}. */
export function activeSpan(): Span | undefined {
  return trace.getActiveSpan();
}

/** Sets an attribute of the active span while tracing is on; nothing otherwise. */
export function setActiveSpanAttribute(name: string, value: AttributeValue): void {
  if (isOn) trace.getActiveSpan()?.setAttribute(name, value);
}

/** Marks the active span failed while tracing is on: `failure` is the message, or the error thrown. */
export function failActiveSpan(failure: unknown): void {
  if (!isOn) return;
  const span = trace.getActiveSpan();
  if (span === undefined) return;
  if (typeof failure === 'string') setSpanError(span, failure);
  else setSpanThrown(span, failure);
}

/**
 * Runs `work` in a child span of the active one when tracing is on (`attributes` is called only
 * then), or just runs it. A throw marks the span failed and is rethrown.
 */
export async function traced<T>(name: string, kind: SpanKind, attributes: () => Attributes, work: (span: Span | null) => Promise<T>): Promise<T> {
  if (!isOn) return work(null);
  const span = startSpan(name, { kind, attributes: attributes() });
  return runInSpan(span, () => work(span));
}

/** A low-cardinality name for an error: its code, else its class. */
export function errorTypeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.name : 'Error';
}

/** What a log line gets while tracing is off or no span is active: nothing (the same object every time). */
export const NO_TRACE_FIELDS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * `trace_id` and `span_id` of the active span, for the log line being written; {@link NO_TRACE_FIELDS}
 * while tracing is off or outside any span.
 */
export function activeTraceFields(): Readonly<Record<string, string>> {
  if (!isOn) return NO_TRACE_FIELDS;
  const spanContext = trace.getSpan(context.active())?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return NO_TRACE_FIELDS;
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
