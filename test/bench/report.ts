/**
 * The bench's result: medians over the rounds, the goals of the Benchmark issue as pass/fail, the
 * JSON for machines and the table for people.
 */
import os from 'node:os';
import type { BacklogRun } from './backlog.js';
import type { CpuSplitRun } from './cpu-split.js';
import type { IdleRun } from './idle.js';
import { RssSampler } from './process-stats.js';
import type { LoadRun } from './measure.js';
import type { BenchOptions, ScenarioName } from './options.js';
import { median } from './stats.js';
import type { SystemName } from './system.js';

export interface SystemSummary {
  requestsPerSecond: number | null;
  submissionsPerSecond: number | null;
  submitToDoneP50InMs: number | null;
  submitToDoneP99InMs: number | null;
  pickupToDoneP50InMs: number | null;
  pickupToDoneP99InMs: number | null;
  storageCallsPerRequest: number | null;
  storageCallsPerStepMessage: number | null;
  receivesPerStepMessage: number | null;
  peakRssInBytes: number | null;
  cpuSeconds: number | null;
}

export interface CpuSplitSummary {
  ingressCpuMsPerSubmission: number | null;
  workerCpuMsPerStepMessage: number | null;
  storageCallsPerStepMessage: number | null;
  /** The worker alone, draining what its ingress took while it was stopped (no goal line). */
  aloneWorkerCpuMsPerStepMessage: number | null;
}

export interface IdleSummary {
  receivesPerQueuePerSecond: number | null;
}

export interface Goal {
  /** The scenario that measures it: a run without that scenario (`--only`) leaves the goal out. */
  scenario: ScenarioName;
  goal: string;
  /** null when it could not be measured here (no /proc). */
  isMet: boolean | null;
  measured: string;
}

export interface BenchResult {
  machine: { cpus: number; cpuModel: string; memoryGiB: number; os: string; node: string };
  options: BenchOptions;
  throughput: { runs: LoadRun[]; median: Record<SystemName, SystemSummary> };
  lightLoad: { runs: LoadRun[]; median: Record<SystemName, SystemSummary> };
  /** Light load at `trickleRate` (1 req/s by default). */
  trickle: { runs: LoadRun[]; median: Record<SystemName, SystemSummary> };
  idle: { runs: IdleRun[]; median: Record<SystemName, IdleSummary> };
  /** Ingress and worker in processes of their own: CPU per accepted submission and per step-message. */
  cpuSplit: { runs: CpuSplitRun[]; median: Record<SystemName, CpuSplitSummary> };
  /** null when `--only` left the backlog out. */
  backlog: (BacklogRun & { normalRunPeakRssInBytes: number | null }) | null;
  goals: Goal[];
  /** How each number was obtained. */
  method: Record<string, string>;
}

const GOAL_THROUGHPUT_RATIO = 0.85;
const GOAL_EXTRA_CALLS_PER_STEP_MESSAGE = 0.1;
const GOAL_LIGHT_P99_RATIO = 2;
const GOAL_BACKLOG_RSS_RATIO = 1.2;
/** Flow control issue: an idle engine receives at most a tenth of what the floor does at the same delay. */
const GOAL_IDLE_RECEIVES_RATIO = 0.1;
const BYTES_PER_MIB = 1024 * 1024;
const LABEL_WIDTH = 36;
const DRAIN_FRACTIONS = [0.25, 0.5, 0.75, 1];
const CELL_WIDTH = 14;

export function summarizeRuns(runs: readonly LoadRun[], system: SystemName): SystemSummary {
  const mine = runs.filter((r) => r.system === system);
  const m = (pick: (r: LoadRun) => number | null): number | null => median(mine.map(pick));
  return {
    requestsPerSecond: m((r) => r.requestsPerSecond),
    submissionsPerSecond: m((r) => r.requests / r.submitSeconds),
    submitToDoneP50InMs: m((r) => r.submitToDoneInMs.p50),
    submitToDoneP99InMs: m((r) => r.submitToDoneInMs.p99),
    pickupToDoneP50InMs: m((r) => r.pickupToDoneInMs.p50),
    pickupToDoneP99InMs: m((r) => r.pickupToDoneInMs.p99),
    storageCallsPerRequest: m((r) => r.storage.perRequest),
    storageCallsPerStepMessage: m((r) => r.storage.perStepMessage),
    receivesPerStepMessage: m((r) => r.storage.receivesPerStepMessage),
    peakRssInBytes: m((r) => r.peakRssInBytes),
    cpuSeconds: m((r) => r.cpuSeconds),
  };
}

export function summarizeIdle(runs: readonly IdleRun[], system: SystemName): IdleSummary {
  return { receivesPerQueuePerSecond: median(runs.filter((r) => r.system === system).map((r) => r.receivesPerQueuePerSecond)) };
}

export function summarizeCpuSplit(runs: readonly CpuSplitRun[], system: SystemName): CpuSplitSummary {
  const mine = runs.filter((r) => r.system === system);
  return {
    ingressCpuMsPerSubmission: median(mine.map((r) => r.ingressCpuMsPerSubmission)),
    workerCpuMsPerStepMessage: median(mine.map((r) => r.workerCpuMsPerStepMessage)),
    storageCallsPerStepMessage: median(mine.map((r) => r.storage.perStepMessage)),
    aloneWorkerCpuMsPerStepMessage: median(mine.map((r) => r.alone?.workerCpuMsPerStepMessage ?? null)),
  };
}

export function evaluateGoals(
  throughput: Record<SystemName, SystemSummary>,
  light: Record<SystemName, SystemSummary>,
  backlog: BenchResult['backlog'],
  trickle: Record<SystemName, SystemSummary>,
  idle: Record<SystemName, IdleSummary>,
  cpuSplit: Record<SystemName, CpuSplitSummary>,
): Goal[] {
  const speed = ratio(throughput.engine.requestsPerSecond, throughput.floor.requestsPerSecond);
  const engineCalls = throughput.engine.storageCallsPerStepMessage;
  const floorCalls = throughput.floor.storageCallsPerStepMessage;
  const lightP99 = ratio(light.engine.submitToDoneP99InMs, light.floor.submitToDoneP99InMs);
  const rss = backlog === null ? null : ratio(backlog.peakRssInBytes, backlog.normalRunPeakRssInBytes);
  const idleReceives = ratio(idle.engine.receivesPerQueuePerSecond, idle.floor.receivesPerQueuePerSecond);
  const trickleCalls = ratio(trickle.engine.storageCallsPerRequest, trickle.floor.storageCallsPerRequest);
  const trickleP99 = ratio(trickle.engine.submitToDoneP99InMs, trickle.floor.submitToDoneP99InMs);
  const stepCpu = ratio(cpuSplit.engine.workerCpuMsPerStepMessage, cpuSplit.floor.workerCpuMsPerStepMessage);
  return [
    {
      scenario: 'throughput',
      goal: `engine throughput >= ${GOAL_THROUGHPUT_RATIO}x the floor's`,
      isMet: speed === null ? null : speed >= GOAL_THROUGHPUT_RATIO,
      measured: `${fmt(speed, 2)}x (${fmt(throughput.engine.requestsPerSecond, 1)} vs ${fmt(throughput.floor.requestsPerSecond, 1)} req/s)`,
    },
    {
      scenario: 'throughput',
      goal: `storage calls per step-message <= the floor's + ${GOAL_EXTRA_CALLS_PER_STEP_MESSAGE}`,
      isMet: engineCalls === null || floorCalls === null ? null : engineCalls <= floorCalls + GOAL_EXTRA_CALLS_PER_STEP_MESSAGE,
      measured: `${fmt(engineCalls, 3)} vs ${fmt(floorCalls, 3)} (+${fmt(engineCalls !== null && floorCalls !== null ? engineCalls - floorCalls : null, 3)})`,
    },
    {
      scenario: 'light',
      goal: `light-load p99 (submit -> done) <= ${GOAL_LIGHT_P99_RATIO}x the floor's`,
      isMet: lightP99 === null ? null : lightP99 <= GOAL_LIGHT_P99_RATIO,
      measured: `${fmt(lightP99, 2)}x (${fmt(light.engine.submitToDoneP99InMs, 0)} vs ${fmt(light.floor.submitToDoneP99InMs, 0)} ms)`,
    },
    {
      scenario: 'backlog',
      goal: `backlog peak RSS <= ${GOAL_BACKLOG_RSS_RATIO}x a normal run's`,
      isMet: rss === null ? null : rss <= GOAL_BACKLOG_RSS_RATIO,
      measured: `${fmt(rss, 2)}x (${mib(backlog?.peakRssInBytes ?? null)} vs ${mib(backlog?.normalRunPeakRssInBytes ?? null)} MiB)`,
    },
    {
      scenario: 'idle',
      goal: `idle receives per queue per second <= ${GOAL_IDLE_RECEIVES_RATIO}x the floor's at the same delay`,
      isMet: idleReceives === null ? null : idleReceives <= GOAL_IDLE_RECEIVES_RATIO,
      measured: `${fmt(idleReceives, 3)}x (${fmt(idle.engine.receivesPerQueuePerSecond, 3)} vs ${fmt(idle.floor.receivesPerQueuePerSecond, 3)})`,
    },
    {
      scenario: 'trickle',
      goal: 'trickle storage calls per request <= the floor\'s',
      isMet: trickleCalls === null ? null : trickleCalls <= 1,
      measured: `${fmt(trickleCalls, 2)}x (${fmt(trickle.engine.storageCallsPerRequest, 1)} vs ${fmt(trickle.floor.storageCallsPerRequest, 1)})`,
    },
    {
      scenario: 'trickle',
      goal: 'trickle p99 (submit -> done) <= the floor\'s',
      isMet: trickleP99 === null ? null : trickleP99 <= 1,
      measured: `${fmt(trickleP99, 2)}x (${fmt(trickle.engine.submitToDoneP99InMs, 0)} vs ${fmt(trickle.floor.submitToDoneP99InMs, 0)} ms)`,
    },
    {
      scenario: 'cpu-split',
      goal: 'engine CPU per step-message <= the floor\'s',
      isMet: stepCpu === null ? null : stepCpu <= 1,
      measured: `${fmt(stepCpu, 2)}x (${fmt(cpuSplit.engine.workerCpuMsPerStepMessage, 3)} vs ${fmt(cpuSplit.floor.workerCpuMsPerStepMessage, 3)} ms)`,
    },
  ];
}

export function describeMachine(): BenchResult['machine'] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

export function renderReport(result: BenchResult): string {
  const { options: o, machine } = result;
  const lines: string[] = [];
  const row = (label: string, ...cells: string[]): void => void lines.push(label.padEnd(LABEL_WIDTH) + cells.map((c) => c.padStart(CELL_WIDTH)).join(''));
  const comparison = (label: string, pick: (s: SystemSummary) => number | null, digits: number, scale = 1): void => {
    const floor = pick(result.throughput.median.floor);
    const engine = pick(result.throughput.median.engine);
    const scaled = (v: number | null): number | null => (v === null ? null : v / scale);
    row(label, fmt(scaled(floor), digits), fmt(scaled(engine), digits), floor && engine !== null ? `${fmt(engine / floor, 2)}x` : 'n/a');
  };

  lines.push(`async-engine benchmark: ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, Node.js ${machine.node}`);
  lines.push(`3 echo steps, 1 KiB JSON, in-memory Azurite (fresh per system and run), poll delay ${o.pollDelayInMs} ms, 32 in flight per step`);
  if (o.isQuick) lines.push('--quick: a smoke run; with so few requests start-up dominates and the goals below mean little');
  lines.push('');
  const ran = o.scenarios;
  if (ran.includes('throughput')) {
    lines.push(`Throughput: N=${o.n} per system per round, ${o.concurrency} submitting clients, median of ${o.rounds} round(s)`);
    row('', 'floor', 'engine', 'engine/floor');
    comparison('requests/s (first submit -> last done)', (s) => s.requestsPerSecond, 1);
    comparison('submissions/s (accepted)', (s) => s.submissionsPerSecond, 1);
    comparison('submit -> done p50 (ms)', (s) => s.submitToDoneP50InMs, 0);
    comparison('submit -> done p99 (ms)', (s) => s.submitToDoneP99InMs, 0);
    comparison('pickup -> done p50 (ms)', (s) => s.pickupToDoneP50InMs, 0);
    comparison('pickup -> done p99 (ms)', (s) => s.pickupToDoneP99InMs, 0);
    comparison('storage calls / request', (s) => s.storageCallsPerRequest, 2);
    comparison('storage calls / step-message', (s) => s.storageCallsPerStepMessage, 3);
    comparison('  of which receives / step-message', (s) => s.receivesPerStepMessage, 3);
    comparison('peak RSS (MiB)', (s) => s.peakRssInBytes, 0, BYTES_PER_MIB);
    comparison('CPU seconds (ready -> last done)', (s) => s.cpuSeconds, 2);
    lines.push('');
  }
  const loadRuns = [...result.throughput.runs, ...result.lightLoad.runs, ...result.trickle.runs];
  if (loadRuns.length > 0) {
    lines.push('Per round');
    row('', 'req/s', 's->d p50', 's->d p99', 'p->d p99', 'calls/req', 'RSS MiB', 'CPU s');
    for (const run of loadRuns) {
      const kind = result.lightLoad.runs.includes(run) ? 'light' : result.trickle.runs.includes(run) ? 'trickle' : 'load';
      row(
        `  round ${run.round} ${kind} ${run.system}`,
        fmt(run.requestsPerSecond, 1),
        fmt(run.submitToDoneInMs.p50, 0),
        fmt(run.submitToDoneInMs.p99, 0),
        fmt(run.pickupToDoneInMs.p99, 0),
        fmt(run.storage.perRequest, 2),
        mib(run.peakRssInBytes),
        fmt(run.cpuSeconds, 2),
      );
    }
    lines.push('');
  }
  const lightTable = (title: string, median: Record<SystemName, SystemSummary>): void => {
    lines.push(title);
    row('', 'floor', 'engine', 'engine/floor');
    for (const [label, pick, digits] of [
      ['submit -> done p50 (ms)', (s: SystemSummary) => s.submitToDoneP50InMs, 0],
      ['submit -> done p99 (ms)', (s: SystemSummary) => s.submitToDoneP99InMs, 0],
      ['pickup -> done p99 (ms)', (s: SystemSummary) => s.pickupToDoneP99InMs, 0],
      ['storage calls / request', (s: SystemSummary) => s.storageCallsPerRequest, 1],
    ] as const) {
      const floor = pick(median.floor);
      const engine = pick(median.engine);
      row(label, fmt(floor, digits), fmt(engine, digits), floor && engine !== null ? `${fmt(engine / floor, 2)}x` : 'n/a');
    }
    lines.push('');
  };
  if (ran.includes('light')) lightTable(`Light load: ${o.lightRate} req/s for ${o.lightSeconds} s, median of ${o.rounds} round(s)`, result.lightLoad.median);
  if (ran.includes('trickle')) lightTable(`Trickle (light load): ${o.trickleRate} req/s for ${o.trickleSeconds} s, median of ${o.rounds} round(s)`, result.trickle.median);
  if (ran.includes('cpu-split')) {
    lines.push(`CPU split: ingress and worker in processes of their own, N=${o.n}, ${o.concurrency} clients over HTTP, median of ${o.rounds} round(s)`);
    row('', 'floor', 'engine', 'engine/floor');
    for (const [label, pick, digits] of [
      ['ingress CPU ms / accepted submission', (s: CpuSplitSummary) => s.ingressCpuMsPerSubmission, 3],
      ['worker CPU ms / step-message', (s: CpuSplitSummary) => s.workerCpuMsPerStepMessage, 3],
      ['storage calls / step-message', (s: CpuSplitSummary) => s.storageCallsPerStepMessage, 3],
      ['worker alone: CPU ms / step-message', (s: CpuSplitSummary) => s.aloneWorkerCpuMsPerStepMessage, 3],
    ] as const) {
      const floor = pick(result.cpuSplit.median.floor);
      const engine = pick(result.cpuSplit.median.engine);
      row(label, fmt(floor, digits), fmt(engine, digits), floor && engine !== null ? `${fmt(engine / floor, 2)}x` : 'n/a');
    }
    for (const run of result.cpuSplit.runs) {
      lines.push(
        `  round ${run.round} ${run.system}: ingress ${fmt(run.ingressCpuSeconds, 2)} s / ${run.requests} submissions, ` +
          `worker ${fmt(run.workerCpuSeconds, 2)} s / ${run.stepMessages} step-messages, ${fmt(run.requests / run.seconds, 1)} req/s; ` +
          (run.alone === null ? 'worker alone n/a' : `worker alone ${fmt(run.alone.workerCpuSeconds, 2)} s, draining at ${fmt(run.requests / run.alone.seconds, 1)} req/s`),
      );
    }
    // The two systems of one round ran back to back on the same machine: their ratio moves less
    // with the machine's load than the medians do.
    for (const { round, ingress, worker, workerAlone } of sameRoundCpuRatios(result.cpuSplit.runs)) {
      lines.push(`  round ${round} engine/floor: ingress ${fmt(ingress, 2)}x, worker ${fmt(worker, 2)}x, worker alone ${fmt(workerAlone, 2)}x`);
    }
    lines.push('');
  }
  if (ran.includes('idle')) {
    const idleRuns = result.idle.runs;
    lines.push(`Idle: ${idleRuns[0]?.flows ?? 'n/a'} flows x 3 steps, no traffic, ${o.idleSeconds} s, poll delay ${o.pollDelayInMs} ms (engine: default maxIdleDelay 5000 ms)`);
    row('', 'floor', 'engine', 'engine/floor');
    const idleFloor = result.idle.median.floor.receivesPerQueuePerSecond;
    const idleEngine = result.idle.median.engine.receivesPerQueuePerSecond;
    row('receives / queue / s', fmt(idleFloor, 3), fmt(idleEngine, 3), idleFloor && idleEngine !== null ? `${fmt(idleEngine / idleFloor, 3)}x` : 'n/a');
    const receives = (system: SystemName): string => fmt(idleRuns.find((r) => r.system === system)?.receives ?? null, 0);
    row('receives in the window', receives('floor'), receives('engine'));
    lines.push('');
  }
  const b = result.backlog;
  if (b !== null) {
    lines.push(`Backlog: ${b.requests} requests (${o.backlogFactor} x N) submitted with the pollers paused, then drained by a fresh engine`);
    lines.push(`  submitted in ${fmt(b.submitSeconds, 1)} s; drained in ${fmt(b.drainSeconds, 1)} s = ${fmt(b.requestsPerSecond, 1)} req/s`);
    lines.push(`  peak RSS ${mib(b.peakRssInBytes)} MiB (normal run: ${mib(b.normalRunPeakRssInBytes)} MiB); CPU ${fmt(b.cpuSeconds, 2)} s`);
    const [q1, q2, q3, end] = RssSampler.at(b.rssSamples, DRAIN_FRACTIONS);
    lines.push(`  RSS over the drain: ${mib(q1 ?? null)} / ${mib(q2 ?? null)} / ${mib(q3 ?? null)} / ${mib(end ?? null)} MiB at 25 / 50 / 75 / 100 %`);
    lines.push(`  ${fmt(b.storage.perRequest, 2)} storage calls / request, ${fmt(b.storage.receivesPerStepMessage, 3)} receives / step-message`);
    lines.push('');
  }
  lines.push('Goals');
  for (const goal of result.goals) lines.push(`  ${goal.isMet === null ? 'N/A ' : goal.isMet ? 'PASS' : 'FAIL'}  ${goal.goal}: ${goal.measured}`);
  lines.push('');
  lines.push('How it was counted');
  for (const [what, how] of Object.entries(result.method)) lines.push(`  ${what}: ${how}`);
  return `${lines.join('\n')}\n`;
}

/** Engine over floor CPU, per round in which both ran. */
export function sameRoundCpuRatios(runs: readonly CpuSplitRun[]): Array<{ round: number; ingress: number | null; worker: number | null; workerAlone: number | null }> {
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  return rounds.flatMap((round) => {
    const floor = runs.find((r) => r.round === round && r.system === 'floor');
    const engine = runs.find((r) => r.round === round && r.system === 'engine');
    if (!floor || !engine) return [];
    return [
      {
        round,
        ingress: ratio(engine.ingressCpuMsPerSubmission, floor.ingressCpuMsPerSubmission),
        worker: ratio(engine.workerCpuMsPerStepMessage, floor.workerCpuMsPerStepMessage),
        workerAlone: ratio(engine.alone?.workerCpuMsPerStepMessage ?? null, floor.alone?.workerCpuMsPerStepMessage ?? null),
      },
    ];
  });
}

/** a / b, or null when either is unknown or b is 0. */
function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

function fmt(value: number | null, digits: number): string {
  return value === null || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

function mib(bytes: number | null): string {
  return bytes === null ? 'n/a' : (bytes / BYTES_PER_MIB).toFixed(0);
}
