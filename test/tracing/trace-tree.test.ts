/**
 * Tracing on, in this test process (node --test runs each file in a process of its own): the SDK is
 * started as the command line starts it, exporting OTLP/JSON to a collector on 127.0.0.1, and the
 * engines of the suite run with it. What the collector receives is checked: one trace per request
 * with the spans in their tree, the traceparent each endpoint receives, the error statuses, the
 * replay's new trace with its link, and what becomes of malformed trace context from clients and
 * queue messages.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/observability/log.js';
import { startTracing, type Tracing, tracingSettingsOf } from '../../src/observability/tracing.js';
import { ENVELOPE_VERSION, encodeEnvelope } from '../../src/storage/envelope.js';
import { echo, type EndpointServer } from '../support/endpoints.js';
import { engineSuite, flowDocument, submit, type TestEngine, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { OtlpCollector, type ReceivedSpan, SPAN_KIND, STATUS_CODE } from '../support/otlp-collector.js';
import { checkRequestTree, clientSpanOfCall, countOf, isStorageSpan, named, stepSpans, submitSpanOf as submitSpanIn, traceOnce as traceIn, traceparentOf } from '../support/traces.js';

const SPAN_WAIT = { timeoutInMs: 30_000 };

let collector: OtlpCollector;
let tracing: Tracing | null = null;

before(async () => {
  collector = await OtlpCollector.start();
  // What an operator sets; the batch processor sends every 50 ms so that tests need not wait.
  Object.assign(process.env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_SERVICE_NAME: 'engine-under-test',
  });
  const { settings, problems } = tracingSettingsOf(process.env);
  assert.deepEqual(problems, []);
  tracing = await startTracing(settings, createLogger({ level: 'silent' }));
  assert.ok(tracing, 'tracing started');
});

after(async () => {
  await tracing?.close(AbortSignal.timeout(5000));
  await collector.close();
});

const submitSpanOf = (id: string): Promise<ReceivedSpan> => submitSpanIn(collector, id);
const traceOnce = (traceId: string, isComplete: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> => traceIn(collector, traceId, isComplete);

describe('tracing: one trace per request', () => {
  const suite = engineSuite();

  it('carries a 3-step request with one retry in one trace: submit, a consumer span per attempt, a client span per call, a retry span', async () => {
    const endpoints = [await suite.endpoint(), await suite.endpoint((call, i) => (i === 0 ? { status: 503 } : echo(call, i))), await suite.endpoint()];
    const e = await suite.engine(
      flowDocument(suite.azurite, { flowName: 'traced', steps: endpoints.map((endpoint) => ({ url: endpoint.url() })), extra: { 'redelivery.config': { default: { count: 2, delay: 0 } } } }),
    );
    const id = await submit(e, 'traced', '{"n":1}');
    await waitForStatus(e, id, 'completed');
    const submitSpan = await submitSpanOf(id);
    // The tree: submission, an attempt per step (two of step 1), a call under each, the retry under the 503.
    const spans = await checkRequestTree(collector, submitSpan, { flow: 'traced', requestId: id, endpoints, failedAttempts: [[false], [true, false], [false]] });

    // The submission: the root, a server span named after its route.
    assert.equal(submitSpan.parentSpanId, '', 'no client traceparent: the submission starts the trace');
    assert.equal(submitSpan.attributes['http.request.method'], 'POST');
    assert.equal(submitSpan.attributes['http.route'], '/api/flows/{flowName}');
    assert.equal(submitSpan.attributes['http.response.status_code'], 202);
    assert.equal(submitSpan.attributes['async_engine.flow'], 'traced');
    assert.equal(submitSpan.resource['service.name'], 'engine-under-test');
    assert.equal(submitSpan.contentType, 'application/json');

    // The attempts' messaging attributes and outcomes.
    const queues = e.runtime.flows.get('traced')?.steps.map((step) => step.source.queue.name) ?? [];
    const attempts = [0, 1, 2].map((step) => stepSpans(spans, 'traced', step));
    for (const [step, list] of attempts.entries()) {
      for (const span of list) {
        assert.equal(span.attributes['messaging.system'], 'azure_storage_queues');
        assert.equal(span.attributes['messaging.operation.type'], 'process');
        assert.equal(span.attributes['messaging.destination.name'], queues[step]);
        assert.match(String(span.attributes['messaging.message.id']), /\S/);
        assert.equal(span.attributes['async_engine.request_id'], id);
        assert.equal(span.attributes['async_engine.flow'], 'traced');
        assert.equal(span.attributes['async_engine.step'], step);
      }
    }
    assert.deepEqual(
      attempts.flat().map((s) => s.attributes['async_engine.outcome']),
      ['forwarded', 'retry_scheduled', 'forwarded', 'completed'],
    );
    assert.equal(attempts[1]![0]!.attributes['messaging.message.id'], attempts[1]![1]!.attributes['messaging.message.id'], 'a retry is the same message again');
    assert.equal(named(spans, 'retry scheduled')[0]?.attributes['async_engine.attempt'], 2);

    // The client spans' attributes; no tracestate came in, so none goes out.
    for (const [step, endpoint] of endpoints.entries()) {
      for (const [i, call] of endpoint.calls.entries()) {
        const client = clientSpanOfCall(spans, call);
        const isFailed = step === 1 && i === 0;
        assert.equal(client.attributes['http.request.method'], 'POST');
        assert.equal(client.attributes['url.full'], endpoint.url());
        assert.equal(client.attributes['server.address'], '127.0.0.1');
        assert.equal(client.attributes['http.response.status_code'], isFailed ? 503 : 200);
        assert.equal(client.status.code, isFailed ? STATUS_CODE.error : STATUS_CODE.unset);
        assert.equal(call.headers['tracestate'], undefined);
      }
    }

    // Storage calls made within the request's spans are spans of the trace too.
    const storage = spans.filter(isStorageSpan);
    assert.ok(storage.some((s) => s.parentSpanId === submitSpan.spanId), 'the submission\'s storage calls');
    const stepSpanIds = new Set(attempts.flat().map((s) => s.spanId));
    assert.ok(storage.some((s) => stepSpanIds.has(s.parentSpanId)), 'the steps\' storage calls');
    assert.ok(storage.some((s) => s.kind === SPAN_KIND.client && /^HTTP /.test(s.name)), 'HTTP client spans of the storage calls');
    const spanIds = new Set(spans.map((s) => s.spanId));
    assert.deepEqual(
      spans.filter((s) => s !== submitSpan && !spanIds.has(s.parentSpanId)).map((s) => s.name),
      [],
      'every span but the submission has its parent in the trace',
    );

    // Log lines about the request carry its trace and the span they were written in; pid and hostname stay.
    const accepted = e.logged('request.accepted').find((l) => l['requestId'] === id);
    assert.equal(accepted?.['trace_id'], submitSpan.traceId);
    assert.equal(accepted?.['span_id'], submitSpan.spanId);
    const completed = e.logged('step.completed').find((l) => l['requestId'] === id);
    assert.equal(completed?.['trace_id'], submitSpan.traceId);
    assert.equal(completed?.['span_id'], attempts[2]![0]!.spanId);
    assert.equal(completed?.['pid'], process.pid);
    assert.equal(typeof completed?.['hostname'], 'string');
  });

  it('never starts a trace for a storage call outside a request: polls, sweeps and probes make no span', async () => {
    const endpoint = await suite.endpoint();
    const e = await suite.engine(flowDocument(suite.azurite, { flowName: 'quiet', steps: [{ url: endpoint.url() }] }));
    await waitForStatus(e, await submit(e, 'quiet', '{}'), 'completed');
    for (const path of ['/actuator/health', '/actuator/prometheus', '/api/flows']) assert.equal((await fetch(`${e.url}${path}`)).status, 200);
    await tracing?.flush(AbortSignal.timeout(10_000));
    assert.deepEqual(
      collector.spans.filter((s) => s.parentSpanId === '' && isStorageSpan(s)).map((s) => s.name),
      [],
    );
  });

  it('continues a client\'s trace: the submission is a child of its traceparent and the endpoints receive its tracestate', async () => {
    const endpoint = await suite.endpoint();
    const e = await suite.engine(flowDocument(suite.azurite, { flowName: 'joined', steps: [{ url: endpoint.url() }, { url: endpoint.url() }] }));
    const clientTraceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpanId = '00f067aa0ba902b7';
    const id = await submit(e, 'joined', '{}', { traceparent: `00-${clientTraceId}-${clientSpanId}-01`, tracestate: 'vendor=opaque,other@tenant=x' });
    await waitForStatus(e, id, 'completed');
    const submitSpan = await submitSpanOf(id);
    assert.equal(submitSpan.traceId, clientTraceId, 'the client\'s trace id');
    assert.equal(submitSpan.parentSpanId, clientSpanId, 'a child of the client\'s span');
    const spans = await traceOnce(clientTraceId, (all) => countOf(all, 'POST') === 2);
    for (const call of endpoint.calls) {
      const client = clientSpanOfCall(spans, call);
      assert.equal(client.traceId, clientTraceId);
      assert.equal(call.headers['tracestate'], 'vendor=opaque,other@tenant=x');
    }
  });

  it('starts a trace of its own for a malformed, oversized or all-zero traceparent, and forwards no malformed tracestate', async () => {
    const endpoint = await suite.endpoint();
    const e = await suite.engine(flowDocument(suite.azurite, { flowName: 'wary', steps: [{ url: endpoint.url() }] }));
    const cases: Array<Record<string, string>> = [
      { traceparent: 'garbage', tracestate: 'vendor=x' },
      { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01${'x'.repeat(8000)}` },
      { traceparent: `00-${'0'.repeat(32)}-b7ad6b7169203331-01` },
      { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: `big=${'x'.repeat(600)}` },
      { traceparent: '00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203332-01', tracestate: 'Upper=case,bad key=1' },
    ];
    const ids: string[] = [];
    for (const headers of cases) {
      const id = await submit(e, 'wary', '{}', headers);
      ids.push(id);
      await waitForStatus(e, id, 'completed');
    }
    for (const [i, id] of ids.entries()) {
      const submitSpan = await submitSpanOf(id);
      const isValidParent = i >= 3;
      assert.equal(submitSpan.parentSpanId, isValidParent ? cases[i]!['traceparent']!.slice(36, 52) : '', `case ${i}`);
      const spans = await traceOnce(submitSpan.traceId, (all) => countOf(all, 'POST') === 1);
      const call = endpoint.calls[i]!;
      assert.equal(clientSpanOfCall(spans, call).traceId, submitSpan.traceId);
      assert.equal(call.headers['tracestate'], undefined, `case ${i}: no tracestate reaches the endpoint`);
    }
  });

  it('marks a dead-lettered request: its attempt and the dead-letter span have error status', async () => {
    const endpoint = await suite.endpoint(() => ({ status: 400, body: 'no' }));
    const e = await suite.engine(flowDocument(suite.azurite, { flowName: 'doomed', steps: [{ url: endpoint.url() }], extra: { 'redelivery.config': { default: { count: 0, delay: 0 } } } }));
    const id = await submit(e, 'doomed', '{}');
    await waitForStatus(e, id, 'dead-lettered');
    const submitSpan = await submitSpanOf(id);
    // A parent ends after its children: the consumer span is the last to come.
    const spans = await traceOnce(submitSpan.traceId, (all) => countOf(all, 'dead-letter') === 1 && stepSpans(all, 'doomed', 0).length === 1);
    const [attempt] = stepSpans(spans, 'doomed', 0);
    const [deadLetter] = named(spans, 'dead-letter');
    assert.equal(attempt?.status.code, STATUS_CODE.error);
    assert.equal(attempt?.attributes['async_engine.outcome'], 'dead_lettered');
    assert.equal(deadLetter?.parentSpanId, attempt?.spanId);
    assert.equal(deadLetter?.status.code, STATUS_CODE.error);
    assert.match(deadLetter?.status.message ?? '', /^exhausted: HTTP 400/);
    assert.equal(deadLetter?.attributes['async_engine.dlq.reason'], 'exhausted');
    assert.match(String(deadLetter?.attributes['async_engine.dlq.id']), /\S/);
  });

  it('replays a dead-lettered request in a new trace linked to the original', async () => {
    const endpoint = await suite.endpoint(() => ({ status: 500 }));
    const e = await suite.engine(flowDocument(suite.azurite, { flowName: 'again', steps: [{ url: endpoint.url() }], extra: { 'redelivery.config': { default: { count: 0, delay: 0 } } } }));
    const id = await submit(e, 'again', '{}');
    await waitForStatus(e, id, 'dead-lettered');
    const original = await submitSpanOf(id);
    const dlq = (await (await fetch(`${e.url}/api/dlq?flow=again`)).json()) as { items: Array<{ dlqId: string }> };
    endpoint.setHandler(echo);
    assert.equal((await fetch(`${e.url}/api/dlq/${dlq.items[0]!.dlqId}/replay`, { method: 'POST' })).status, 202);
    await waitForStatus(e, id, 'completed');

    const replay = await eventually(() => {
      const span = collector.spans.find((s) => s.name === 'again replay' && s.attributes['async_engine.request_id'] === id);
      assert.ok(span);
      return span;
    }, SPAN_WAIT);
    assert.notEqual(replay.traceId, original.traceId, 'a new trace');
    assert.equal(replay.parentSpanId, '');
    assert.deepEqual(replay.links, [{ traceId: original.traceId, spanId: original.spanId }], 'linked to the submission it replays');
    const spans = await traceOnce(replay.traceId, (all) => countOf(all, 'POST') === 1 && stepSpans(all, 'again', 0).length === 1);
    const [attempt] = stepSpans(spans, 'again', 0);
    assert.equal(attempt?.parentSpanId, replay.spanId, 'the replayed step runs under the replay');
    assert.equal(clientSpanOfCall(spans, endpoint.calls[1]!).parentSpanId, attempt?.spanId);
  });
});

describe('tracing: untrusted trace context in queue messages', () => {
  const suite = engineSuite();

  /** A message as someone with write access to the queue could write it, for a request without a row. */
  async function forge(e: TestEngine, trace: { traceparent: string | null; tracestate?: string }): Promise<string> {
    const queue = e.runtime.flows.get('forged')?.steps[0]?.source.queue;
    assert.ok(queue);
    const text = encodeEnvelope({
      v: ENVELOPE_VERSION,
      requestId: randomUUID(),
      flow: 'forged',
      step: 0,
      attempt: 1,
      contentType: 'application/json',
      statusEtag: 'W/"datetime\'2020-01-01T00%3A00%3A00.0000000Z\'"',
      ...trace,
      callbackUrl: null,
      acceptedAt: new Date().toISOString(),
      body: { kind: 'inline', encoding: 'utf8', data: '{}' },
      blobs: [],
    });
    const { messageId } = await e.runtime.storage.clients.queues.getQueueClient(queue.name).sendMessage(text);
    return messageId;
  }

  async function consumerSpanOf(messageId: string): Promise<ReceivedSpan> {
    return eventually(() => {
      const span = collector.spans.find((s) => s.kind === SPAN_KIND.consumer && s.attributes['messaging.message.id'] === messageId);
      assert.ok(span);
      return span;
    }, SPAN_WAIT);
  }

  it('ignores a traceparent that is not W3C Trace Context, says why, and runs the message in a trace of its own', async () => {
    const endpoint = await suite.endpoint();
    const e: TestEngine = await suite.engine(flowDocument(suite.azurite, { flowName: 'forged', steps: [{ url: endpoint.url() }] }));
    const bad = ['00-zzzz-b7ad6b7169203331-01', `ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01', 'a\r\nb'];
    for (const traceparent of bad) {
      const messageId = await forge(e, { traceparent, tracestate: 'vendor=x' });
      const span = await consumerSpanOf(messageId);
      assert.equal(span.parentSpanId, '', `${JSON.stringify(traceparent)}: a root`);
      const spans = await traceOnce(span.traceId, (all) => countOf(all, 'POST') === 1);
      const call = endpoint.calls.find((c) => spans.some((s) => s.kind === SPAN_KIND.client && traceparentOf(s) === c.headers['traceparent']));
      assert.ok(call, 'the endpoint received the traceparent of its client span');
      assert.equal(call.headers['tracestate'], undefined, 'no tracestate without its traceparent');
    }
    assert.equal(endpoint.calls.length, bad.length, 'each forged message was still processed (and found stale)');
    const ignored = e.logged('step.trace_context_ignored');
    assert.equal(ignored.length, bad.length);
    for (const line of ignored) assert.match(String(line['reason']), /^traceparent .* is not W3C Trace Context$/);
  });

  it('keeps a valid traceparent and drops an oversized or malformed tracestate', async () => {
    const endpoint: EndpointServer = await suite.endpoint();
    const e: TestEngine = await suite.engine(flowDocument(suite.azurite, { flowName: 'forged', steps: [{ url: endpoint.url() }] }));
    const traceparent = '00-11112222333344445555666677778888-1111222233334444-01';
    const messageId = await forge(e, { traceparent, tracestate: `a=${'x'.repeat(3000)}` });
    const span = await consumerSpanOf(messageId);
    assert.equal(span.traceId, '11112222333344445555666677778888');
    assert.equal(span.parentSpanId, '1111222233334444');
    await traceOnce(span.traceId, (all) => countOf(all, 'POST') === 1);
    assert.equal(endpoint.calls[0]?.headers['tracestate'], undefined);
    assert.match(String(e.logged('step.trace_context_ignored')[0]?.['reason']), /^tracestate .* is not W3C Trace Context$/);
  });
});
