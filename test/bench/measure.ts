/**
 * One measured run of one system on its own fresh Azurite: start it, submit, wait until every
 * request is complete, then read its storage calls, memory and CPU, and the latencies.
 */
import { Emulator } from '../../src/storage/azurite.js';
import type { EchoEndpoint } from './echo.js';
import { startEngineSystem } from './engine-system.js';
import { STEP_COUNT } from './flow-shape.js';
import { startFloor } from './floor-system.js';
import type { Submit, Submitted } from './load.js';
import type { BenchOptions } from './options.js';
import { readProcessStats, type ProcessStats } from './process-stats.js';
import { percentile } from './stats.js';
import { waitForCompletions, type RunningSystem, type SystemName } from './system.js';

export interface BenchContext {
  options: BenchOptions;
  echo: EchoEndpoint;
  /** A scratch folder (engine configuration files). */
  workDir: string;
  progress(line: string): void;
}

export interface Percentiles {
  p50: number | null;
  p99: number | null;
}

export interface StorageUse {
  byKind: Record<string, number>;
  total: number;
  /** `*.admin` calls: creating queues, tables and containers, and the engine scrape's queue-depth reads. */
  admin: number;
  /** Everything else: what the requests cost. */
  data: number;
  perRequest: number;
  /** data / (requests x steps). */
  perStepMessage: number;
  /** queue.receive calls / (requests x steps): how well receives are batched. */
  receivesPerStepMessage: number;
}

export interface LoadRun {
  system: SystemName;
  round: number;
  requests: number;
  /** First submission to last completion. */
  seconds: number;
  /** First submission to the last one accepted. */
  submitSeconds: number;
  requestsPerSecond: number;
  submitToDoneInMs: Percentiles;
  pickupToDoneInMs: Percentiles;
  storage: StorageUse;
  peakRssInBytes: number | null;
  /** CPU seconds of the system's process between its start-up and the last completion. */
  cpuSeconds: number | null;
}

/** How long the bench waits for a run's requests, per request and at least. */
const COMPLETION_TIMEOUT_PER_REQUEST_IN_MS = 100;
const MIN_COMPLETION_TIMEOUT_IN_MS = 120_000;
const EMULATOR_START_TIMEOUT_IN_MS = 60_000;

export function completionTimeoutInMs(requests: number): number {
  return Math.max(MIN_COMPLETION_TIMEOUT_IN_MS, requests * COMPLETION_TIMEOUT_PER_REQUEST_IN_MS);
}

/** A fresh in-memory Azurite on free ports. */
export function startEmulator(): Promise<Emulator> {
  return Emulator.start({ location: null, ports: { blob: 0, queue: 0, table: 0 }, startTimeoutInMs: EMULATOR_START_TIMEOUT_IN_MS });
}

/** node flags that profile a system process into --cpu-prof's folder, under `label`. */
export function profileArgs(options: BenchOptions, label: string): string[] {
  return options.cpuProfDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir, '--cpu-prof-name', `${label}.cpuprofile`];
}

/** Starts `name` on `emulator`, lets `load` submit to it, and measures it until every request is complete. */
export async function measureRun(ctx: BenchContext, name: SystemName, round: number, label: string, load: (submit: Submit) => Promise<Submitted[]>): Promise<LoadRun> {
  const emulator = await startEmulator();
  try {
    ctx.echo.reset();
    const common = { emulator, echo: ctx.echo, pollDelayInMs: ctx.options.pollDelayInMs, flowCount: 1, execArgv: profileArgs(ctx.options, `${label}-${name}`) };
    const system: RunningSystem =
      name === 'floor' ? await startFloor(common) : await startEngineSystem({ ...common, workDir: ctx.workDir, submitConnections: ctx.options.concurrency }, `${label}-${name}`);
    try {
      const atStart = readProcessStats(system.pid);
      const submitted = await load((body) => system.submit(body));
      const allSubmittedAt = Date.now();
      ctx.progress(`${label} ${name}: ${submitted.length} submitted, waiting for completion`);
      const timeout = completionTimeoutInMs(submitted.length);
      await ctx.echo.whenLastStepCalled(submitted.length, timeout);
      const completions = await waitForCompletions(system, submitted.map((s) => s.id), timeout);
      const storageCalls = await system.readStorageCalls();
      const atEnd = readProcessStats(system.pid);
      const pickups = await ctx.echo.pickups();
      return summarize({ name, round, submitted, allSubmittedAt, completions, pickups, storageCalls, atStart, atEnd });
    } finally {
      await system.close();
    }
  } finally {
    await emulator.close();
  }
}

interface RunData {
  name: SystemName;
  round: number;
  submitted: Submitted[];
  allSubmittedAt: number;
  completions: Map<string, number>;
  pickups: Map<string, number>;
  storageCalls: Record<string, number>;
  atStart: ProcessStats;
  atEnd: ProcessStats;
}

function summarize({ name, round, submitted, allSubmittedAt, completions, pickups, storageCalls, atStart, atEnd }: RunData): LoadRun {
  const doneAt = (id: string): number => completions.get(id)!;
  const firstSubmit = Math.min(...submitted.map((s) => s.submittedAt));
  const lastDone = Math.max(...submitted.map((s) => doneAt(s.id)));
  const seconds = (lastDone - firstSubmit) / 1000;
  const submitToDone = submitted.map((s) => doneAt(s.id) - s.submittedAt);
  const pickupToDone = submitted.filter((s) => pickups.has(s.id)).map((s) => doneAt(s.id) - pickups.get(s.id)!);
  return {
    system: name,
    round,
    requests: submitted.length,
    seconds,
    submitSeconds: (allSubmittedAt - firstSubmit) / 1000,
    requestsPerSecond: submitted.length / seconds,
    submitToDoneInMs: { p50: percentile(submitToDone, 50), p99: percentile(submitToDone, 99) },
    pickupToDoneInMs: { p50: percentile(pickupToDone, 50), p99: percentile(pickupToDone, 99) },
    storage: storageUse(storageCalls, submitted.length),
    peakRssInBytes: atEnd.peakRssInBytes,
    cpuSeconds: atEnd.cpuSeconds === null || atStart.cpuSeconds === null ? null : atEnd.cpuSeconds - atStart.cpuSeconds,
  };
}

export function storageUse(byKind: Record<string, number>, requests: number): StorageUse {
  let total = 0;
  let admin = 0;
  for (const [kind, count] of Object.entries(byKind)) {
    total += count;
    if (kind.endsWith('.admin')) admin += count;
  }
  const data = total - admin;
  const stepMessages = requests * STEP_COUNT;
  return { byKind, total, admin, data, perRequest: data / requests, perStepMessage: data / stepMessages, receivesPerStepMessage: (byKind['queue.receive'] ?? 0) / stepMessages };
}
