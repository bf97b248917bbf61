/**
 * Reading the traces an OtlpCollector received: finding a request's trace, and checking the tree of
 * one request through a flow (the README's "Tracing" section draws it).
 */
import assert from 'node:assert/strict';
import type { EndpointServer, RecordedCall } from './endpoints.js';
import { eventually } from './eventually.js';
import { type OtlpCollector, type ReceivedSpan, SPAN_KIND, STATUS_CODE } from './otlp-collector.js';

const SPAN_WAIT = { timeoutInMs: 30_000 };

export const named = (spans: ReceivedSpan[], name: string): ReceivedSpan[] => spans.filter((s) => s.name === name);
export const countOf = (spans: ReceivedSpan[], name: string): number => named(spans, name).length;
/** The traceparent a call made under `span` carries. */
export const traceparentOf = (span: ReceivedSpan): string => `00-${span.traceId}-${span.spanId}-01`;
/** Spans the Azure SDK made for storage calls. */
export const isStorageSpan = (span: ReceivedSpan): boolean => span.scope.startsWith('@azure/');

/** The server span of request `id`'s submission, once it has arrived. */
export async function submitSpanOf(collector: OtlpCollector, id: string): Promise<ReceivedSpan> {
  return eventually(() => {
    const span = collector.spans.find((s) => s.kind === SPAN_KIND.server && s.attributes['async_engine.request_id'] === id);
    assert.ok(span, `the submit span of ${id}`);
    return span;
  }, SPAN_WAIT);
}

/** The spans of one trace once `isComplete` holds for them (a parent ends, and comes, after its children). */
export async function traceOnce(collector: OtlpCollector, traceId: string, isComplete: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
  return eventually(() => {
    const spans = collector.trace(traceId);
    assert.ok(isComplete(spans), `trace ${traceId} has ${spans.length} spans so far: ${spans.map((s) => s.name).join(', ')}`);
    return spans;
  }, SPAN_WAIT);
}

/** The consumer spans of one step of `flow`, in attempt order. */
export function stepSpans(spans: ReceivedSpan[], flow: string, step: number): ReceivedSpan[] {
  return named(spans, `${flow} step ${step}`).sort((a, b) => Number(a.attributes['async_engine.attempt']) - Number(b.attributes['async_engine.attempt']));
}

/** The client span whose context an endpoint call received as its traceparent. */
export function clientSpanOfCall(spans: ReceivedSpan[], call: RecordedCall): ReceivedSpan {
  const span = spans.find((s) => s.kind === SPAN_KIND.client && traceparentOf(s) === call.headers['traceparent']);
  assert.ok(span, `a client span is the traceparent ${String(call.headers['traceparent'])} the endpoint received`);
  return span;
}

export interface RequestTree {
  flow: string;
  requestId: string;
  /** The endpoint of each step, in order; each answered every call of this request. */
  endpoints: EndpointServer[];
  /** Per step, whether each attempt failed (a retry follows a failed one). */
  failedAttempts: boolean[][];
}

/**
 * Waits for the whole trace of one request and checks its tree: the submission's server span at
 * the top; under it, one consumer span per attempt of each step; under each attempt, the client
 * span of its endpoint call, whose context is the traceparent the endpoint received, and a "retry
 * scheduled" span under each failed attempt. Returns the trace's spans.
 */
export async function checkRequestTree(collector: OtlpCollector, submitSpan: ReceivedSpan, tree: RequestTree): Promise<ReceivedSpan[]> {
  const attemptCount = tree.failedAttempts.flat().length;
  const failedCount = tree.failedAttempts.flat().filter(Boolean).length;
  const spans = await traceOnce(
    collector,
    submitSpan.traceId,
    (all) => all.filter((s) => s.kind === SPAN_KIND.consumer).length === attemptCount && countOf(all, 'POST') === attemptCount && countOf(all, 'retry scheduled') === failedCount,
  );
  assert.equal(submitSpan.name, 'POST /api/flows/{flowName}');
  assert.equal(submitSpan.kind, SPAN_KIND.server);
  for (const [step, failures] of tree.failedAttempts.entries()) {
    const attempts = stepSpans(spans, tree.flow, step);
    assert.deepEqual(
      attempts.map((s) => s.attributes['async_engine.attempt']),
      failures.map((_, i) => i + 1),
      `the attempts of step ${step}`,
    );
    for (const [i, attempt] of attempts.entries()) {
      const where = `step ${step} attempt ${i + 1}`;
      assert.equal(attempt.kind, SPAN_KIND.consumer, where);
      assert.equal(attempt.parentSpanId, submitSpan.spanId, `${where} is a child of the submission`);
      assert.equal(attempt.attributes['messaging.message.conversation_id'], tree.requestId, where);
      assert.equal(attempt.status.code, failures[i] ? STATUS_CODE.error : STATUS_CODE.unset, where);
      const call = tree.endpoints[step]?.calls.filter((c) => c.headers['x-request-id'] === tree.requestId)[i];
      assert.ok(call, `the endpoint call of ${where}`);
      assert.equal(clientSpanOfCall(spans, call).parentSpanId, attempt.spanId, `the call of ${where} is made under it`);
      const retries = named(spans, 'retry scheduled').filter((s) => s.parentSpanId === attempt.spanId);
      assert.equal(retries.length, failures[i] ? 1 : 0, `the retry of ${where}`);
    }
  }
  return spans;
}
