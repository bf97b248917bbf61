/**
 * Callbacks survive what steps survive: a receiver that is down for a while, an engine killed
 * while a callback is pending, a crash between the final status write and the callback message.
 * They are delivered from the callback queue with the status JSON of the outcome they are for, and
 * nothing a message on that queue says can make the engine post anywhere else.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { QueueClient } from '@azure/storage-queue';
import { Throughput } from '../../src/observability/throughput.js';
import { callbackQueueName } from '../../src/config/callback-queue.js';
import { Callbacks } from '../../src/engine/callbacks.js';
import { Completions } from '../../src/engine/completions.js';
import { createFlows } from '../../src/engine/flows.js';
import { StepRunner } from '../../src/engine/step-runner.js';
import { createOutboundHttp } from '../../src/http/agent.js';
import { createLogger } from '../../src/observability/log.js';
import { encodeCallbackMessage } from '../../src/storage/callback-message.js';
import { DlqTable } from '../../src/storage/dlq-table.js';
import { PayloadStore } from '../../src/storage/payloads.js';
import { createStepQueue, type StepQueue } from '../../src/storage/queues.js';
import { StatusTable } from '../../src/storage/status-table.js';
import { spawnRuntime } from '../support/cli.js';
import { writeConfigFile } from '../support/config-docs.js';
import { echo, type EndpointServer, type RecordedCall } from '../support/endpoints.js';
import { configOf, engineSuite, flowDocument, getStatus, submit, type TestEngine, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

const hostOf = (server: EndpointServer): string => new URL(server.url()).host;
const WAIT = { timeoutInMs: 120_000 };

/** The value of one sample line of the Prometheus text (0 when absent). */
async function callbacksTotal(e: TestEngine, outcome: string): Promise<number> {
  const text = await (await fetch(`${e.url}/actuator/prometheus`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`async_engine_callbacks_total{outcome="${outcome}"}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const bodyOf = (call: RecordedCall): Record<string, unknown> => JSON.parse(call.body.toString()) as Record<string, unknown>;

describe('durable callbacks', () => {
  const suite = engineSuite();

  /** A receiver that answers 503 while `isDown`, else 200; each call recorded with its answer. */
  async function receiver(isDownAtFirst: boolean): Promise<{ server: EndpointServer; setDown: (down: boolean) => void; answered: Array<{ call: RecordedCall; status: number }> }> {
    let isDown = isDownAtFirst;
    const answered: Array<{ call: RecordedCall; status: number }> = [];
    const server = await suite.endpoint((call) => {
      const status = isDown ? 503 : 200;
      answered.push({ call, status });
      return { status };
    });
    return { server, setDown: (down) => (isDown = down), answered };
  }

  function documentFor(endpoint: EndpointServer, hook: EndpointServer, callback: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return flowDocument(suite.azurite, {
      steps: [{ url: endpoint.url() }],
      queue: { visibilityTimeout: 1 },
      extra: { 'callback.config': { allowedHosts: [hostOf(hook)], timeout: 2000, retries: 20, ...callback }, ...extra },
    });
  }

  /** The engine's callback queue, named after its status table. */
  function callbackQueueOf(e: TestEngine): QueueClient {
    const { clients } = e.runtime.storage;
    return clients.queues.getQueueClient(callbackQueueName(clients.statusTable.tableName));
  }

  async function callbackStatusOf(e: TestEngine, id: string, expected: string): Promise<Record<string, unknown>> {
    return eventually(async () => {
      const status = await getStatus(e, id);
      assert.equal((status['callback'] as { status: string }).status, expected);
      return status;
    }, WAIT);
  }

  it('delivers a callback whose receiver was down for 5 s and whose engine was killed meanwhile, after a restart, exactly as the status JSON says', async () => {
    const endpoint = await suite.endpoint((call) => ({ body: `done:${call.body.toString()}`, contentType: 'text/plain' }));
    const hook = await receiver(true);
    const doc = documentFor(endpoint, hook.server);
    const file = await writeConfigFile(doc);
    const child = spawnRuntime(file, { healthCacheInMs: 0 });
    suite.onClose(async () => {
      if (child.child.exitCode === null) child.child.kill('SIGKILL');
      await child.exited;
      await rm(path.dirname(file), { recursive: true, force: true });
    });
    const url = await child.startedUrl();
    const downSince = Date.now();
    const id = await submit({ url }, 'flow', '{"n":1}', { 'x-callback-url': hook.server.url('/hook') });

    // The request is completed and its callback has been tried, refused by the receiver and
    // scheduled again: pending. Each callback.failed_attempt is logged once its retry is in the queue.
    const retriesScheduled = (): number => child.logLines().filter((l) => l['msg'] === 'callback.failed_attempt' && l['requestId'] === id).length;
    await eventually(() => assert.ok(retriesScheduled() >= 1), WAIT);
    const pending = await waitForStatus({ url }, id, 'completed');
    assert.deepEqual(pending['callback'], { url: hook.server.url('/hook'), status: 'pending' });
    child.child.kill('SIGKILL');
    await child.exited;
    const scheduledBeforeKill = retriesScheduled();
    assert.ok(hook.answered.every((a) => a.status === 503));

    // The receiver comes back 5 s after it went down; then another engine starts on the same storage.
    await sleep(Math.max(0, downSince + 5000 - Date.now()));
    hook.setDown(false);
    const e = await suite.engine(doc);
    const status = await callbackStatusOf(e, id, 'delivered');

    const delivered = hook.answered.filter((a) => a.status === 200);
    assert.equal(delivered.length, 1, 'delivered once');
    const { call } = delivered[0]!;
    assert.equal(call.headers['x-request-id'], id);
    assert.equal(call.headers['content-type'], 'application/json');
    // What the receiver gets is the status JSON as GET /api/requests/{id} answers it, with the
    // callback still pending (the delivery is recorded after the receiver's answer) and the result.
    assert.deepEqual(bodyOf(call), {
      ...status,
      callback: { url: hook.server.url('/hook'), status: 'pending' },
      result: { contentType: 'text/plain', encoding: 'base64', data: Buffer.from('done:{"n":1}').toString('base64') },
    });
    // The delivery is recorded before it is logged: a busy machine may answer the status read first.
    const line = await eventually(() => {
      const [delivered] = e.logged('callback.delivered');
      assert.ok(delivered, 'callback.delivered logged');
      return delivered;
    }, WAIT);
    assert.equal(line['requestId'], id);
    assert.equal(line['attempt'], scheduledBeforeKill + 1, 'the attempts counted before the kill were kept in the message');
    assert.equal(endpoint.calls.length, 1, 'the step ran once');
  });

  it('gives a callback up after its retries: failed, logged callback.given_up, counted as failed', async () => {
    const endpoint = await suite.endpoint(echo);
    const hook = await receiver(true);
    const doc = documentFor(endpoint, hook.server, { retries: 2 });
    const e = await suite.engine(doc);
    const failedBefore = await callbacksTotal(e, 'failed');
    const id = await submit(e, 'flow', '{}', { 'x-callback-url': hook.server.url('/hook') });
    await callbackStatusOf(e, id, 'failed');
    assert.equal(hook.answered.length, 3, 'the first try and two retries');
    // The outcome is recorded before it is logged and counted: a quick reader can see the row first.
    const givenUp = await eventually(() => {
      const lines = e.logged('callback.given_up');
      assert.equal(lines.length, 1);
      return lines;
    }, WAIT);
    assert.equal(givenUp[0]?.['requestId'], id);
    assert.equal(givenUp[0]?.['attempts'], 3);
    assert.equal(e.logged('callback.failed_attempt').length, 3);
    assert.equal(await callbacksTotal(e, 'failed'), failedBefore + 1);
    await eventually(async () => assert.equal((await callbackQueueOf(e).getProperties()).approximateMessagesCount, 0), WAIT);
  });

  it('refuses a callback whose host is no longer allowed: failed, and counted as refused', async () => {
    const endpoint = await suite.endpoint(echo);
    const hook = await receiver(false);
    const doc = documentFor(endpoint, hook.server);
    const accepting = await suite.engine(doc);
    await accepting.runtime.engine.close();
    const id = await submit(accepting, 'flow', '{}', { 'x-callback-url': hook.server.url('/hook') });
    // The metric is the process's: read it before the engine that refuses can count the refusal.
    const refusedBefore = await callbacksTotal(accepting, 'refused');
    const e = await suite.engine({ ...doc, 'callback.config': { allowedHosts: [] } });
    await callbackStatusOf(e, id, 'failed');
    assert.equal(hook.answered.length, 0);
    // The refusal is recorded before it is logged and counted.
    await eventually(() => assert.equal(e.logged('callback.refused').length, 1), WAIT);
    assert.equal(await callbacksTotal(e, 'refused'), refusedBefore + 1);
  });

  it("posts a replayed request's new outcome once, and drops the callback of its earlier outcome", async () => {
    let isFailing = true;
    const endpoint = await suite.endpoint((call, i) => (isFailing ? { status: 400 } : echo(call, i)));
    const hook = await receiver(true);
    const e = await suite.engine(documentFor(endpoint, hook.server, {}, { 'redelivery.config': { default: { count: 0, delay: 0 } } }));
    const id = await submit(e, 'flow', '{}', { 'x-callback-url': hook.server.url('/hook') });
    // Dead-lettered, and its callback is being retried while the receiver is down.
    await waitForStatus(e, id, 'dead-lettered');
    await eventually(() => assert.ok(hook.answered.length >= 1), WAIT);
    assert.equal(bodyOf(hook.answered[0]!.call)['status'], 'dead-lettered');

    isFailing = false;
    const { items } = (await (await fetch(`${e.url}/api/dlq?flow=flow`)).json()) as { items: Array<{ dlqId: string }> };
    assert.equal((await fetch(`${e.url}/api/dlq/${items[0]!.dlqId}/replay`, { method: 'POST' })).status, 202);
    await waitForStatus(e, id, 'completed');
    hook.setDown(false);
    const status = await callbackStatusOf(e, id, 'delivered');

    // The earlier outcome's message comes due again and finds the request replayed: it is dropped.
    await eventually(() => assert.ok(e.logged('callback.dropped').some((l) => l['requestId'] === id && ['not-final', 'another-outcome'].includes(String(l['reason'])))), WAIT);
    const delivered = hook.answered.filter((a) => a.status === 200);
    assert.equal(delivered.length, 1, 'one delivery');
    assert.deepEqual(bodyOf(delivered[0]!.call), {
      ...status,
      callback: { url: hook.server.url('/hook'), status: 'pending' },
      result: { contentType: 'application/json', encoding: 'base64', data: Buffer.from('{}').toString('base64') },
    });
    assert.ok(hook.answered.filter((a) => a.status === 503).every((a) => ['dead-lettered', 'completed'].includes(String(bodyOf(a.call)['status']))));

    // A late copy of the earlier outcome's message (say, sent again by a step that crashed) posts nothing either.
    const before = hook.answered.length;
    const earlierOutcome = encodeCallbackMessage({ v: 1, requestId: id, completedAt: new Date(Date.parse(String(status['completedAt'])) - 1).toISOString(), attempt: 1 });
    const dropped = e.logged('callback.dropped').length;
    await callbackQueueOf(e).sendMessage(earlierOutcome);
    await eventually(() => assert.equal(e.logged('callback.dropped').length, dropped + 1), WAIT);
    assert.equal(e.logged('callback.dropped').at(-1)?.['reason'], 'another-outcome');
    assert.equal(hook.answered.length, before);
  });

  it('delivers the callback when the engine crashed between the final status write and the callback message', async () => {
    const endpoint = await suite.endpoint(echo);
    const hook = await receiver(false);
    const doc = documentFor(endpoint, hook.server);
    const config = configOf(doc);
    const stopped = await suite.engine(doc);
    await stopped.runtime.engine.close();
    const id = await submit(stopped, 'flow', '{"crash":1}', { 'x-callback-url': hook.server.url('/hook') });

    // A runner of our own whose callback queue fails its first send, as a crash right before it would.
    const clients = stopped.runtime.storage.clients;
    const callbackQueue = createStepQueue(clients.queues.getQueueClient(callbackQueueName(config.tables.statusTable)));
    let crashes = 1;
    const crashingQueue: StepQueue = {
      ...callbackQueue,
      send: async (...args) => {
        if (crashes-- > 0) throw new Error('simulated crash before the callback message');
        return callbackQueue.send(...args);
      },
    };
    const http = createOutboundHttp(config.http, config.payload.maxResponseBytes);
    suite.onClose(() => http.agent.close());
    const statusTable = new StatusTable(clients.statusTable);
    const payloads = new PayloadStore({ container: clients.payloads, inlineLimitBytes: config.payload.inlineLimitBytes });
    const log = createLogger({ level: 'silent' });
    const stepQueue = (name: string): StepQueue => createStepQueue(clients.queues.getQueueClient(name));
    const [step] = [...createFlows(config.flows, config.queues, stepQueue).values()][0]!.steps;
    const callbacks = new Callbacks({
      ...config.callback,
      queue: crashingQueue,
      stepQueues: [],
      concurrency: 1,
      http,
      statusTable,
      payloads,
      ownAddresses: () => [],
      workSignal: new AbortController().signal,
      log,
    });
    const runner = new StepRunner({ step: step!, statusTable, dlqTable: new DlqTable(clients.dlqTable), payloads, http, redelivery: config.redelivery, callbacks, completions: new Completions(), platformToken: null, inlineLimitBytes: config.payload.inlineLimitBytes, throughput: new Throughput({ flows: config.flows }), demoBaseUrl: () => null, log });
    const [message] = await step!.source.queue.receive(1, { visibilityTimeoutInMs: 1000, abortSignal: AbortSignal.timeout(10_000) });
    await runner.run(message!, new AbortController().signal);

    const crashed = await getStatus(stopped, id);
    assert.equal(crashed['status'], 'completed', 'the final status was written');
    assert.deepEqual(crashed['callback'], { url: hook.server.url('/hook'), status: 'pending' });
    assert.equal((await clients.queues.getQueueClient(callbackQueue.name).peekMessages()).peekedMessageItems.length, 0, 'and no callback message sent');

    // The step's message reappears; an engine runs it again, finds the row completed by it, and sends the callback.
    const e = await suite.engine(doc);
    const status = await callbackStatusOf(e, id, 'delivered');
    assert.equal(hook.answered.length, 1);
    assert.deepEqual(bodyOf(hook.answered[0]!.call), {
      ...status,
      callback: { url: hook.server.url('/hook'), status: 'pending' },
      result: { contentType: 'application/json', encoding: 'base64', data: Buffer.from('{"crash":1}').toString('base64') },
    });
    assert.equal(status['completedAt'], crashed['completedAt'], 'the outcome of the first run');
  });

  it('never posts anywhere for forged callback messages, and keeps delivering', async () => {
    const endpoint = await suite.endpoint(echo);
    const hook = await receiver(false);
    const elsewhere = await suite.endpoint(echo);
    const doc = documentFor(endpoint, hook.server, { allowedHosts: [hostOf(hook.server), hostOf(elsewhere)] });
    const e = await suite.engine(doc);
    // A request without a callback URL, and one whose callback was delivered already.
    const plain = await submit(e, 'flow', '{}');
    const done = await submit(e, 'flow', '{}', { 'x-callback-url': hook.server.url('/hook') });
    const plainStatus = await waitForStatus(e, plain, 'completed');
    const doneStatus = await callbackStatusOf(e, done, 'delivered');
    assert.equal(hook.answered.length, 1);

    const asText = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
    const unreadable = [
      'garbage that is not base64 JSON!',
      asText({ v: 1, requestId: 'not-a-uuid', completedAt: plainStatus['completedAt'], attempt: 1 }),
      asText({ v: 1, requestId: plain, completedAt: plainStatus['completedAt'], attempt: 1, url: elsewhere.url('/stolen') }),
      asText({ v: 1, requestId: `${plain}/../${done}`, completedAt: doneStatus['completedAt'], attempt: 1 }),
      asText([1, 2, 3]),
      'A'.repeat(60_000),
    ];
    const stale = [
      // Someone else's request, whose row has no callback URL.
      asText({ v: 1, requestId: plain, completedAt: plainStatus['completedAt'], attempt: 1 }),
      // A request that does not exist.
      asText({ v: 1, requestId: '00000000-0000-4000-8000-000000000000', completedAt: plainStatus['completedAt'], attempt: 1 }),
      // A callback delivered already, on its last try.
      asText({ v: 1, requestId: done, completedAt: doneStatus['completedAt'], attempt: 999 }),
    ];
    const queue = callbackQueueOf(e);
    for (const text of [...unreadable, ...stale]) await queue.sendMessage(text);
    await eventually(async () => assert.equal((await queue.getProperties()).approximateMessagesCount, 0), WAIT);
    await eventually(() => assert.equal(e.logged('callback.unreadable').length + e.logged('callback.dropped').length, unreadable.length + stale.length), WAIT);
    assert.equal(e.logged('callback.unreadable').length, unreadable.length);
    assert.deepEqual(e.logged('callback.dropped').map((l) => l['reason']).sort(), ['already-delivered', 'no-callback-url', 'request-gone']);
    assert.doesNotMatch(JSON.stringify(e.logged('callback.unreadable')), /stolen|not-a-uuid/, 'the messages are not quoted');
    assert.equal(elsewhere.calls.length, 0, 'nothing was posted elsewhere');
    assert.equal(hook.answered.length, 1, 'nor again to the receiver');
    assert.equal((await getStatus(e, plain))['callback'], undefined);

    const after = await submit(e, 'flow', '{}', { 'x-callback-url': hook.server.url('/hook') });
    await callbackStatusOf(e, after, 'delivered');
    assert.equal(hook.answered.length, 2, 'the engine goes on delivering');
  });

  it('costs a request with a callback one send, one delete and a share of a receive on the callback queue, with a status read and write', async () => {
    const endpoint = await suite.endpoint(echo);
    const hook = await receiver(false);
    const e = await suite.engine(documentFor(endpoint, hook.server));
    const n = 10;
    e.storageCalls.reset();
    await Promise.all(Array.from({ length: n }, (_, i) => submit(e, 'flow', `{"i":${i}}`, { 'x-callback-url': hook.server.url('/hook') })));
    // Logged once the delivery is recorded and its message deleted (no status read through the API here).
    await eventually(() => assert.equal(e.logged('callback.delivered').length, n), WAIT);
    const calls = e.storageCalls.snapshot();
    assert.equal(calls['queue.send'], 2 * n, 'the step message (by the ingress) and the callback message');
    assert.equal(calls['queue.delete'], 2 * n, 'each deleted once');
    assert.equal(calls['table.update'], 2 * n, 'the step\'s status write and the callback\'s');
    // The delivery reads the row, and recording the delivery reads it for its If-Match.
    assert.equal(calls['table.read'], 2 * n);
    // No retry; queue updates may still come from lease renewals of the 1 s visibility on a busy machine.
    assert.equal(e.logged('callback.failed_attempt').length, 0, 'no retry');
  });
});
