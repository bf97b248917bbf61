import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeEnvelope } from '../../src/storage/envelope.js';
import { clientsFor } from '../support/azurite.js';
import { type EndpointServer, echo, echoWhen, gate } from '../support/endpoints.js';
import { configOf, engineSuite, flowDocument, getStatus, submit, waitForStatus, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

describe('a request through a flow', () => {
  const suite = engineSuite();
  const endpoint = (handler = echo): Promise<EndpointServer> => suite.endpoint(handler);
  const engine = (doc: Record<string, unknown>): Promise<TestEngine> => suite.engine(doc);
  const completed = (e: TestEngine, id: string): Promise<Record<string, unknown>> => waitForStatus(e, id, 'completed');

  it('passes each answer to the next step and returns the last one as the result, with the contract headers', async () => {
    const first = await endpoint((call) => ({ body: JSON.stringify({ ...JSON.parse(call.body.toString()), a: 1 }), contentType: 'application/json' }));
    const second = await endpoint((call) => ({ body: `text:${call.body.toString()}`, contentType: 'text/plain; charset=utf-8' }));
    const third = await endpoint((call) => ({ body: call.body.toString().toUpperCase(), contentType: 'application/x-shout' }));
    const e = await engine(flowDocument(suite.azurite, { steps: [{ url: first.url('/one') }, { url: second.url('/two') }, { url: third.url('/three') }] }));
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

    const id = await submit(e, 'flow', '{"x":0}', { traceparent });
    const status = await completed(e, id);

    assert.equal(status['step'], 2);
    assert.equal(status['attempt'], 1);
    assert.equal(status['lastHttpStatus'], 200);
    const result = await fetch(`${e.url}/api/requests/${id}/result`);
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('content-type'), 'application/x-shout');
    assert.equal(await result.text(), 'TEXT:{"X":0,"A":1}');

    for (const [step, server, contentType] of [
      [0, first, 'application/json'],
      [1, second, 'application/json'],
      [2, third, 'text/plain; charset=utf-8'],
    ] as const) {
      assert.equal(server.calls.length, 1, `step ${step} called once`);
      const { headers } = server.calls[0]!;
      assert.equal(headers['x-request-id'], id);
      assert.equal(headers['x-flow-name'], 'flow');
      assert.equal(headers['x-flow-step'], String(step));
      assert.equal(headers['idempotency-key'], `${id}:${step}`);
      assert.equal(headers['traceparent'], traceparent);
      assert.equal(headers['content-type'], contentType, `step ${step} receives the previous answer's content type`);
      assert.equal(headers['authorization'], undefined);
    }
  });

  it('answers 202 with Location while a request is in progress, and its status moves forward', async () => {
    const held = gate();
    const first = await endpoint(echo);
    const second = await endpoint(echoWhen(held.opened));
    const doc = flowDocument(suite.azurite, { steps: [{ url: first.url() }, { url: second.url() }] });
    const e = await engine(doc);
    const id = await submit(e, 'flow', '{}');

    await eventually(async () => assert.equal(second.inFlight, 1), { timeoutInMs: 30_000 });
    const status = await getStatus(e, id);
    assert.deepEqual([status['status'], status['step'], status['stepQueue']], ['processing', 1, configOf(doc).flows[0]!.steps[1]!.sourceQueueName]);
    const pending = await fetch(`${e.url}/api/requests/${id}/result`);
    assert.equal(pending.status, 202);
    assert.equal(pending.headers.get('location'), `/api/requests/${id}/result`);
    assert.equal(pending.headers.get('retry-after'), '1');
    assert.equal(pending.headers.get('x-request-id'), id);

    held.open();
    await completed(e, id);
  });

  it('never calls a step\'s endpoint more than maxThreads times at once, and reaches that bound', async () => {
    const slow = await endpoint((call) => ({ ...echo(call, 0), delayInMs: 300 }));
    const e = await engine(flowDocument(suite.azurite, { steps: [{ url: slow.url(), maxThreads: 3 }], queue: { maxMessages: 32 } }));
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => submit(e, 'flow', `{"i":${i}}`)));
    for (const id of ids) await completed(e, id);
    assert.equal(slow.calls.length, 12);
    assert.equal(slow.maxConcurrent, 3);
  });

  it('holds 40 steps in flight without Node warning of too many listeners on the engine\'s signal', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const held = gate();
      const server = await endpoint(echoWhen(held.opened));
      const e = await engine(
        flowDocument(suite.azurite, { steps: [{ url: server.url(), maxThreads: 40 }], queue: { maxMessages: 32 }, extra: { 'http.connection.config': { routeConnections: 40 } } }),
      );
      const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => submit(e, 'flow', `{"i":${i}}`)));
      await eventually(() => assert.equal(server.inFlight, 40), { timeoutInMs: 30_000 });
      held.open();
      for (const id of ids) await completed(e, id);
      assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('carries a 200 KB body through the claim check, byte for byte, and deletes the input blobs once complete', async () => {
    const first = await endpoint(echo);
    const second = await endpoint(echo);
    const doc = flowDocument(suite.azurite, { steps: [{ url: first.url() }, { url: second.url() }] });
    const e = await engine(doc);
    const body = randomBytes(200 * 1024);

    const id = await submit(e, 'flow', body, { 'content-type': 'application/octet-stream' });
    await completed(e, id);

    assert.ok(first.calls[0]!.body.equals(body), 'step 0 received the exact bytes');
    assert.ok(second.calls[0]!.body.equals(body), 'step 1 received the exact bytes');
    const result = await fetch(`${e.url}/api/requests/${id}/result`);
    assert.equal(result.headers.get('content-type'), 'application/octet-stream');
    assert.ok(Buffer.from(await result.arrayBuffer()).equals(body), 'the result is the exact bytes');

    const container = e.runtime.storage.clients.payloads;
    const blobs: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: `${id}/` })) blobs.push(blob.name);
    assert.deepEqual(
      blobs.map((name) => name.replace(/-[0-9a-f-]{36}$/, '')),
      [`${id}/result`],
      'only the result blob is left: the step inputs went when the request completed',
    );
  });

  it('calls an endpoint slower than the visibility timeout once: the lease keeps the message hidden', async () => {
    const slow = await endpoint((call) => ({ ...echo(call, 0), delayInMs: 4500 }));
    const e = await engine(flowDocument(suite.azurite, { steps: [{ url: slow.url() }], queue: { visibilityTimeout: 2 } }));
    const id = await submit(e, 'flow', '{}');
    await completed(e, id);
    assert.equal(slow.calls.length, 1);
    assert.ok(e.storageCalls.snapshot()['queue.update']! >= 2, 'the visibility was renewed while the call ran');
  });

  it('sends each message with its queue\'s timeToLive: hours, or never expiring for -1', async () => {
    const held = gate();
    const first = await endpoint(echo);
    const blocked = await endpoint(echoWhen(held.opened));
    const doc = flowDocument(suite.azurite, {
      steps: [{ url: first.url() }, { url: blocked.url(), maxThreads: 1 }],
      perQueue: [{ timeToLive: 0.5 }, { timeToLive: -1 }],
    });
    const [entry, second] = configOf(doc).flows[0]!.steps;
    const queues = clientsFor(suite.azurite).queues;

    // An engine whose pollers are stopped: the submitted message stays in the entry queue to be peeked at.
    const stopped = await engine(doc);
    await stopped.runtime.engine.close();
    const waiting = await submit(stopped, 'flow', '{"n":0}');
    const peeked = (await queues.getQueueClient(entry!.sourceQueueName).peekMessages()).peekedMessageItems[0]!;
    assert.equal(decodeEnvelope(peeked.messageText).requestId, waiting);
    assert.equal((peeked.expiresOn.getTime() - peeked.insertedOn.getTime()) / 1000, 1800, 'timeToLive 0.5 hours');

    // A running engine: one request holds step 1's only slot, the next waits, visible, in step 1's queue.
    const running = await engine(doc);
    const ids = [await submit(running, 'flow', '{"n":1}'), await submit(running, 'flow', '{"n":2}')];
    await eventually(
      async () => {
        const forwarded = (await queues.getQueueClient(second!.sourceQueueName).peekMessages()).peekedMessageItems;
        assert.equal(forwarded.length, 1);
        assert.ok(forwarded[0]!.expiresOn.getUTCFullYear() >= 9999, `never expires: ${forwarded[0]!.expiresOn.toISOString()}`);
      },
      { timeoutInMs: 30_000 },
    );
    held.open();
    for (const id of [waiting, ...ids]) await completed(running, id);
  });

  it('costs one send, one status write and one delete per step-message, and no status read', async () => {
    const servers = [await endpoint(echo), await endpoint(echo), await endpoint(echo)];
    const e = await engine(flowDocument(suite.azurite, { steps: servers.map((s) => ({ url: s.url() })) }));
    const n = 10;
    e.storageCalls.reset();
    await Promise.all(Array.from({ length: n }, (_, i) => submit(e, 'flow', `{"i":${i}}`)));
    await eventually(() => assert.equal(e.logged('step.completed').length, n), { timeoutInMs: 30_000 });
    const calls = e.storageCalls.snapshot();
    assert.equal(calls['table.insert'], n, 'one status row per request');
    assert.equal(calls['queue.send'], 3 * n, 'one send per step-message (the first by the ingress)');
    assert.equal(calls['table.update'], 3 * n, 'one status write per step-message');
    assert.equal(calls['queue.delete'], 3 * n, 'one delete per step-message');
    assert.equal(calls['table.read'] ?? 0, 0, 'no status read on the normal path');
    assert.equal(calls['blob.write'] ?? 0, 0, 'small bodies stay inline');
  });
});
