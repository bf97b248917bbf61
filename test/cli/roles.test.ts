/**
 * `async-engine start --role`: an ingress and workers as separate processes on one storage account,
 * coordinated by nothing but storage, and a worker killed in the middle of the work.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startAzurite } from '../support/azurite.js';
import { cleanEnv, type RunningCli, runCli, spawnCli } from '../support/cli.js';
import { writeConfigFile } from '../support/config-docs.js';
import { EndpointServer, echo, echoWhen, gate } from '../support/endpoints.js';
import { flowDocument, submit } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

const REQUESTS = 200;
/** The last step answers this many calls at once and holds the rest until the test lets them go. */
const ANSWERED_AT_ONCE = 50;

/** How many requests the ingress lists as completed, every page read. */
async function completedCount(ingress: string): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const query: string = `status=completed&limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const response = await fetch(`${ingress}/api/requests?${query}`);
    assert.equal(response.status, 200);
    const page = (await response.json()) as { items: unknown[]; nextCursor: string | null };
    count += page.items.length;
    cursor = page.nextCursor;
  } while (cursor !== null);
  return count;
}

/** The value of a Prometheus sample `name{labels}`, or undefined when there is none. */
function sample(text: string, name: string, label: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function assertProblem(response: Response, status: number): Promise<void> {
  assert.equal(response.status, status, `${response.url}: ${await response.clone().text()}`);
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = (await response.json()) as Record<string, unknown>;
  assert.equal(body['status'], status);
}

const stepLines = (cli: RunningCli): number => cli.logLines().filter((l) => String(l['msg']).startsWith('step.')).length;

describe('async-engine start --role', () => {
  it('one ingress and two workers on one storage account complete every request, though a worker is killed in the middle', async () => {
    const azurite = await startAzurite();
    const held = gate();
    const first = await EndpointServer.start(echo);
    const second = await EndpointServer.start(echo);
    const last = await EndpointServer.start((call, index) => (index < ANSWERED_AT_ONCE ? echo(call, index) : echoWhen(held.opened)(call, index)));
    // A short visibility timeout: the killed worker's messages come back soon for the other one.
    const doc = flowDocument(azurite, {
      steps: [{ url: first.url() }, { url: second.url() }, { url: last.url() }],
      queue: { visibilityTimeout: 5 },
      extra: { 'server.config': { maxWaitSeconds: 120 } },
    });
    const file = await writeConfigFile(doc);
    const ingress = spawnCli(['start', '--config', file, '--role', 'ingress']);
    const killed = spawnCli(['start', '--config', file, '--role', 'worker']);
    const survivor = spawnCli(['start', '--config', file, '--role', 'worker']);
    const all = [ingress, killed, survivor];
    try {
      const [ingressUrl, killedUrl, survivorUrl] = await Promise.all(all.map((cli) => cli.startedUrl(120_000)));
      assert.ok(ingressUrl && killedUrl && survivorUrl);
      assert.deepEqual(
        all.map((cli) => cli.logLines().find((l) => l['msg'] === 'engine.starting')?.['role']),
        ['ingress', 'worker', 'worker'],
      );

      const ids: string[] = [];
      for (let i = 0; i < REQUESTS; i++) ids.push(await submit({ url: ingressUrl }, 'flow', JSON.stringify({ n: i })));

      // Some requests are done, the rest wait at the last step, and the worker to be killed has been working.
      await eventually(async () => assert.ok((await completedCount(ingressUrl)) >= ANSWERED_AT_ONCE / 2), { timeoutInMs: 120_000, intervalInMs: 500 });
      await eventually(() => assert.ok(last.calls.length > ANSWERED_AT_ONCE, 'calls are held at the last step'), { timeoutInMs: 120_000 });
      await eventually(() => assert.ok(stepLines(killed) > 0, 'the worker to be killed ran steps'), { timeoutInMs: 120_000 });
      assert.ok((await completedCount(ingressUrl)) < REQUESTS, 'not every request is done yet');
      killed.child.kill('SIGKILL');
      assert.equal((await killed.exited).code, null, 'killed, not exited');
      held.open();

      // Every request completes, as the ingress tells; what the killed worker held came back to the survivor.
      let pending = [...ids];
      await eventually(
        async () => {
          const statuses = await Promise.all(pending.map(async (id) => [id, (await (await fetch(`${ingressUrl}/api/requests/${id}`)).json()) as { status: string }] as const));
          pending = statuses.filter(([, status]) => status.status !== 'completed').map(([id]) => id);
          assert.deepEqual(pending, [], `${pending.length} of ${REQUESTS} not completed yet`);
        },
        { timeoutInMs: 240_000, intervalInMs: 1000 },
      );

      // Prefer: wait on an ingress without an engine: it learns of the result from the status row.
      const waited = await fetch(`${ingressUrl}/api/flows/flow`, { method: 'POST', body: '{"waited":true}', headers: { 'content-type': 'application/json', prefer: 'wait=120' } });
      assert.equal(waited.status, 200, await waited.clone().text());
      assert.equal(waited.headers.get('preference-applied'), 'wait=120');
      assert.deepEqual(await waited.json(), { waited: true });

      // The ingress serves the API and its probes, and polls nothing.
      assert.equal((await fetch(`${ingressUrl}/api/flows`)).status, 200);
      assert.equal((await fetch(`${ingressUrl}/actuator/health/liveness`)).status, 200);
      const health = (await (await fetch(`${ingressUrl}/actuator/health`)).json()) as { status: string; components: Record<string, unknown> };
      assert.equal(health.status, 'UP');
      assert.deepEqual(Object.keys(health.components), ['storage'], 'an ingress has no pollers to report');
      assert.equal(((await (await fetch(`${ingressUrl}/actuator/info`)).json()) as { role: string }).role, 'ingress');
      const ingressMetrics = await (await fetch(`${ingressUrl}/actuator/prometheus`)).text();
      assert.equal(sample(ingressMetrics, 'async_engine_storage_operations_total', 'kind="queue.receive"') ?? 0, 0, 'the ingress never received from a queue');
      assert.ok((sample(ingressMetrics, 'async_engine_storage_operations_total', 'kind="queue.send"') ?? 0) >= REQUESTS, 'it sent every submission');
      assert.equal(stepLines(ingress), 0, 'the ingress ran no step');
      assert.equal(ingress.logLines().filter((l) => l['msg'] === 'engine.pollers_started').length, 0);

      // The surviving worker serves /actuator/* only, and it polled.
      for (const route of ['/api/flows', '/api/requests', `/api/requests/${ids[0]}`, '/openapi.json']) await assertProblem(await fetch(`${survivorUrl}${route}`), 404);
      await assertProblem(await fetch(`${survivorUrl}/api/flows/flow`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }), 404);
      assert.equal((await fetch(`${survivorUrl}/actuator/health/liveness`)).status, 200);
      const workerHealth = (await (await fetch(`${survivorUrl}/actuator/health`)).json()) as { components: Record<string, { status: string }> };
      assert.equal(workerHealth.components['pollers']?.status, 'UP');
      assert.equal(((await (await fetch(`${survivorUrl}/actuator/info`)).json()) as { role: string }).role, 'worker');
      const workerMetrics = await (await fetch(`${survivorUrl}/actuator/prometheus`)).text();
      assert.ok((sample(workerMetrics, 'async_engine_storage_operations_total', 'kind="queue.receive"') ?? 0) > 0, 'a worker receives');
      assert.ok(stepLines(survivor) > 0);

      // Both stop cleanly.
      for (const cli of [ingress, survivor]) cli.child.kill('SIGTERM');
      for (const cli of [ingress, survivor]) assert.equal((await cli.exited).code, 0, cli.stderr);
    } finally {
      for (const cli of all) if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
      await Promise.all(all.map((cli) => cli.exited));
      held.open();
      await Promise.all([first.close(), second.close(), last.close()]);
      await azurite.close();
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('refuses an unknown role, from the flag or the variable, with exit 64 and the roles it knows', async () => {
    for (const [args, env, source] of [
      [['start', '--role', 'bogus'], cleanEnv(), '--role'],
      [['start'], cleanEnv({ ASYNC_ENGINE_ROLE: 'bogus' }), 'ASYNC_ENGINE_ROLE'],
      [['start', '--role', 'Worker'], cleanEnv(), '--role'],
    ] as const) {
      const { code, stderr } = await runCli([...args], { env });
      assert.equal(code, 64, stderr);
      assert.ok(stderr.includes(`${source} "${source === '--role' ? args[2] : 'bogus'}" is not a role: use one of all, ingress, worker`), stderr);
      assert.match(stderr, /Usage: async-engine/);
    }
    const { code, stderr } = await runCli(['config', 'check', '--role', 'worker']);
    assert.equal(code, 64);
    assert.match(stderr, /--role applies to start only/);
  });

  it('takes the role from ASYNC_ENGINE_ROLE, and the flag over it', async () => {
    const azurite = await startAzurite();
    const file = await writeConfigFile(flowDocument(azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    const fromVariable = spawnCli(['start', '--config', file], { env: cleanEnv({ ASYNC_ENGINE_ROLE: 'worker' }) });
    const fromFlag = spawnCli(['start', '--config', file, '--role', 'ingress'], { env: cleanEnv({ ASYNC_ENGINE_ROLE: 'worker' }) });
    try {
      const [workerUrl, ingressUrl] = await Promise.all([fromVariable.startedUrl(120_000), fromFlag.startedUrl(120_000)]);
      const started = (cli: RunningCli): unknown => cli.logLines().find((l) => l['msg'] === 'engine.started')?.['role'];
      assert.equal(started(fromVariable), 'worker');
      assert.equal(started(fromFlag), 'ingress');
      await assertProblem(await fetch(`${workerUrl}/api/flows`), 404);
      assert.equal((await fetch(`${ingressUrl}/api/flows`)).status, 200);
      for (const cli of [fromVariable, fromFlag]) cli.child.kill('SIGTERM');
      for (const cli of [fromVariable, fromFlag]) assert.equal((await cli.exited).code, 0, cli.stderr);
    } finally {
      for (const cli of [fromVariable, fromFlag]) if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
      await Promise.all([fromVariable.exited, fromFlag.exited]);
      await azurite.close();
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });
});
