import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { preferredWaitInSeconds } from '../../src/ingress/prefer-wait.js';
import { echo, echoWhen, gate } from '../support/endpoints.js';
import { engineSuite, flowDocument, getStatus, waitForStatus, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  elapsedInMs: number;
}

async function post(e: TestEngine, prefer: string | null, body = '{"hello":"world"}', headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Answer> {
  const startedAt = performance.now();
  const response = await fetch(`${e.url}/api/flows/flow`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...(prefer === null ? {} : { prefer }), ...headers },
    ...(signal ? { signal } : {}),
  });
  const answer = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body: answer, elapsedInMs: performance.now() - startedAt };
}

const idOf = (answer: Answer): string => (JSON.parse(answer.body.toString()) as { id: string }).id;

describe('Prefer: wait header parsing', () => {
  const cases: Array<[string, number | null]> = [
    ['wait=5', 5],
    ['WAIT=5', 5],
    ['wait = 5', 5],
    ['respond-async, wait=7', 7],
    ['handling=lenient; x=1, wait=3;foo="a,b"', 3],
    ['wait="4"', 4],
    ['wait=100', 30],
    ['wait=99999999999999999999', 30],
    ['wait=2, wait=9', 2],
    ['wait=abc, wait=9', null],
    ['wait=abc', null],
    ['wait=-1', null],
    ['wait=0', null],
    ['wait=1e9', null],
    ['wait=1.5', null],
    ['wait', null],
    ['wait=', null],
    ['handling=lenient', null],
    ['x="wait=5"', null],
    ['', null],
  ];
  for (const [header, expected] of cases) {
    it(`reads ${JSON.stringify(header)} as ${expected === null ? 'no wait' : `${expected} s`}`, () => {
      assert.equal(preferredWaitInSeconds(header, 30), expected);
    });
  }
});

describe('POST /api/flows/{flowName} with Prefer: wait', () => {
  const suite = engineSuite();

  it('answers 200 with the result, its content type, Preference-Applied, Content-Location and X-Request-Id when the flow finishes in time', async () => {
    const endpoint = await suite.endpoint(() => ({ body: 'done!', contentType: 'text/x-result' }));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const answer = await post(e, 'wait=5');
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(answer.body.toString(), 'done!');
    assert.equal(answer.headers.get('content-type'), 'text/x-result');
    assert.equal(answer.headers.get('preference-applied'), 'wait=5');
    const id = answer.headers.get('x-request-id');
    assert.ok(id);
    assert.equal(answer.headers.get('content-location'), `/api/requests/${id}/result`);
    assert.equal((await getStatus(e, id))['status'], 'completed');
    assert.equal(e.runtime.admission.running, 0);
  });

  it('answers the usual 202 after about N seconds when the flow takes longer, and the request still completes', async () => {
    const held = gate();
    const endpoint = await suite.endpoint(echoWhen(held.opened));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const answer = await post(e, 'wait=1');
    assert.equal(answer.status, 202);
    assert.equal(answer.headers.get('preference-applied'), null);
    assert.ok(answer.elapsedInMs >= 900 && answer.elapsedInMs < 10_000, `answered after ${answer.elapsedInMs} ms`);
    const id = idOf(answer);
    assert.equal(answer.headers.get('location'), `/api/requests/${id}`);
    assert.equal(e.runtime.admission.running, 0, 'the place is free again');
    held.open();
    await waitForStatus(e, id, 'completed');
  });

  it('holds a wait longer than server.config.requestTimeoutMs: the time-out is for receiving the request, not for the answer', async () => {
    const held = gate();
    const endpoint = await suite.endpoint(echoWhen(held.opened));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: { 'server.config': { requestTimeoutMs: 1000, headersTimeoutMs: 1000 } } }));
    const answer = await post(e, 'wait=5');
    assert.equal(answer.status, 202);
    assert.ok(answer.elapsedInMs >= 4500, `answered after ${answer.elapsedInMs} ms`);
    held.open();
    await waitForStatus(e, idOf(answer), 'completed');
  });

  it('answers 502 problem+json when the request is dead-lettered in time', async () => {
    const endpoint = await suite.endpoint(() => ({ status: 400, body: '{"bad":true}' }));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: { 'redelivery.config': { default: { count: 0, delay: 0 } } } }));
    const answer = await post(e, 'wait=10');
    assert.equal(answer.status, 502, answer.body.toString());
    assert.equal(answer.headers.get('content-type'), 'application/problem+json');
    const problem = JSON.parse(answer.body.toString()) as { type: string; status: number };
    assert.match(problem.type, /dead-lettered$/);
    assert.equal(problem.status, 502);
    const id = answer.headers.get('x-request-id');
    assert.ok(id);
    assert.equal((await getStatus(e, id))['status'], 'dead-lettered');
  });

  it('caps the wait at server.config.maxWaitSeconds and says so in Preference-Applied', async () => {
    const endpoint = await suite.endpoint(echo);
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: { 'server.config': { maxWaitSeconds: 7 } } }));
    const answer = await post(e, 'wait=3600');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('preference-applied'), 'wait=7');
  });

  it('answers 202 at once to a Prefer without a valid wait', async () => {
    const held = gate();
    const endpoint = await suite.endpoint(echoWhen(held.opened));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const ids: string[] = [];
    for (const prefer of ['wait=abc', 'wait=-1', 'wait=1e9', 'wait=0', 'handling=lenient']) {
      const answer = await post(e, prefer);
      assert.equal(answer.status, 202, prefer);
      assert.equal(answer.headers.get('preference-applied'), null, prefer);
      // A wait applied would hold the answer up to the default 30 s.
      assert.ok(answer.elapsedInMs < 5000, `${prefer}: answered after ${answer.elapsedInMs} ms`);
      ids.push(idOf(answer));
    }
    held.open();
    for (const id of ids) await waitForStatus(e, id, 'completed');
  });

  it('answers 200 on a replica that did not run the request, reading its status at most twice a second', async () => {
    const held = gate();
    const endpoint = await suite.endpoint(echoWhen(held.opened));
    const doc = flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] });
    const ingress = await suite.engine(doc);
    await ingress.runtime.engine.close();
    await suite.engine(doc);
    ingress.storageCalls.reset();
    const answering = post(ingress, 'wait=20', 'from afar');
    await eventually(() => assert.equal(endpoint.inFlight, 1), { timeoutInMs: 15_000 });
    // Let the waiting ingress read the row a few times before the request finishes.
    await eventually(() => assert.ok((ingress.storageCalls.snapshot()['table.read'] ?? 0) >= 3), { timeoutInMs: 15_000 });
    held.open();
    const answer = await answering;
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(answer.body.toString(), 'from afar');
    const reads = ingress.storageCalls.snapshot()['table.read'] ?? 0;
    const bound = Math.ceil((answer.elapsedInMs / 1000) * 2) + 1;
    assert.ok(reads <= bound, `${reads} status reads in ${answer.elapsedInMs} ms (at most ${bound})`);
  });

  it('frees the admission place of a waiting client that disconnects', async () => {
    const held = gate();
    const endpoint = await suite.endpoint(echoWhen(held.opened));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const client = new AbortController();
    const answering = post(e, 'wait=30', '{}', {}, client.signal).catch((err: unknown) => err);
    await eventually(() => assert.equal(endpoint.inFlight, 1), { timeoutInMs: 15_000 });
    assert.equal(e.runtime.admission.running, 1, 'the waiting client holds its place');
    client.abort();
    assert.ok((await answering) instanceof Error);
    await eventually(() => assert.equal(e.runtime.admission.running, 0), { timeoutInMs: 5000 });
    held.open();
  });

  it('streams a result kept in a blob', async () => {
    const endpoint = await suite.endpoint(echo);
    const doc = flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] });
    doc['payload.config'] = { ...(doc['payload.config'] as object), inlineLimitBytes: 64 };
    const e = await suite.engine(doc);
    const body = JSON.stringify({ filler: 'x'.repeat(5000) });
    const answer = await post(e, 'wait=10', body);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('content-type'), 'application/json');
    assert.equal(answer.body.toString(), body);
  });

  it('waits on an Idempotency-Key replay too', async () => {
    const endpoint = await suite.endpoint(echo);
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const first = await post(e, null, '{"n":1}', { 'idempotency-key': 'wait-replay' });
    assert.equal(first.status, 202);
    const again = await post(e, 'wait=10', '{"n":1}', { 'idempotency-key': 'wait-replay' });
    assert.equal(again.status, 200);
    assert.equal(again.body.toString(), '{"n":1}');
    assert.equal(again.headers.get('x-request-id'), idOf(first));
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
  });

  it('answers waiting clients 202 at once when the engine shuts down', async () => {
    const held = gate();
    const endpoint = await suite.endpoint(echoWhen(held.opened));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const answering = post(e, 'wait=30');
    await eventually(() => assert.equal(endpoint.inFlight, 1), { timeoutInMs: 15_000 });
    let isClosed = false;
    const closing = e.close().then(() => (isClosed = true));
    const answer = await answering;
    assert.equal(answer.status, 202);
    assert.equal(idOf(answer), answer.headers.get('x-request-id'));
    // The drain still waits for the held step; the waiting client did not.
    assert.equal(isClosed, false, 'answered before the shutdown finished');
    held.open();
    await closing;
  });
});
