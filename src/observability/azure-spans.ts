/**
 * Storage calls as spans, through the Azure SDK's own tracing hook: every Azure client reports its
 * operations (`QueueClient-sendMessage`, ...) and their HTTP requests (`HTTP POST`, a client span)
 * to the instrumenter set with `useInstrumenter` of @azure/core-tracing, which does nothing until
 * one is set. This one makes OpenTelemetry spans, as @azure/opentelemetry-instrumentation-azure-sdk
 * does, with two differences:
 * - it is set directly, not by patching the module as it loads (which would need a loader hook
 *   for ESM and the SDK started before any module);
 * - it makes spans only under a span that records (a submission, a step, a replay, a callback): a
 *   poll, a sweep, a lease renewal of the sweeper or a health check would otherwise start a trace
 *   of its own every few seconds, per queue and replica.
 */
import type { Instrumenter, InstrumenterSpanOptions, SpanStatus, TracingContext, TracingSpan } from '@azure/core-tracing';
import { type Attributes, type AttributeValue, type Context, context, isSpanContextValid, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent } from '../common/trace-context.js';

const KINDS: Record<string, SpanKind> = {
  client: SpanKind.CLIENT,
  server: SpanKind.SERVER,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
  internal: SpanKind.INTERNAL,
};

/** What the Azure SDK gets where it may not make a span: records nothing, costs nothing. */
const NOT_RECORDING: TracingSpan = {
  setStatus: () => undefined,
  setAttribute: () => undefined,
  end: () => undefined,
  recordException: () => undefined,
  isRecording: () => false,
};

/** Azure's tracing context is an OpenTelemetry context (both are immutable key-value bags). */
const asContext = (tracingContext: TracingContext | undefined): Context => (tracingContext as Context | undefined) ?? context.active();

function isAttributeValue(value: unknown): value is AttributeValue {
  if (typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  return Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean');
}

function attributesOf(values: Record<string, unknown> | undefined): Attributes {
  const attributes: Attributes = {};
  for (const [key, value] of Object.entries(values ?? {})) if (isAttributeValue(value)) attributes[key] = value;
  return attributes;
}

function wrap(span: Span): TracingSpan {
  return {
    setStatus(status: SpanStatus) {
      // Success leaves the status unset, as the semantic conventions ask of instrumentations.
      if (status.status !== 'error') return;
      const { error } = status;
      span.setStatus({ code: SpanStatusCode.ERROR, ...(error === undefined ? {} : { message: typeof error === 'string' ? error : error.message }) });
      if (error !== undefined) span.recordException(error);
    },
    setAttribute(name, value) {
      if (isAttributeValue(value)) span.setAttribute(name, value);
    },
    end: () => span.end(),
    recordException: (exception) => span.recordException(exception),
    isRecording: () => span.isRecording(),
    addEvent: (name, options) => span.addEvent(name, attributesOf(options?.attributes), options?.startTime),
  };
}

/** The instrumenter to pass to @azure/core-tracing's `useInstrumenter` once the SDK runs. */
export function createAzureInstrumenter(): Instrumenter {
  return {
    startSpan(name: string, options: InstrumenterSpanOptions) {
      const parent = asContext(options.tracingContext);
      if (trace.getSpan(parent)?.isRecording() !== true) return { span: NOT_RECORDING, tracingContext: parent };
      const span = trace.getTracer(options.packageName, options.packageVersion).startSpan(
        name,
        { kind: KINDS[options.spanKind ?? 'client'] ?? SpanKind.CLIENT, attributes: attributesOf(options.spanAttributes) },
        parent,
      );
      return { span: wrap(span), tracingContext: trace.setSpan(parent, span) };
    },
    withContext(tracingContext, callback, ...callbackArgs) {
      return context.with(asContext(tracingContext), callback, undefined, ...callbackArgs);
    },
    parseTraceparentHeader(header) {
      const parent = parseTraceparent(header);
      return parent === null ? undefined : trace.setSpanContext(context.active(), { ...parent, isRemote: true });
    },
    createRequestHeaders(tracingContext): Record<string, string> {
      // Azure Storage logs the traceparent of each request: its diagnostic logs then name the span.
      const spanContext = trace.getSpanContext(asContext(tracingContext));
      return spanContext !== undefined && isSpanContextValid(spanContext) ? { traceparent: formatTraceparent(spanContext) } : {};
    },
  };
}
