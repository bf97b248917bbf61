/**
 * `npm start` as developers and containers stop it: npm runs the script through `sh -c`, so a
 * signal sent to npm reaches the engine only if nothing in between swallows it. Each test runs
 * `npm run start` (without the prestart build: the suite runs compiled) on a temporary config with
 * the embedded Azurite on ports of its own, stops it one way, and checks that nothing of it is left:
 * npm has exited, the four ports are free and no process names the test's temp folder.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cleanEnv, REPO_ROOT, RunningCli } from '../support/cli.js';
import { type ConfigDocument, DEMO_FLOW, DEMO_QUEUES, validDocument, writeConfigFile } from '../support/config-docs.js';
import { EndpointServer, echoWhen, gate } from '../support/endpoints.js';
import { eventually } from '../support/eventually.js';
import { freePorts, isPortFree } from '../support/ports.js';

const START_TIMEOUT_IN_MS = 120_000;
const STOP_TIMEOUT_IN_MS = 60_000;

interface NpmStart {
  npm: RunningCli;
  /** The temp folder holding the config and the emulator's workspace: every process of the run names it. */
  folder: string;
  /** The ingress's port, then the emulator's blob, queue and table ports. */
  ports: number[];
}

/**
 * `npm run start` on a fresh config (the demo document of config-docs.ts, `overrides` replacing
 * whole keys), in its own process group (as a terminal's foreground job), once the engine answers.
 * The config is named by `--config` after the script's arguments, or with `via: 'env'` by
 * ASYNC_ENGINE_CONFIG alone.
 */
async function startWithNpm(overrides: ConfigDocument = {}, { via }: { via: 'flag' | 'env' } = { via: 'flag' }): Promise<NpmStart> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'ae-npm-start-'));
  const ports = await freePorts(4);
  const [ingress, blob, queue, table] = ports as [number, number, number, number];
  const config = await writeConfigFile(
    validDocument({
      'azure.storage.config': { emulator: 'embedded', emulatorLocation: path.join(folder, 'azurite'), emulatorBlobPort: blob, emulatorQueuePort: queue, emulatorTablePort: table },
      'server.config': { auth: 'none', host: '127.0.0.1', port: ingress },
      ...overrides,
    }),
    folder,
  );
  const child = spawn('npm', ['run', 'start', '--ignore-scripts', ...(via === 'flag' ? ['--', '--config', config] : [])], {
    cwd: REPO_ROOT,
    env: cleanEnv({ npm_config_update_notifier: 'false', ...(via === 'env' ? { ASYNC_ENGINE_CONFIG: config } : {}) }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const npm = new RunningCli(child);
  const started: NpmStart = { npm, folder, ports };
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`npm exited early: ${npm.stderr}`);
        const res = await fetch(`http://127.0.0.1:${ingress}/actuator/health/liveness`, { signal: AbortSignal.timeout(5000) });
        assert.equal(res.status, 200);
      },
      { timeoutInMs: START_TIMEOUT_IN_MS, intervalInMs: 200 },
    );
    return started;
  } catch (err) {
    await cleanUp(started);
    throw err;
  }
}

/** The processes (other than this one) whose command line names `text`. */
async function processesNaming(text: string): Promise<Array<{ pid: number; cmdline: string }>> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      if (cmdline.includes(text)) found.push({ pid, cmdline });
    } catch {
      // gone in the meantime
    }
  }
  return found;
}

/** Waits for npm to exit; fails (leaving the clean-up to the caller) if it has not within the time-out. */
async function npmExit({ npm }: NpmStart): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { child } = npm;
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  const timeout = AbortSignal.timeout(STOP_TIMEOUT_IN_MS);
  try {
    const [code, signal] = (await once(child, 'exit', { signal: timeout })) as [number | null, NodeJS.Signals | null];
    return { code, signal };
  } catch (err) {
    if (timeout.aborted) assert.fail(`npm has not exited ${STOP_TIMEOUT_IN_MS} ms after the signal:\n${npm.stdout}\n${npm.stderr}`);
    throw err;
  }
}

/** Everything of the run is gone: the four ports are free and no process names the temp folder. */
async function assertNothingLeft({ folder, ports }: NpmStart): Promise<void> {
  await eventually(
    async () => {
      for (const port of ports) assert.ok(await isPortFree(port), `port ${port} is still held`);
      assert.deepEqual(await processesNaming(folder), [], 'no process of this run survives');
    },
    { timeoutInMs: STOP_TIMEOUT_IN_MS, intervalInMs: 200 },
  );
}

/** Ends whatever of the run is still alive (by pid), and removes the temp folder. */
async function cleanUp({ npm, folder }: NpmStart): Promise<void> {
  if (npm.child.exitCode === null && npm.child.signalCode === null) npm.child.kill('SIGKILL');
  for (const { pid } of await processesNaming(folder)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(folder, { recursive: true, force: true });
}

/** The engine's own log says it stopped after a drain. */
function assertDrained(npm: RunningCli): void {
  assert.ok(
    npm.logLines().some((l) => l['msg'] === 'engine.stopped'),
    `the engine logged engine.stopped:\n${npm.stdout}\n${npm.stderr}`,
  );
}

describe('npm start, configured from the environment', () => {
  it('runs the configuration ASYNC_ENGINE_CONFIG names: the script pins no --config of its own', async () => {
    const run = await startWithNpm({}, { via: 'env' });
    try {
      // startWithNpm waited for the ingress on the port that configuration gives it.
      assert.ok(run.npm.logLines().some((l) => l['msg'] === 'engine.starting' && String(l['config']).startsWith(run.folder)), run.npm.stdout);
      run.npm.child.kill('SIGTERM');
      assert.equal((await npmExit(run)).code, 0, run.npm.stderr);
      await assertNothingLeft(run);
    } finally {
      await cleanUp(run);
    }
  });
});

describe('npm start, stopped by a signal', { concurrency: false }, () => {
  const forwarded: Array<[NodeJS.Signals, string]> = [
    ['SIGTERM', 'SIGTERM to npm (a container runtime or process manager stopping it) drains the engine and stops its emulator'],
    ['SIGINT', 'SIGINT to npm alone drains the engine and stops its emulator'],
  ];
  for (const [signal, title] of forwarded) {
    it(title, async () => {
      const run = await startWithNpm();
      try {
        run.npm.child.kill(signal);
        const { code } = await npmExit(run);
        await assertNothingLeft(run);
        await run.npm.exited;
        assert.equal(code, 0, run.npm.stderr);
        assertDrained(run.npm);
      } finally {
        await cleanUp(run);
      }
    });
  }

  it('SIGINT to the whole process group (Ctrl-C in a terminal: npm forwards it, so the engine gets it twice) drains once and exits 0', async () => {
    const run = await startWithNpm();
    try {
      process.kill(-(run.npm.child.pid as number), 'SIGINT');
      const { code } = await npmExit(run);
      await assertNothingLeft(run);
      await run.npm.exited;
      assert.equal(code, 0, run.npm.stderr);
      assert.doesNotMatch(run.npm.stderr, /exiting without draining/);
      assertDrained(run.npm);
    } finally {
      await cleanUp(run);
    }
  });

  it('SIGKILL to npm (nothing forwarded) still stops the engine and its emulator once the engine notices it is orphaned', async () => {
    const run = await startWithNpm();
    try {
      run.npm.child.kill('SIGKILL');
      await npmExit(run);
      await assertNothingLeft(run);
      // The engine writes to the pipe npm handed it: its output ends when it does.
      await run.npm.exited;
      assertDrained(run.npm);
    } finally {
      await cleanUp(run);
    }
  });

  it('Ctrl-C while a step is in flight: the embedded emulator stays up until the drain has settled the step', async () => {
    const held = gate();
    const endpoint = await EndpointServer.start(echoWhen(held.opened));
    const [queue] = DEMO_QUEUES;
    const run = await startWithNpm({
      'queue.config': [{ name: queue }],
      'flow.config': [{ flowName: DEMO_FLOW, queueMappings: [{ initial: true, sourceQueueName: queue, endpointUrl: endpoint.url() }] }],
    });
    try {
      const submitted = await fetch(`http://127.0.0.1:${run.ports[0]}/api/flows/${DEMO_FLOW}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
      assert.equal(submitted.status, 202);
      await eventually(() => assert.equal(endpoint.inFlight, 1, 'the step is calling its endpoint'), { timeoutInMs: 60_000 });
      process.kill(-(run.npm.child.pid as number), 'SIGINT');
      await eventually(() => assert.ok(run.npm.logLines().some((l) => l['msg'] === 'engine.draining')), { timeoutInMs: STOP_TIMEOUT_IN_MS });
      held.open();
      const { code } = await npmExit(run);
      await assertNothingLeft(run);
      await run.npm.exited;
      assert.equal(code, 0, run.npm.stderr);
      const events = run.npm.logLines().map((l) => l['msg']);
      assert.ok(events.includes('step.completed'), `the step completed during the drain: ${events.join(', ')}`);
      assert.ok(!events.includes('step.error'), `no storage write of the step failed:\n${run.npm.stdout}`);
    } finally {
      held.open();
      await endpoint.close();
      await cleanUp(run);
    }
  });
});
