/**
 * One sweeper among replicas: runtimes on one storage account elect the one that runs the expiry
 * sweep; another takes over when it stops cleanly (at once) or is killed (within about a lease).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnRuntime } from '../support/cli.js';
import { writeConfigFile } from '../support/config-docs.js';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

/** Azure's shortest lease, and a standby that asks four times a second. */
const LEASE_IN_MS = 15_000;
const TIMINGS = { sweeperLeaseInMs: LEASE_IN_MS, sweeperAcquireIntervalInMs: 250, healthCacheInMs: 0 };
const WAIT = { timeoutInMs: 60_000 };

/** Listings of the status table: in these engines, with no request and no API call, only the expiry sweep lists it. */
const sweeps = (e: TestEngine): number => e.storageCalls.snapshot()['table.query'] ?? 0;

async function sweeperHealth(e: { url: string }): Promise<string> {
  const body = (await (await fetch(`${e.url}/actuator/health`)).json()) as { components: Record<string, { detail?: string }> };
  return String(body.components['sweeper']?.detail);
}

describe('one sweeper among replicas', () => {
  const suite = engineSuite();

  /** A flow whose queues let messages expire (timeToLive 1 h, the default), swept every second. */
  async function document(): Promise<Record<string, unknown>> {
    const server = await suite.endpoint(echo);
    return flowDocument(suite.azurite, { steps: [{ url: server.url() }], extra: { 'server.config': { expirySweepMs: 1000 } } });
  }

  it('runs the expiry sweep on exactly one of two replicas, and the other takes over at once when it stops cleanly', async () => {
    const doc = await document();
    const a = await suite.engine(doc, TIMINGS);
    const b = await suite.engine(doc, TIMINGS);
    const sweeper = await eventually(() => {
      assert.notEqual(a.runtime.engine.isSweeper, b.runtime.engine.isSweeper, 'exactly one is the sweeper');
      return a.runtime.engine.isSweeper ? a : b;
    }, WAIT);
    const standby = sweeper === a ? b : a;

    await eventually(() => assert.ok(sweeps(sweeper) >= 3, `${sweeps(sweeper)} sweeps so far`), WAIT);
    // Awaited, not read at once: on a busy machine each ask may take longer than the sweeps did.
    await eventually(() => assert.ok((standby.storageCalls.snapshot()['blob.lease'] ?? 0) >= 3, 'the standby keeps asking for the lease'), WAIT);
    assert.equal(sweeps(standby), 0, 'the standby never swept');
    assert.equal(standby.logged('sweeper.acquired').length, 0);
    assert.equal(sweeper.logged('sweeper.acquired').length, 1);
    assert.equal(await sweeperHealth(sweeper), 'this replica is the sweeper');
    assert.equal(await sweeperHealth(standby), 'standing by');

    const closedAt = performance.now();
    await sweeper.close();
    assert.equal(sweeper.logged('sweeper.released').length, 1);
    await eventually(() => assert.equal(standby.runtime.engine.isSweeper, true), WAIT);
    // Had the lease only lapsed, the standby would have waited two thirds of it at least (renewed within the last third).
    assert.ok(performance.now() - closedAt < LEASE_IN_MS / 3, `taken over ${Math.round(performance.now() - closedAt)} ms after the close`);
    await eventually(() => assert.ok(sweeps(standby) >= 1, 'and sweeps'), WAIT);
  });

  it('makes another replica the sweeper within about a lease period after the sweeper is killed', async () => {
    const doc = await document();
    const child = spawnRuntime(await writeConfigFile(doc), TIMINGS);
    suite.onClose(async () => {
      child.child.kill('SIGKILL');
      await child.exited;
    });
    const childUrl = await child.startedUrl();
    await eventually(() => assert.ok(child.logLines().some((l) => l['msg'] === 'sweeper.acquired'), 'the child is the sweeper'), WAIT);
    const metrics = await (await fetch(`${childUrl}/actuator/prometheus`)).text();
    assert.match(metrics, /^async_engine_sweeper 1$/m);
    assert.equal(await sweeperHealth({ url: childUrl }), 'this replica is the sweeper');

    const b = await suite.engine(doc, TIMINGS);
    await eventually(() => assert.ok((b.storageCalls.snapshot()['blob.lease'] ?? 0) >= 3, 'b asked for the lease'), WAIT);
    assert.equal(b.runtime.engine.isSweeper, false, 'and was refused');
    assert.equal(sweeps(b), 0);

    child.child.kill('SIGKILL');
    await child.exited;
    // The killed sweeper never released its lease: b is granted it once it lapses.
    await eventually(() => assert.equal(b.runtime.engine.isSweeper, true), { timeoutInMs: 3 * LEASE_IN_MS });
    await eventually(() => assert.ok(sweeps(b) >= 1, 'and sweeps'), WAIT);
    assert.equal(b.logged('sweeper.acquired').length, 1);
  });
});
