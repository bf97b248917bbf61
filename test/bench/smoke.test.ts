/**
 * The benchmark's quick run, as a smoke test: it finishes, reports every number, and both systems
 * do exactly the storage work per request that the design says. Its timings and goal verdicts mean
 * nothing at this size and are not asserted (timing goals live in `npm run bench` only).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../support/cli.js';

const BENCH = fileURLToPath(new URL('./bench.js', import.meta.url));

interface Storage {
  byKind: Record<string, number>;
  perStepMessage: number;
}
interface Run {
  system: string;
  requests: number;
  requestsPerSecond: number;
  submitToDoneInMs: { p50: number; p99: number };
  pickupToDoneInMs: { p50: number; p99: number };
  storage: Storage;
  peakRssInBytes: number | null;
  cpuSeconds: number | null;
}
interface IdleRun {
  system: string;
  flows: number;
  queues: number;
  seconds: number;
  receives: number;
  receivesPerQueuePerSecond: number;
  byKind: Record<string, number>;
}
interface CpuSplitRun {
  system: string;
  requests: number;
  stepMessages: number;
  ingressCpuMsPerSubmission: number | null;
  workerCpuMsPerStepMessage: number | null;
  storage: Storage;
  alone: { seconds: number; workerCpuSeconds: number | null; workerCpuMsPerStepMessage: number | null } | null;
}
interface Report {
  options: { n: number; idleSeconds: number; scenarios: string[] };
  throughput: { runs: Run[] };
  lightLoad: { runs: Run[] };
  trickle: { runs: Run[]; median: Record<string, { storageCallsPerRequest: number; submitToDoneP99InMs: number }> };
  idle: { runs: IdleRun[]; median: Record<string, { receivesPerQueuePerSecond: number }> };
  cpuSplit: { runs: CpuSplitRun[] };
  backlog: { requests: number; drainSeconds: number; peakRssInBytes: number | null; storage: Storage } | null;
  goals: Array<{ scenario: string; goal: string; isMet: boolean; measured: string }>;
}

async function quickRun(...extra: string[]): Promise<Report> {
  const child = spawn(process.execPath, [BENCH, '--quick', '--json', ...extra], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, `the quick bench exited ${code}:\n${stderr}`);
  return JSON.parse(stdout) as Report;
}

/** Every step-message is one send, one status write and one delete; every request one status insert. */
/**
 * The step work of `requests` requests, counted from the start of the `processes` engine processes:
 * an engine on fresh storage also inserts the time index's meta row at start-up
 * (storage/index-meta.ts); the floor has no such row.
 */
function assertStepWork(storage: Storage, requests: number, label: string, system: string, processes = 1): void {
  const { byKind } = storage;
  assert.equal(byKind['queue.send'], 3 * requests, `${label}: sends`);
  assert.equal(byKind['queue.delete'], 3 * requests, `${label}: deletes`);
  assert.equal(byKind['table.update'], 3 * requests, `${label}: status writes`);
  if (system === 'engine') {
    // Each engine process that finds no meta row inserts it; of two starting together, both may try.
    const inserts = byKind['table.insert'] ?? 0;
    assert.ok(inserts >= requests + 1 && inserts <= requests + processes, `${label}: status inserts: ${inserts} for ${requests} requests`);
  } else {
    assert.equal(byKind['table.insert'], requests, `${label}: status inserts`);
  }
  assert.ok((byKind['queue.receive'] ?? 0) > 0, `${label}: receives`);
}

describe('benchmark, quick run', () => {
  it('finishes and reports throughput, latency, storage, memory, CPU per submission and per step-message, idle receives and the goals for both systems', async () => {
    const report = await quickRun();
    assert.deepEqual(report.options.scenarios, ['throughput', 'cpu-split', 'light', 'trickle', 'idle', 'backlog']);
    const scenarios = [['throughput', report.throughput.runs], ['light load', report.lightLoad.runs], ['trickle', report.trickle.runs]] as const;
    for (const [scenario, runs] of scenarios) {
      assert.deepEqual(runs.map((r) => r.system).sort(), ['engine', 'floor'], scenario);
      for (const run of runs) {
        const label = `${scenario} ${run.system}`;
        if (scenario === 'throughput') assert.equal(run.requests, report.options.n, label);
        assert.ok(run.requests > 0 && run.requestsPerSecond > 0, label);
        for (const latency of [run.submitToDoneInMs, run.pickupToDoneInMs]) assert.ok(latency.p50 > 0 && latency.p99 >= latency.p50, label);
        assertStepWork(run.storage, run.requests, label, run.system);
        if (process.platform === 'linux') assert.ok(run.peakRssInBytes! > 0 && run.cpuSeconds! > 0, `${label}: process stats`);
      }
    }
    for (const system of ['floor', 'engine']) {
      assert.ok(report.trickle.median[system]!.storageCallsPerRequest > 0, `trickle ${system}: calls per request`);
      assert.ok(report.trickle.median[system]!.submitToDoneP99InMs > 0, `trickle ${system}: p99`);
      assert.ok(report.idle.median[system]!.receivesPerQueuePerSecond > 0, `idle ${system}: receives per queue per second`);
    }
    assert.deepEqual(report.idle.runs.map((r) => r.system).sort(), ['engine', 'floor']);
    for (const run of report.idle.runs) {
      // Two 3-step flows, nobody submits: the window has receives and no step work at all.
      assert.equal(run.flows, 2, `idle ${run.system}: flows`);
      assert.equal(run.queues, 6, `idle ${run.system}: queues`);
      assert.ok(run.seconds >= report.options.idleSeconds, `idle ${run.system}: window`);
      assert.equal(run.receives, run.byKind['queue.receive'], `idle ${run.system}: receives`);
      assert.ok(run.receives >= run.queues, `idle ${run.system}: every queue polled`);
      for (const kind of ['queue.send', 'queue.delete', 'table.update', 'table.insert']) assert.equal(run.byKind[kind] ?? 0, 0, `idle ${run.system}: ${kind}`);
    }
    // Ingress and worker in processes of their own: the same step work, and the CPU of each.
    assert.deepEqual(report.cpuSplit.runs.map((r) => r.system).sort(), ['engine', 'floor']);
    for (const run of report.cpuSplit.runs) {
      const label = `cpu split ${run.system}`;
      assert.equal(run.requests, report.options.n, label);
      assert.equal(run.stepMessages, 3 * run.requests, label);
      assertStepWork(run.storage, run.requests, label, run.system, 2);
      if (process.platform === 'linux') {
        assert.ok(run.ingressCpuMsPerSubmission! > 0 && run.workerCpuMsPerStepMessage! > 0, `${label}: CPU per submission and per step-message`);
        // The worker alone drained another N after its resumption: its time and CPU are counted from then.
        assert.ok(run.alone !== null && run.alone.seconds > 0 && run.alone.workerCpuMsPerStepMessage! > 0, `${label}: the worker alone`);
      }
    }
    assert.ok(report.backlog && report.backlog.requests > report.options.n && report.backlog.drainSeconds > 0);
    assertStepWork(report.backlog.storage, report.backlog.requests, 'backlog', 'engine');
    assert.equal(report.goals.length, 8);
    for (const goal of report.goals) assert.match(goal.measured, /\d/, goal.goal);
  });

  it('runs only the scenarios --only names, and prints only their goal lines', async () => {
    const report = await quickRun('--only', 'cpu-split', '--rounds', '2');
    assert.deepEqual(report.options.scenarios, ['cpu-split']);
    for (const runs of [report.throughput.runs, report.lightLoad.runs, report.trickle.runs, report.idle.runs]) assert.deepEqual(runs, []);
    assert.equal(report.backlog, null);
    assert.deepEqual(report.cpuSplit.runs.map((r) => r.system), ['floor', 'engine', 'engine', 'floor'], 'two rounds, alternating');
    for (const run of report.cpuSplit.runs) assertStepWork(run.storage, run.requests, `cpu split ${run.system}`, run.system, 2);
    assert.deepEqual(report.goals.map((g) => [g.scenario, g.goal]), [['cpu-split', "engine CPU per step-message <= the floor's"]]);
  });

  it('refuses --only with a scenario it does not know, with exit 64 and the names it does know', async () => {
    for (const only of ['bogus', 'CPU-SPLIT', '', 'cpu-split,,idle', 'cpu-split;idle', 'cpu-split,']) {
      const child = spawn(process.execPath, [BENCH, '--only', only], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 64, `--only ${JSON.stringify(only)}: ${stderr}`);
      assert.match(stderr, /--only takes scenario names among throughput, cpu-split, light, trickle, idle, backlog/);
    }
  });
});
