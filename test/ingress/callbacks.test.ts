import assert from 'node:assert/strict';
import { hostname, networkInterfaces } from 'node:os';
import { describe, it } from 'node:test';
import { isCallbackAllowed } from '../../src/engine/callback-targets.js';
import { echo, echoWhen, type EndpointServer, gate } from '../support/endpoints.js';
import { engineSuite, flowDocument, getStatus, submit, type TestEngine, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

const hostOf = (server: EndpointServer): string => new URL(server.url()).host;

describe('callbacks', () => {
  const suite = engineSuite();

  async function engineWith(endpointUrl: string, allowedHosts: string[], extra: Record<string, unknown> = {}): Promise<TestEngine> {
    return suite.engine(
      flowDocument(suite.azurite, { steps: [{ url: endpointUrl }], extra: { 'callback.config': { allowedHosts, timeout: 2000, retries: 2 }, ...extra } }),
    );
  }

  async function callbackOf(e: TestEngine, id: string, expected: string): Promise<Record<string, unknown>> {
    return eventually(
      async () => {
        const callback = (await getStatus(e, id))['callback'] as Record<string, unknown>;
        assert.equal(callback['status'], expected);
        return callback;
      },
      { timeoutInMs: 30_000 },
    );
  }

  it('refuses a callback to a host that is not allowed with 400, before storing anything', async () => {
    const e = await engineWith('http://127.0.0.1:9/x', ['allowed.example']);
    e.storageCalls.reset();
    for (const url of ['http://evil.example/hook', 'ftp://allowed.example/hook', 'not a url', 'http://allowed.example.evil/hook']) {
      const response = await fetch(`${e.url}/api/flows/flow`, { method: 'POST', body: '{}', headers: { 'x-callback-url': url } });
      assert.equal(response.status, 400, url);
      assert.equal(response.headers.get('content-type'), 'application/problem+json');
    }
    const calls = e.storageCalls.snapshot();
    assert.equal((calls['table.insert'] ?? 0) + (calls['queue.send'] ?? 0), 0);
  });

  /** Submits with X-Callback-Url `url`; the problem answer's status and detail. */
  async function submitWithCallback(e: TestEngine, url: string): Promise<{ status: number; detail: string }> {
    const response = await fetch(`${e.url}/api/flows/flow`, { method: 'POST', body: '{}', headers: { 'x-callback-url': url } });
    const text = await response.text();
    return { status: response.status, detail: response.status === 400 ? String((JSON.parse(text) as { detail: unknown }).detail) : text };
  }

  it("refuses a callback to the engine's own address and port with 400, before storing anything, though allowedHosts names the host", async () => {
    const receiver = await suite.endpoint(echo);
    const allowed = ['127.0.0.1', 'localhost', 'localhost.', '[::1]', '[::ffff:7f00:1]', '0.0.0.0', hostOf(receiver)];
    const e = await engineWith('http://127.0.0.1:9/x', allowed);
    const { port } = new URL(e.url);
    e.storageCalls.reset();
    for (const url of [
      `${e.url}/api/dlq/replay?flow=flow`,
      `http://localhost:${port}/api/dlq/replay?flow=flow`,
      `http://LocalHost.:${port}/api/dlq/replay?flow=flow`,
      `http://[::1]:${port}/api/dlq/replay?flow=flow`,
      `http://[::ffff:127.0.0.1]:${port}/api/dlq/replay?flow=flow`,
      `http://2130706433:${port}/api/dlq/replay?flow=flow`,
      `http://0x7f000001:${port}/api/dlq/replay?flow=flow`,
      `http://0.0.0.0:${port}/api/dlq/replay?flow=flow`,
    ]) {
      assert.deepEqual(await submitWithCallback(e, url), { status: 400, detail: "X-Callback-Url must not point at the engine's own address" }, url);
    }
    const credentials = await submitWithCallback(e, receiver.url('/hook').replace('http://', 'http://user:secret@'));
    assert.deepEqual(credentials, { status: 400, detail: 'X-Callback-Url must not carry credentials (user:password@)' });
    const calls = e.storageCalls.snapshot();
    assert.equal((calls['table.insert'] ?? 0) + (calls['queue.send'] ?? 0), 0);
    assert.equal((await submitWithCallback(e, receiver.url('/hook'))).status, 202, 'another port of an allowed loopback host is fine');
  });

  it("on a wildcard address, refuses callbacks to this machine's host name and interface addresses at the ingress's port", async () => {
    const machine = hostname().toLowerCase();
    const external = Object.values(networkInterfaces())
      .flatMap((entries) => entries ?? [])
      .filter((entry) => !entry.internal && entry.family === 'IPv4')
      .map((entry) => entry.address);
    const e = await engineWith('http://127.0.0.1:9/x', [machine, ...external], { 'server.config': { host: '0.0.0.0' } });
    const { port } = new URL(e.url);
    for (const host of [machine, ...external]) {
      const url = `http://${host}:${port}/api/dlq/replay?flow=flow`;
      assert.deepEqual(await submitWithCallback(e, url), { status: 400, detail: "X-Callback-Url must not point at the engine's own address" }, url);
    }
  });

  it('delivers nothing to a host removed from allowedHosts since the request was accepted, and records the callback failed', async () => {
    const endpoint = await suite.endpoint(echo);
    const receiver = await suite.endpoint(echo);
    const document = flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: { 'callback.config': { allowedHosts: [hostOf(receiver)] } } });
    const accepting = await suite.engine(document);
    await accepting.runtime.engine.close(); // it only accepts; the engine started below runs the request
    const id = await submit(accepting, 'flow', '{}', { 'x-callback-url': `${receiver.url('/hook')}?token=abc` });
    const e = await suite.engine({ ...document, 'callback.config': { allowedHosts: [] } });
    await waitForStatus(e, id, 'completed');
    await callbackOf(e, id, 'failed');
    assert.equal(receiver.calls.length, 0);
    // The refusal is recorded before it is logged.
    await eventually(() => assert.ok(e.logged('callback.refused').length >= 1), { timeoutInMs: 10_000 });
    const [refused, ...more] = e.logged('callback.refused');
    assert.equal(more.length, 0);
    assert.equal(refused?.['requestId'], id);
    assert.equal(refused?.['target'], new URL(receiver.url()).origin, 'the origin only: no path, query or credentials');
    assert.match(String(refused?.['reason']), /allowedHosts/);
    assert.doesNotMatch(JSON.stringify(e.logs), /token=abc/);
  });

  it('shows a replayed request\'s callback as pending again until the new outcome is delivered', async () => {
    const endpoint = await suite.endpoint(() => ({ status: 400 }));
    const receiver = await suite.endpoint(echo);
    const e = await engineWith(endpoint.url(), [hostOf(receiver)], { 'redelivery.config': { default: { count: 0, delay: 0 } } });
    const id = await submit(e, 'flow', '{}', { 'x-callback-url': receiver.url('/hook') });
    await callbackOf(e, id, 'delivered');
    await e.runtime.engine.close(); // the replayed request stays queued, to be looked at
    const { items } = (await (await fetch(`${e.url}/api/dlq?flow=flow`)).json()) as { items: Array<{ dlqId: string }> };
    assert.equal((await fetch(`${e.url}/api/dlq/${items[0]!.dlqId}/replay`, { method: 'POST' })).status, 202);
    const status = await getStatus(e, id);
    assert.equal(status['status'], 'queued');
    assert.deepEqual(status['callback'], { url: receiver.url('/hook'), status: 'pending' });
  });

  it('delivers nothing for a replayed request whose callback host is no longer allowed', async () => {
    const endpoint = await suite.endpoint(() => ({ status: 400 }));
    const receiver = await suite.endpoint(echo);
    const document = flowDocument(suite.azurite, {
      steps: [{ url: endpoint.url() }],
      extra: { 'callback.config': { allowedHosts: [hostOf(receiver)] }, 'redelivery.config': { default: { count: 0, delay: 0 } } },
    });
    const first = await suite.engine(document);
    const id = await submit(first, 'flow', '{}', { 'x-callback-url': receiver.url('/hook') });
    await callbackOf(first, id, 'delivered');
    assert.equal(receiver.calls.length, 1, 'the dead-lettered request was called back');
    await first.close();

    endpoint.setHandler(echo);
    const e = await suite.engine({ ...document, 'callback.config': { allowedHosts: [] } });
    const { items } = (await (await fetch(`${e.url}/api/dlq?flow=flow`)).json()) as { items: Array<{ dlqId: string }> };
    assert.equal((await fetch(`${e.url}/api/dlq/${items[0]!.dlqId}/replay`, { method: 'POST' })).status, 202);
    await waitForStatus(e, id, 'completed');
    await callbackOf(e, id, 'failed');
    assert.equal(receiver.calls.length, 1, 'the replay was not called back');
    await eventually(() => assert.equal(e.logged('callback.refused').length, 1), { timeoutInMs: 10_000 });
  });

  it('delivers nothing to the engine that runs the request when the callback points at it, though another engine accepted it', async () => {
    const endpoint = await suite.endpoint(echo);
    const document = flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: { 'callback.config': { allowedHosts: ['127.0.0.1'] } } });
    const accepting = await suite.engine(document);
    await accepting.runtime.engine.close();
    const e = await suite.engine(document);
    const id = await submit(accepting, 'flow', '{}', { 'x-callback-url': `${e.url}/api/dlq/replay?flow=flow` });
    await waitForStatus(e, id, 'completed');
    await callbackOf(e, id, 'failed');
    // The refusal is recorded before it is logged.
    await eventually(() => assert.equal(e.logged('callback.refused').length, 1), { timeoutInMs: 10_000 });
    const [refused] = e.logged('callback.refused');
    assert.match(String(refused?.['reason']), /own address/);
    assert.equal(e.logged('dlq.replay_job_started').length + e.logged('callback.delivered').length, 0);
  });

  it('stops a callback loop through a receiver that submits again at close: no callback is posted after close resolves', async () => {
    const endpoint = await suite.endpoint(echo);
    const receiver = await suite.endpoint(echo);
    const e = await engineWith(endpoint.url(), [hostOf(receiver)], { 'server.config': { shutdownGraceMs: 3000 } });
    // Each callback submits a new request with the same callback: a loop that only close() ends.
    receiver.setHandler(async () => {
      await fetch(`${e.url}/api/flows/flow`, { method: 'POST', body: '{}', headers: { 'x-callback-url': receiver.url('/hook') } }).catch(() => undefined);
      return { status: 200 };
    });
    await submit(e, 'flow', '{}', { 'x-callback-url': receiver.url('/hook') });
    await eventually(() => assert.ok(receiver.calls.length >= 3, 'the loop runs'), { timeoutInMs: 30_000 });
    await e.close();
    const postedBeforeClose = receiver.calls.length;
    await eventually(() => assert.equal(receiver.inFlight, 0), { timeoutInMs: 10_000 });
    assert.equal(receiver.calls.length, postedBeforeClose, 'no callback after close');
    assert.equal((await fetch(`${e.url}/api/flows`).catch((err: unknown) => err)) instanceof Error, true, 'the ingress is closed');
  });

  it('posts the status and the result to a receiver that fails, then succeeds, and records the delivery', async () => {
    const endpoint = await suite.endpoint((call) => ({ body: `done:${call.body.toString()}`, contentType: 'text/plain' }));
    const receiver = await suite.endpoint((call, i) => (i === 0 ? { status: 500 } : echo(call, i)));
    const e = await engineWith(endpoint.url(), [hostOf(receiver)]);
    const callbackUrl = receiver.url('/hook');
    const id = await submit(e, 'flow', '{"n":1}', { 'x-callback-url': callbackUrl });

    assert.deepEqual(await callbackOf(e, id, 'delivered'), { url: callbackUrl, status: 'delivered' });
    assert.equal(receiver.calls.length, 2);
    const delivered = JSON.parse(receiver.calls[1]!.body.toString()) as Record<string, unknown> & { result: { contentType: string; encoding: string; data: string } };
    assert.equal(delivered['id'], id);
    assert.equal(delivered['status'], 'completed');
    assert.equal(receiver.calls[1]!.headers['x-request-id'], id);
    assert.equal(delivered.result.contentType, 'text/plain');
    assert.equal(Buffer.from(delivered.result.data, delivered.result.encoding as BufferEncoding).toString(), 'done:{"n":1}');
  });

  it('calls back when a request is dead-lettered, too', async () => {
    const endpoint = await suite.endpoint(() => ({ status: 400 }));
    const receiver = await suite.endpoint(echo);
    const e = await engineWith(endpoint.url(), [hostOf(receiver)], { 'redelivery.config': { default: { count: 0, delay: 0 } } });
    const id = await submit(e, 'flow', '{}', { 'x-callback-url': receiver.url('/hook') });
    await callbackOf(e, id, 'delivered');
    const delivered = JSON.parse(receiver.calls[0]!.body.toString()) as Record<string, unknown>;
    assert.equal(delivered['status'], 'dead-lettered');
    assert.equal(delivered['lastHttpStatus'], 400);
    assert.equal('result' in delivered, false);
  });

  it('follows no redirect: a 302 counts as a failed callback, and after its retries the callback is failed', async () => {
    const elsewhere = await suite.endpoint(echo);
    const endpoint = await suite.endpoint(echo);
    const receiver = await suite.endpoint(() => ({ status: 302, headers: { location: elsewhere.url('/caught') } }));
    const e = await suite.engine(
      flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: { 'callback.config': { allowedHosts: [hostOf(receiver), hostOf(elsewhere)], timeout: 2000, retries: 1 } } }),
    );
    const id = await submit(e, 'flow', '{}', { 'x-callback-url': receiver.url('/hook') });
    await callbackOf(e, id, 'failed');
    assert.equal(receiver.calls.length, 2, 'the first try and one retry');
    assert.equal(elsewhere.calls.length, 0, 'the redirect was not followed');
  });

  it('allows exactly the hosts of allowedHosts: any port for a host, one port for host:port', () => {
    const allowed = ['hooks.example', 'api.example:8443'];
    for (const [url, expected] of [
      ['https://hooks.example/x', true],
      ['http://hooks.example:9000/x', true],
      ['https://HOOKS.example/x', true],
      ['https://api.example:8443/x', true],
      ['https://api.example/x', false],
      ['https://api.example:9443/x', false],
      ['https://sub.hooks.example/x', false],
      ['https://hooks.example.evil/x', false],
      ['file:///etc/passwd', false],
      ['hooks.example', false],
    ] as const) {
      assert.equal(isCallbackAllowed(url, allowed), expected, url);
    }
  });

  it('holds a connection permit like an endpoint call, so totalConnections bounds callbacks too', async () => {
    const held = gate();
    const endpoint = await suite.endpoint(echo);
    const receiver = await suite.endpoint(echoWhen(held.opened));
    suite.onClose(async () => held.open());
    const e = await engineWith(endpoint.url(), [hostOf(receiver)], {
      'http.connection.config': { totalConnections: 1, routeConnections: 1, requestTimeout: 300 },
      'redelivery.config': { default: { count: 0, delay: 0 } },
    });
    const first = await submit(e, 'flow', '{"n":1}', { 'x-callback-url': receiver.url('/hook') });
    await eventually(() => assert.equal(receiver.inFlight, 1, 'the callback is being delivered'), { timeoutInMs: 30_000 });
    const second = await submit(e, 'flow', '{"n":2}');
    const status = await eventually(
      async () => {
        const s = await getStatus(e, second);
        assert.equal(s['status'], 'dead-lettered');
        return s;
      },
      { timeoutInMs: 30_000 },
    );
    assert.match(String(status['error']), /AE_POOL_TIMEOUT/, 'the only connection was the callback\'s');
    held.open();
    await callbackOf(e, first, 'delivered');
  });
});
