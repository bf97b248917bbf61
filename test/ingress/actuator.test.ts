import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { VERSION } from '../../src/version.js';
import { REPO_ROOT } from '../support/cli.js';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, getStatus, submit } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

/** The value of one sample line of the Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('the actuator', () => {
  const suite = engineSuite();

  it('exports counters, latency histograms, gauges and storage operations in the Prometheus text format', async () => {
    let calls = 0;
    const server = await suite.endpoint((call, i) => (calls++ === 0 ? { status: 503 } : echo(call, i)));
    const e = await suite.engine(
      flowDocument(suite.azurite, { flowName: 'metered', steps: [{ url: server.url() }, { url: server.url() }], extra: { 'redelivery.config': { default: { count: 2, delay: 0 } } } }),
    );
    const ids = [await submit(e, 'metered', '{}'), await submit(e, 'metered', '{}')];
    for (const id of ids) await eventually(async () => assert.equal((await getStatus(e, id))['status'], 'completed'), { timeoutInMs: 30_000 });

    const response = await fetch(`${e.url}/actuator/prometheus`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    const flow = { flow: 'metered' };
    assert.equal(sample(text, 'async_engine_requests_submitted_total', flow), 2);
    assert.equal(sample(text, 'async_engine_requests_completed_total', flow), 2);
    assert.equal(sample(text, 'async_engine_retries_total', { ...flow, step: '0', status: '503' }), 1);
    assert.equal(sample(text, 'async_engine_steps_total', { ...flow, step: '1', outcome: 'completed' }), 2);
    assert.equal(sample(text, 'async_engine_endpoint_duration_seconds_count', { ...flow, step: '0', status_class: '5xx' }), 1);
    assert.equal(sample(text, 'async_engine_endpoint_duration_seconds_count', { ...flow, step: '0', status_class: '2xx' }), 2);
    assert.equal(sample(text, 'async_engine_request_duration_seconds_count', flow), 2);
    assert.equal(sample(text, 'async_engine_steps_in_flight', { ...flow, step: '0' }), 0);
    assert.equal(sample(text, 'async_engine_queue_depth', { ...flow, step: '1' }), 0);
    assert.ok((sample(text, 'async_engine_storage_operations_total', { kind: 'queue.send' }) ?? 0) >= 4);
    assert.equal(sample(text, 'async_engine_build_info', { version: VERSION }), 1);
    // prom-client's own names, as the stock Node.js dashboards query them.
    assert.match(text, /^process_cpu_user_seconds_total \d/m, 'default process metrics');
    assert.match(text, /^nodejs_eventloop_lag_seconds \d/m, 'default Node.js metrics');
    const names = text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]!);
    assert.deepEqual(names.filter((n) => !/^(async_engine|process|nodejs)_/.test(n)), []);
  });

  it('answers info with the version, the flows and the uptime, and never a secret', async () => {
    const beforeStart = Date.now();
    const e = await suite.engine(
      flowDocument(suite.azurite, {
        flowName: 'informed',
        steps: [{ url: 'http://127.0.0.1:9/x' }],
        extra: { 'openapi.password': 'info-secret-password', 'openid.config': { credentials: { secret: 'info-secret-oidc' } } },
      }),
    );
    const asked = Date.now();
    const response = await fetch(`${e.url}/actuator/info`);
    assert.equal(response.status, 200);
    const text = await response.text();
    const answered = Date.now();
    const info = JSON.parse(text) as { version: string; flows: unknown; uptimeSeconds: number; startedAt: string };
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(info.version, pkg.version);
    assert.deepEqual(info.flows, [{ name: 'informed', steps: 1 }]);
    const startedAt = Date.parse(info.startedAt);
    assert.ok(startedAt >= beforeStart && startedAt <= asked, `started at ${info.startedAt}, between ${new Date(beforeStart).toISOString()} and ${new Date(asked).toISOString()}`);
    const seconds = (at: number): number => Math.round((at - startedAt) / 1000);
    assert.ok(info.uptimeSeconds >= seconds(asked) && info.uptimeSeconds <= seconds(answered), `uptime ${info.uptimeSeconds} s, asked ${asked - startedAt} ms after the start`);
    for (const secret of ['info-secret-password', 'info-secret-oidc', 'AccountKey', suite.azurite.connectionString]) assert.ok(!text.includes(secret), secret);
  });

  it('reports health DOWN once the engine no longer polls', async () => {
    const e = await suite.engine(flowDocument(suite.azurite, { flowName: 'stopping', steps: [{ url: 'http://127.0.0.1:9/x' }] }), { healthCacheInMs: 50 });
    assert.equal((await fetch(`${e.url}/actuator/health`)).status, 200, 'UP while it polls');
    await e.runtime.engine.close();
    const response = await eventually(async () => {
      const answer = await fetch(`${e.url}/actuator/health`);
      assert.equal(answer.status, 503);
      return answer;
    }, { timeoutInMs: 10_000 });
    const body = (await response.json()) as { status: string; components: Record<string, { status: string }> };
    assert.equal(body.status, 'DOWN');
    assert.equal(body.components['pollers']?.status, 'DOWN');
    assert.equal(body.components['storage']?.status, 'UP');
  });
});
