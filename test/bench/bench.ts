/**
 * `npm run bench`: the engine against the floor, a minimal pipeline on the raw SDKs (floor.ts), on
 * the same machine in one run (Benchmark issue). Each system gets a fresh in-memory Azurite per
 * run, the same N, and the order alternates over the rounds. Scenarios: throughput (N requests
 * from `--concurrency` clients), light load at `--light-rate` and at `--trickle-rate` req/s (1 by
 * default: the cost per request when the queues are mostly empty), CPU split (ingress and worker
 * in processes of their own: CPU per submission and per step-message), idle (two flows, no
 * traffic: receives per queue per second), and a backlog drained by a fresh engine; `--only` picks
 * some of them. Progress goes to stderr; the table (or with --json the JSON) to stdout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type BacklogRun, runBacklog } from './backlog.js';
import { runCpuSplit, type CpuSplitRun } from './cpu-split.js';
import { EchoEndpoint } from './echo.js';
import { runIdle, type IdleRun } from './idle.js';
import { submitAtRate, submitClosedLoop } from './load.js';
import { measureRun, type BenchContext, type LoadRun } from './measure.js';
import { parseBenchOptions, USAGE, type BenchOptions, type ScenarioName } from './options.js';
import { describeMachine, evaluateGoals, renderReport, summarizeCpuSplit, summarizeIdle, summarizeRuns, type BenchResult } from './report.js';
import type { SystemName } from './system.js';

const SYSTEMS: readonly SystemName[] = ['floor', 'engine'];

const METHOD: BenchResult['method'] = {
  'requests/s': 'N / (last completion - first submission); submissions/s: N / (last acceptance - first submission)',
  completion:
    "when the last step's endpoint answer arrived, from the status rows (one query after the run): the engine's CompletedAt, taken before its final status write, and the floor's DoneAt, taken the same way",
  'submit -> done': 'from just before the bench submits (engine: POST to the ingress; floor: status insert + first send by the bench) to the completion time',
  'pickup -> done': "from step 0's arrival at the echo endpoint (X-Flow-Step: 0, X-Request-Id) to the completion time",
  'storage calls':
    'all kinds except *.admin (queue/table/container creation at start; the engine scrape\'s queue-depth reads), per request and per step-message (/3); ' +
    'engine: one scrape of async_engine_storage_operations_total at the end, which includes the ingress\'s calls; ' +
    "floor: StorageCallCounter policies in the floor's pipelines plus the bench's enqueue calls; both include the empty receives of idle polling until the count was read",
  idle:
    "queue.receive calls over all six queues of two 3-step flows, between a storage-call count just after the system was ready and one idle-seconds later, / queues / seconds; floor and engine idle at the same time, each on its own Azurite; the engine's window includes its back-off ramp from delay to maxIdleDelay",
  'peak RSS / CPU': "VmHWM, and utime+stime from the system's ready to the last completion, of the floor or engine process (/proc; n/a elsewhere); the engine's include its ingress",
  'CPU split':
    'each system as two processes on one Azurite, N requests over HTTP: the engine with --role ingress and --role worker, the floor with its own node:http ingress (status insert + first send) and floor.ts; ' +
    "utime+stime of each process from both being ready to the last completion: the ingress's / accepted submissions, the worker's / step-messages (N x 3); " +
    'worker alone: then the worker is stopped (SIGSTOP) while the ingress takes N more requests, and its utime+stime from its resumption (SIGCONT) to the last of them completing / (N x 3), the ingress idle meanwhile (no goal line)',
};

function orderOf(round: number): readonly SystemName[] {
  return round % 2 === 1 ? SYSTEMS : [...SYSTEMS].reverse();
}

function progressLine(run: LoadRun, label: string): string {
  const rss = run.peakRssInBytes === null ? 'n/a' : `${Math.round(run.peakRssInBytes / 1024 / 1024)} MiB`;
  return (
    `${label} ${run.system}: ${run.requestsPerSecond.toFixed(1)} req/s, submit->done p50 ${run.submitToDoneInMs.p50} ms p99 ${run.submitToDoneInMs.p99} ms, ` +
    `${run.storage.perRequest.toFixed(2)} calls/request, peak RSS ${rss}`
  );
}

async function runBench(options: BenchOptions, ctx: BenchContext): Promise<BenchResult> {
  const throughputRuns: LoadRun[] = [];
  const lightRuns: LoadRun[] = [];
  const trickleRuns: LoadRun[] = [];
  const cpuSplitRuns: CpuSplitRun[] = [];
  const idleRuns: IdleRun[] = [];
  const runs = (scenario: ScenarioName, round: number): readonly SystemName[] => (options.scenarios.includes(scenario) ? orderOf(round) : []);
  for (let round = 1; round <= options.rounds; round++) {
    for (const system of runs('throughput', round)) {
      const label = `round ${round}/${options.rounds} throughput`;
      ctx.progress(`${label} ${system}: submitting ${options.n} requests`);
      const run = await measureRun(ctx, system, round, `round${round}-throughput`, (submit) => submitClosedLoop(submit, options.n, options.concurrency));
      throughputRuns.push(run);
      ctx.progress(progressLine(run, label));
    }
    for (const system of runs('cpu-split', round)) {
      const label = `round ${round}/${options.rounds} cpu split`;
      ctx.progress(`${label} ${system}: submitting ${options.n} requests to its ingress process`);
      const run = await runCpuSplit(ctx, system, round, `round${round}-cpu-split`);
      cpuSplitRuns.push(run);
      ctx.progress(
        `${label} ${system}: ingress ${(run.ingressCpuMsPerSubmission ?? Number.NaN).toFixed(3)} CPU ms/submission, worker ${(run.workerCpuMsPerStepMessage ?? Number.NaN).toFixed(3)} CPU ms/step-message, ` +
          `worker alone ${(run.alone?.workerCpuMsPerStepMessage ?? Number.NaN).toFixed(3)} CPU ms/step-message`,
      );
    }
    for (const system of runs('light', round)) {
      const label = `round ${round}/${options.rounds} light load`;
      ctx.progress(`${label} ${system}: ${options.lightRate} req/s for ${options.lightSeconds} s`);
      const run = await measureRun(ctx, system, round, `round${round}-light`, (submit) => submitAtRate(submit, options.lightRate, options.lightSeconds));
      lightRuns.push(run);
      ctx.progress(progressLine(run, label));
    }
    for (const system of runs('trickle', round)) {
      const label = `round ${round}/${options.rounds} trickle`;
      ctx.progress(`${label} ${system}: ${options.trickleRate} req/s for ${options.trickleSeconds} s`);
      const run = await measureRun(ctx, system, round, `round${round}-trickle`, (submit) => submitAtRate(submit, options.trickleRate, options.trickleSeconds));
      trickleRuns.push(run);
      ctx.progress(progressLine(run, label));
    }
  }
  // Once, not per round, and both systems at once (each on its own Azurite): idle, they hardly
  // compete for the CPU, their receive counts hardly vary, and the window is idleSeconds long.
  if (options.scenarios.includes('idle')) {
    ctx.progress(`idle: both systems, two flows each, no traffic, for ${options.idleSeconds} s`);
    for (const run of await Promise.all(SYSTEMS.map((system) => runIdle(ctx, system)))) {
      idleRuns.push(run);
      ctx.progress(`idle ${run.system}: ${run.receives} receives on ${run.queues} queues in ${run.seconds.toFixed(1)} s = ${run.receivesPerQueuePerSecond.toFixed(3)} per queue per second`);
    }
  }
  let backlogRun: BacklogRun | null = null;
  if (options.scenarios.includes('backlog')) {
    const backlogRequests = Math.round(options.backlogFactor * options.n);
    backlogRun = await runBacklog(ctx, backlogRequests);
    ctx.progress(`backlog: drained ${backlogRequests} in ${backlogRun.drainSeconds.toFixed(1)} s`);
  }

  const throughput = { floor: summarizeRuns(throughputRuns, 'floor'), engine: summarizeRuns(throughputRuns, 'engine') };
  const light = { floor: summarizeRuns(lightRuns, 'floor'), engine: summarizeRuns(lightRuns, 'engine') };
  const trickle = { floor: summarizeRuns(trickleRuns, 'floor'), engine: summarizeRuns(trickleRuns, 'engine') };
  const idle = { floor: summarizeIdle(idleRuns, 'floor'), engine: summarizeIdle(idleRuns, 'engine') };
  const cpuSplit = { floor: summarizeCpuSplit(cpuSplitRuns, 'floor'), engine: summarizeCpuSplit(cpuSplitRuns, 'engine') };
  const backlog = backlogRun === null ? null : { ...backlogRun, normalRunPeakRssInBytes: throughput.engine.peakRssInBytes };
  return {
    machine: describeMachine(),
    options,
    throughput: { runs: throughputRuns, median: throughput },
    lightLoad: { runs: lightRuns, median: light },
    trickle: { runs: trickleRuns, median: trickle },
    idle: { runs: idleRuns, median: idle },
    cpuSplit: { runs: cpuSplitRuns, median: cpuSplit },
    backlog,
    goals: evaluateGoals(throughput, light, backlog, trickle, idle, cpuSplit).filter((goal) => options.scenarios.includes(goal.scenario)),
    method: METHOD,
  };
}

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 64;
    return;
  }
  const startedAt = Date.now();
  const progress = (line: string): void => void process.stderr.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'async-engine-bench-'));
  const echo = await EchoEndpoint.start();
  try {
    const result = await runBench(options, { options, echo, workDir, progress });
    process.stdout.write(options.isJson ? `${JSON.stringify(result, null, 2)}\n` : renderReport(result));
    progress('done');
  } finally {
    await echo.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();
