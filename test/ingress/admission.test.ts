import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { startAzurite } from '../support/azurite.js';
import { engineSuite, flowDocument, startEngine, configOf } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

/** A submission whose client sends the headers now and the body only when told. */
function slowSubmit(url: string, body: string): { finish: () => void; answer: Promise<{ status: number; text: string }> } {
  let finish!: () => void;
  // The executor runs at once, so `finish` is set before this returns.
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.flushHeaders();
    finish = () => req.end(body);
  });
  return { finish, answer };
}

describe('admission control', () => {
  const suite = engineSuite();

  it('answers 429 with Retry-After beyond maxPoolSize + maxQueueSize, and loses or half-writes nothing', async () => {
    const e = await suite.engine(
      flowDocument(suite.azurite, { flowName: 'admitted', steps: [{ url: 'http://127.0.0.1:9/x' }], extra: { 'threadpool.config': { poolSize: 1, maxPoolSize: 1, maxQueueSize: 1 } } }),
    );
    await e.runtime.engine.close(); // nothing is processed: every accepted request stays queued to be counted
    const url = `${e.url}/api/flows/admitted`;
    const first = slowSubmit(url, '{"n":1}'); // holds the only place while its body does not come
    await eventually(() => assert.equal(e.runtime.admission.running, 1), { timeoutInMs: 10_000 });
    const second = slowSubmit(url, '{"n":2}'); // waits in the queue
    await eventually(() => assert.equal(e.runtime.admission.waiting, 1), { timeoutInMs: 10_000 });

    const refused = await fetch(url, { method: 'POST', body: '{"n":3}' });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(refused.headers.get('content-type'), 'application/problem+json');

    first.finish();
    second.finish();
    const answers = await Promise.all([first.answer, second.answer]);
    assert.deepEqual(answers.map((a) => a.status), [202, 202]);
    const listed = (await (await fetch(`${e.url}/api/requests?flow=admitted`)).json()) as { items: Array<{ id: string }> };
    assert.deepEqual(listed.items.map((i) => i.id).sort(), answers.map((a) => (JSON.parse(a.text) as { id: string }).id).sort(), 'exactly the accepted requests exist');
    const queued = await e.runtime.storage.clients.queues.getQueueClient([...e.runtime.flows.values()][0]!.steps[0]!.source.queue.name).peekMessages({ numberOfMessages: 32 });
    assert.equal(queued.peekedMessageItems.length, 2, 'each accepted request has its message');
  });

  it('answers 503 with Retry-After, soon, when storage is unreachable', async () => {
    const own = await startAzurite();
    const e = await startEngine(configOf(flowDocument(own, { steps: [{ url: 'http://127.0.0.1:9/x' }] })));
    suite.onClose(() => e.close());
    await own.close();
    const started = Date.now();
    const response = await fetch(`${e.url}/api/flows/flow`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
    assert.ok(Number(response.headers.get('retry-after')) > 0);
    assert.ok(Date.now() - started < 15_000, 'within the submission deadline');
    const status = await fetch(`${e.url}/api/requests/00000000-0000-4000-8000-000000000000`);
    assert.equal(status.status, 503);
    await eventually(async () => assert.equal((await fetch(`${e.url}/actuator/health`)).status, 503), { timeoutInMs: 10_000 });
  });
});
