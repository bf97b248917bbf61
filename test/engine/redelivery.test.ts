import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEnvelope, encodeEnvelope } from '../../src/storage/envelope.js';
import { callbackQueueName } from '../../src/config/callback-queue.js';
import { Callbacks } from '../../src/engine/callbacks.js';
import { Completions } from '../../src/engine/completions.js';
import { createFlows } from '../../src/engine/flows.js';
import { StepRunner } from '../../src/engine/step-runner.js';
import { createOutboundHttp } from '../../src/http/agent.js';
import { createLogger } from '../../src/observability/log.js';
import { Throughput } from '../../src/observability/throughput.js';
import { DlqTable, type DlqEntry } from '../../src/storage/dlq-table.js';
import { PayloadStore } from '../../src/storage/payloads.js';
import { createStepQueue, type StepQueue } from '../../src/storage/queues.js';
import { StatusTable } from '../../src/storage/status-table.js';
import { clientsFor } from '../support/azurite.js';
import { echo } from '../support/endpoints.js';
import { configOf, engineSuite, flowDocument, getStatus, submit, waitForStatus, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

const redelivery = (rules: object): Record<string, unknown> => ({ 'redelivery.config': rules });

async function dlqEntries(engine: TestEngine, flow = 'flow'): Promise<DlqEntry[]> {
  return (await new DlqTable(engine.runtime.storage.clients.dlqTable).list(flow, 100, null, AbortSignal.timeout(10_000))).items;
}

describe('redelivery and dead-lettering', () => {
  const suite = engineSuite();

  it('a 502 rule with count 2 and delay 1000: three calls spaced by at least the delay, then success', async () => {
    const server = await suite.endpoint((call, i) => (i < 2 ? { status: 502, body: 'bad gateway' } : echo(call, i)));
    const e = await suite.engine(
      flowDocument(suite.azurite, { steps: [{ url: server.url() }], extra: redelivery({ default: { count: 0, delay: 0 }, additional: [{ httpStatus: 502, count: 2, delay: 1000 }] }) }),
    );
    const id = await submit(e, 'flow', '{"ok":true}');
    await eventually(async () => assert.equal((await getStatus(e, id))['status'], 'retrying'), { timeoutInMs: 30_000 });
    const retrying = await getStatus(e, id);
    assert.equal(retrying['attempt'], 2, 'the status names the attempt to come');
    assert.equal(retrying['lastHttpStatus'], 502);
    assert.match(String(retrying['error']), /HTTP 502: bad gateway/);

    const done = await waitForStatus(e, id, 'completed');
    assert.equal(done['attempt'], 3);
    assert.equal(server.calls.length, 3);
    for (const i of [1, 2]) {
      const gap = server.calls[i]!.startedAt - server.calls[i - 1]!.endedAt!;
      assert.ok(gap >= 950, `attempt ${i + 1} came ${gap} ms after the previous one ended`);
    }
    assert.equal(server.calls[2]!.headers['idempotency-key'], `${id}:0`, 'the same key on every attempt');
    assert.equal(e.logged('step.retry_scheduled').length, 2);
  });

  it('a "5xx" exponential rule without jitter: a 503 twice, then success, the second wait twice the first', async () => {
    const server = await suite.endpoint((call, i) => (i < 2 ? { status: 503, body: 'unavailable' } : echo(call, i)));
    const e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: server.url() }],
        extra: redelivery({ default: { count: 0, delay: 0 }, additional: [{ httpStatus: '5xx', count: 3, delay: 1000, backoff: 'exponential', jitter: false }] }),
      }),
    );
    const id = await submit(e, 'flow', '{"ok":true}');
    const done = await waitForStatus(e, id, 'completed', 60_000);
    assert.equal(done['attempt'], 3);
    assert.equal(server.calls.length, 3);
    assert.deepEqual(e.logged('step.retry_scheduled').map((line) => line['retryInMs']), [1000, 2000], 'delay, then twice delay');
    // Lower bounds only: a busy machine makes waits longer, never shorter.
    const gaps = [1, 2].map((i) => server.calls[i]!.startedAt - server.calls[i - 1]!.endedAt!);
    assert.ok(gaps[0]! >= 950, `the first redelivery came ${gaps[0]} ms after the first call ended`);
    assert.ok(gaps[1]! >= 1950, `the second redelivery came ${gaps[1]} ms after the second call ended`);
  });

  it('an exact status rule wins over its class: a 503 under "5xx" count 3 and 503 count 0 is dead-lettered after one call', async () => {
    const server = await suite.endpoint(() => ({ status: 503 }));
    const rules = { default: { count: 3, delay: 0 }, additional: [{ httpStatus: '5xx', count: 3, delay: 0 }, { httpStatus: 503, count: 0, delay: 0 }] };
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: server.url() }], extra: redelivery(rules) }));
    const id = await submit(e, 'flow', '{}');
    await waitForStatus(e, id, 'dead-lettered');
    assert.equal(server.calls.length, 1);
    assert.equal((await dlqEntries(e))[0]!.reason, 'exhausted');
  });

  it('a 500 under a default of count 1: two calls, then the DLQ with attempts 2 and lastHttpStatus 500, and the result answers 502', async () => {
    const server = await suite.endpoint(() => ({ status: 500, body: 'boom' }));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: server.url() }], extra: redelivery({ default: { count: 1, delay: 0 } }) }));
    const id = await submit(e, 'flow', '{}');
    const status = await waitForStatus(e, id, 'dead-lettered');
    assert.equal(server.calls.length, 2);
    assert.equal(status['lastHttpStatus'], 500);

    const [entry, ...others] = await dlqEntries(e);
    assert.equal(others.length, 0);
    assert.equal(entry!.requestId, id);
    assert.equal(entry!.reason, 'exhausted');
    assert.equal(entry!.attempts, 2);
    assert.equal(entry!.lastHttpStatus, 500);
    assert.equal(entry!.step, 0);
    assert.equal(entry!.endpoint, server.url());
    assert.match(entry!.error, /HTTP 500: boom/);
    assert.equal(entry!.replay.kind, 'request');

    const result = await fetch(`${e.url}/api/requests/${id}/result`);
    assert.equal(result.status, 502);
    assert.equal(result.headers.get('content-type'), 'application/problem+json');
    assert.match(String(((await result.json()) as { detail: string }).detail), /dead-lettered at step 0/);
  });

  it('a 400 rule with count 0: one call, then the DLQ', async () => {
    const server = await suite.endpoint(() => ({ status: 400, body: 'no' }));
    const e = await suite.engine(
      flowDocument(suite.azurite, { steps: [{ url: server.url() }], extra: redelivery({ default: { count: 5, delay: 0 }, additional: [{ httpStatus: 400, count: 0, delay: 0 }] }) }),
    );
    const id = await submit(e, 'flow', '{}');
    await waitForStatus(e, id, 'dead-lettered');
    assert.equal(server.calls.length, 1);
    assert.equal((await dlqEntries(e))[0]!.attempts, 1);
  });

  it('keeps an endpoint\'s error text in the status row and the DLQ entry, never in a log line', async () => {
    const quoted = 'declined: card 4111 1111 1111 1111 has expired';
    const server = await suite.endpoint(() => ({ status: 422, body: quoted }));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: server.url() }], extra: redelivery({ default: { count: 1, delay: 0 } }) }));
    const id = await submit(e, 'flow', '{"card":"4111 1111 1111 1111"}');
    const status = await waitForStatus(e, id, 'dead-lettered');
    assert.match(String(status['error']), /card 4111 1111 1111 1111/, 'the status row keeps what the endpoint said');
    assert.match((await dlqEntries(e))[0]!.error, /card 4111 1111 1111 1111/);
    const [retried] = e.logged('step.retry_scheduled');
    assert.equal(retried?.['httpStatus'], 422, 'the log says what happened');
    assert.ok(!JSON.stringify(e.logs).includes('4111'), 'no log line carries the answer\'s text');
  });

  it('a socket time-out follows the default rule', async () => {
    const server = await suite.endpoint((call, i) => (i === 0 ? { ...echo(call, i), delayInMs: 2000 } : echo(call, i)));
    const e = await suite.engine(
      flowDocument(suite.azurite, {
        steps: [{ url: server.url() }],
        extra: { ...redelivery({ default: { count: 1, delay: 0 }, additional: [{ httpStatus: 504, count: 0, delay: 0 }] }), 'http.connection.config': { socketTimeout: 300 } },
      }),
    );
    const id = await submit(e, 'flow', '{}');
    const status = await waitForStatus(e, id, 'completed');
    assert.equal(status['attempt'], 2);
    assert.equal(server.calls.length, 2);
    const retry = e.logged('step.retry_scheduled')[0]!;
    assert.equal(retry['code'], 'UND_ERR_HEADERS_TIMEOUT');
  });

  it('dead-letters a redelivery that would outlive the queue\'s timeToLive as expired', async () => {
    const server = await suite.endpoint(() => ({ status: 503 }));
    // timeToLive 0.001 h = 3.6 s; a 60 s redelivery delay cannot fit.
    const e = await suite.engine(
      flowDocument(suite.azurite, { steps: [{ url: server.url() }], queue: { timeToLive: 0.001 }, extra: redelivery({ default: { count: 3, delay: 60_000 } }) }),
    );
    const id = await submit(e, 'flow', '{}');
    await waitForStatus(e, id, 'dead-lettered');
    assert.equal(server.calls.length, 1);
    assert.equal((await dlqEntries(e))[0]!.reason, 'expired');
  });

  it('sends poison messages put straight on a queue to the DLQ with their raw text, and goes on working', async () => {
    const server = await suite.endpoint(echo);
    const doc = flowDocument(suite.azurite, { steps: [{ url: server.url() }] });
    const entryQueue = configOf(doc).flows[0]!.steps[0]!.sourceQueueName;
    const queue = clientsFor(suite.azurite).queues.getQueueClient(entryQueue);
    const e = await suite.engine(doc);
    const poison = [
      'this is not base64 at all!',
      Buffer.from('{"v":1,"requestId":').toString('base64'),
      encodeEnvelope({
        v: 1,
        requestId: '00000000-0000-4000-8000-000000000001',
        flow: 'another-flow',
        step: 0,
        attempt: 1,
        contentType: 'application/json',
        statusEtag: 'W/"x"',
        traceparent: null,
        callbackUrl: null,
        acceptedAt: new Date().toISOString(),
        body: { kind: 'inline', encoding: 'utf8', data: '{}' },
        blobs: [],
      }),
    ];
    await queue.create().catch(() => undefined);
    for (const text of poison) await queue.sendMessage(text);
    const id = await submit(e, 'flow', '{"fine":true}');

    await waitForStatus(e, id, 'completed');
    const entries = await eventually(
      async () => {
        const found = await dlqEntries(e);
        assert.equal(found.length, 3);
        return found;
      },
      { timeoutInMs: 30_000 },
    );
    assert.deepEqual(entries.map((x) => x.reason), ['poison', 'poison', 'poison']);
    assert.deepEqual(entries.map((x) => (x.replay.kind === 'raw' ? x.replay.messageText : null)).sort(), [...poison].sort());
    const errorOf = (text: string): string => entries.find((x) => x.replay.kind === 'raw' && x.replay.messageText === text)!.error;
    assert.match(errorOf(poison[0]!), /not a base64-encoded JSON envelope/);
    assert.match(errorOf(poison[1]!), /not a base64-encoded JSON envelope/);
    assert.match(errorOf(poison[2]!), /is for flow "another-flow" step 0/);
    assert.ok(entries.every((x) => x.requestId === null));
    assert.equal(server.calls.length, 1, 'no endpoint saw a poison message');
  });

  it('sends a message received more than maxDequeueCount times beyond its attempts to the DLQ as poison', async () => {
    const server = await suite.endpoint(echo);
    const doc = flowDocument(suite.azurite, { steps: [{ url: server.url() }], queue: { maxDequeueCount: 2 } });
    const stopped = await suite.engine(doc);
    await stopped.runtime.engine.close();
    const id = await submit(stopped, 'flow', '{}');
    // Two receives that never finish, as if two engines had crashed on the message.
    const queue = createStepQueue(clientsFor(suite.azurite).queues.getQueueClient(configOf(doc).flows[0]!.steps[0]!.sourceQueueName));
    for (let i = 0; i < 2; i++) {
      const [message] = await queue.receive(1, { visibilityTimeoutInMs: 30_000, abortSignal: AbortSignal.timeout(10_000) });
      await queue.updateVisibility(message!.messageId, message!.popReceipt, 0, AbortSignal.timeout(10_000));
    }
    const e = await suite.engine(doc);
    const status = await waitForStatus(e, id, 'dead-lettered');
    assert.match(String(status['error']), /received 3 times for 1 attempt/);
    const [entry] = await dlqEntries(e);
    assert.equal(entry!.reason, 'poison');
    assert.equal(entry!.requestId, id);
    assert.equal(entry!.replay.kind, 'request', 'a poison request keeps what a replay needs');
    assert.equal(server.calls.length, 0);
  });

  it('leaves one DLQ entry when the engine crashes between the DLQ write and the delete', async () => {
    const server = await suite.endpoint(() => ({ status: 400 }));
    const doc = flowDocument(suite.azurite, { steps: [{ url: server.url() }], queue: { visibilityTimeout: 1 }, extra: redelivery({ default: { count: 0, delay: 0 } }) });
    const config = configOf(doc);
    const stopped = await suite.engine(doc);
    await stopped.runtime.engine.close();
    const id = await submit(stopped, 'flow', '{}');

    // A runner of our own, whose queue fails the delete once, as a crash at that point would.
    const clients = stopped.runtime.storage.clients;
    const definition = config.flows[0]!.steps[0]!;
    const queue = createStepQueue(clients.queues.getQueueClient(definition.sourceQueueName));
    let crashes = 1;
    const crashingQueue: StepQueue = {
      ...queue,
      delete: async (...args) => {
        if (crashes-- > 0) throw new Error('simulated crash before the delete');
        return queue.delete(...args);
      },
    };
    const http = createOutboundHttp(config.http, config.payload.maxResponseBytes);
    suite.onClose(() => http.agent.close());
    const statusTable = new StatusTable(clients.statusTable);
    const payloads = new PayloadStore({ container: clients.payloads, inlineLimitBytes: config.payload.inlineLimitBytes });
    const log = createLogger({ level: 'silent' });
    const [step] = [...createFlows(config.flows, config.queues, () => crashingQueue).values()][0]!.steps;
    const runner = new StepRunner({
      step: step!,
      statusTable,
      dlqTable: new DlqTable(clients.dlqTable),
      payloads,
      http,
      redelivery: config.redelivery,
      callbacks: new Callbacks({
        queue: createStepQueue(clients.queues.getQueueClient(callbackQueueName(config.tables.statusTable))),
        stepQueues: [],
        concurrency: 1,
        http,
        statusTable,
        payloads,
        timeoutInMs: 1000,
        retries: 0,
        allowedHosts: [],
        ownAddresses: () => [],
        workSignal: new AbortController().signal,
        log,
      }),
      completions: new Completions(),
      platformToken: null,
      inlineLimitBytes: config.payload.inlineLimitBytes,
      throughput: new Throughput({ flows: config.flows }),
      demoBaseUrl: () => null,
      log,
    });
    const runOnce = async (): Promise<void> => {
      const [message] = await eventually(
        async () => {
          const received = await queue.receive(1, { visibilityTimeoutInMs: 1000, abortSignal: AbortSignal.timeout(10_000) });
          assert.equal(received.length, 1);
          return received;
        },
        { timeoutInMs: 20_000, intervalInMs: 200 },
      );
      assert.equal(decodeEnvelope(message!.messageText).requestId, id);
      await runner.run(message!, new AbortController().signal);
    };

    await runOnce(); // status dead-lettered, DLQ entry written, "crash" before the delete
    assert.equal((await dlqEntries(stopped)).length, 1);
    await runOnce(); // the message came back: the same entry again, then the delete
    assert.equal((await dlqEntries(stopped)).length, 1, 'still one entry');
    assert.equal((await queue.receive(1, { visibilityTimeoutInMs: 1000, abortSignal: AbortSignal.timeout(10_000) })).length, 0, 'the message is gone');
    assert.equal((await getStatus(stopped, id))['status'], 'dead-lettered');
  });
});
