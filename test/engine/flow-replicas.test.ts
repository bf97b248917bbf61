import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnCli, type RunningCli } from '../support/cli.js';
import { writeConfigFile } from '../support/config-docs.js';
import { type EndpointServer, echo, echoWhen, gate } from '../support/endpoints.js';
import { engineSuite, flowDocument, getStatus, submit, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

describe('replicas and shutdown', () => {
  const suite = engineSuite();
  const endpoint = (handler = echo): Promise<EndpointServer> => suite.endpoint(handler);
  const engine = (doc: Record<string, unknown>): Promise<TestEngine> => suite.engine(doc);
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ae-replicas-'));
  });
  after(() => rm(tmp, { recursive: true, force: true }));
  const allCompleted = (e: { url: string }, ids: string[], timeoutInMs: number): Promise<void> =>
    eventually(
      async () => {
        const statuses = await Promise.all(ids.map((id) => getStatus(e, id)));
        const open = statuses.filter((s) => s['status'] !== 'completed');
        assert.equal(open.length, 0, `${open.length} of ${ids.length} not completed`);
      },
      { timeoutInMs, intervalInMs: 250 },
    );

  it('two engines on one storage account share the work as competing consumers', async () => {
    const slow = await endpoint((call) => ({ ...echo(call, 0), delayInMs: 100 }));
    const doc = flowDocument(suite.azurite, { steps: [{ url: slow.url(), maxThreads: 4 }, { url: slow.url(), maxThreads: 4 }], queue: { maxMessages: 4 } });
    const [a, b] = [await engine(doc), await engine(doc)];
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => submit(i % 2 ? a : b, 'flow', `{"i":${i}}`)));
    await allCompleted(a, ids, 60_000);
    // A last step's line comes after its message's delete, which follows the completed status row.
    const [byA, byB] = await eventually(
      () => {
        const counts = [a, b].map((e) => e.logged('step.forwarded').length + e.logged('step.completed').length) as [number, number];
        assert.equal(counts[0] + counts[1], 80, 'each of the 80 step-messages was settled once');
        return counts;
      },
      { timeoutInMs: 30_000 },
    );
    assert.ok(byA > 0 && byB > 0, `both engines worked: ${byA} and ${byB}`);
    assert.equal(slow.calls.length, 80, 'no endpoint call was repeated');
  });

  it('loses nothing when one of two engine processes is killed with SIGKILL mid-load', async () => {
    const slow = await endpoint((call) => ({ ...echo(call, 0), delayInMs: 150 }));
    const doc = flowDocument(suite.azurite, {
      steps: [{ url: slow.url(), maxThreads: 4 }, { url: slow.url(), maxThreads: 4 }, { url: slow.url(), maxThreads: 4 }],
      queue: { maxMessages: 4, visibilityTimeout: 3 },
    });
    const file = await writeConfigFile(doc, tmp, 'sigkill.json');
    const start = async (): Promise<{ cli: RunningCli; url: string }> => {
      const cli = spawnCli(['start', '--config', file]);
      suite.onClose(async () => {
        cli.child.kill('SIGKILL');
        await cli.exited;
      });
      const url = await eventually(
        () => {
          const line = cli.logLines().find((l) => l['msg'] === 'ingress.listening');
          assert.ok(line, `not listening yet: ${cli.stderr}`);
          return String(line['url']);
        },
        { timeoutInMs: 60_000 },
      );
      return { cli, url };
    };
    const [survivor, victim] = [await start(), await start()];

    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => submit(i % 2 ? survivor : victim, 'flow', `{"i":${i}}`)));
    await eventually(
      () => assert.ok(victim.cli.logLines().filter((l) => l['msg'] === 'step.forwarded').length >= 5, 'the victim is working'),
      { timeoutInMs: 60_000 },
    );
    victim.cli.child.kill('SIGKILL');
    const { code, stdout } = await victim.cli.exited;
    assert.equal(code, null, 'killed, not exited');
    const victimCompleted = stdout.split('\n').filter((l) => l.includes('"step.completed"')).length;

    await allCompleted(survivor, ids, 120_000);
    assert.ok(victimCompleted < 40, 'the survivor finished what the victim left');
  });

  it('close() lets in-flight steps settle before it resolves, and polls no more', async () => {
    const latch = gate();
    const held = await endpoint(echoWhen(latch.opened));
    const e = await engine(flowDocument(suite.azurite, { steps: [{ url: held.url(), maxThreads: 3 }] }));
    const ids = await Promise.all([0, 1, 2].map((i) => submit(e, 'flow', `{"i":${i}}`)));
    await eventually(() => assert.equal(held.inFlight, 3), { timeoutInMs: 30_000 });

    let isClosed = false;
    const closing = e.runtime.engine.close().then(() => (isClosed = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(isClosed, false, 'close() waits for the steps in flight');
    latch.open();
    await closing;
    assert.equal(e.logged('step.completed').length, 3, 'each in-flight step settled before close() resolved');
    for (const id of ids) assert.equal((await getStatus(e, id))['status'], 'completed');
  });

  it('after shutdownGraceMs, gives up on a step and makes its message visible again at once for another engine', async () => {
    const hang = await endpoint(() => new Promise(() => undefined));
    const doc = flowDocument(suite.azurite, {
      steps: [{ url: hang.url(), maxThreads: 1 }],
      queue: { visibilityTimeout: 600 },
      extra: { 'server.config': { shutdownGraceMs: 500 } },
    });
    const first = await engine(doc);
    const id = await submit(first, 'flow', '{}');
    await eventually(() => assert.equal(hang.calls.length, 1), { timeoutInMs: 30_000 });

    await first.close();
    assert.equal(first.logged('engine.drain_timed_out').length, 1);
    assert.equal(first.logged('step.released').length, 1, 'the message was made visible at once');

    // Far sooner than the 600 s visibility timeout, another engine gets the message.
    hang.setHandler(echo);
    const second = await engine(doc);
    await eventually(async () => assert.equal((await getStatus(second, id))['status'], 'completed'), { timeoutInMs: 30_000 });
    assert.equal(hang.calls.length, 2);
  });
});
