/**
 * The CPU split scenario (Performance issue): each system runs as two processes on one fresh
 * Azurite, an ingress and a worker, and takes N requests from `--concurrency` clients over HTTP.
 * The engine runs `--role ingress` and `--role worker`; the floor runs floor-ingress.ts and
 * floor.ts. Each process's CPU (user + sys) from both being ready to the last completion, divided
 * by what it did: the ingress's by the accepted submissions, the worker's by the step-messages.
 * The other scenarios keep one engine process (`all`), so that their numbers stay comparable.
 *
 * Then, on the same processes, the worker alone: it is stopped (SIGSTOP) while the ingress takes N
 * more requests, and measured from its resumption to the last of them completing, the ingress idle
 * meanwhile. Four processes share the machine's cores in the first figure, and a round's CPU per
 * step-message moves with its pace; the second leaves the worker the emulator as its only rival.
 */
import { startSplitEngine } from './engine-system.js';
import { STEP_COUNT } from './flow-shape.js';
import { startSplitFloor } from './floor-system.js';
import { submitClosedLoop, type Submitted } from './load.js';
import { completionTimeoutInMs, profileArgs, startEmulator, storageUse, type BenchContext, type StorageUse } from './measure.js';
import { readProcessStats, type ProcessStats } from './process-stats.js';
import { waitForCompletions, type SplitSystem, type SystemName } from './system.js';
import type { BenchOptions } from './options.js';
import type { EchoEndpoint } from './echo.js';

export interface CpuSplitRun {
  system: SystemName;
  round: number;
  /** Accepted submissions. */
  requests: number;
  stepMessages: number;
  /** First submission to last completion. */
  seconds: number;
  ingressCpuSeconds: number | null;
  workerCpuSeconds: number | null;
  ingressCpuMsPerSubmission: number | null;
  workerCpuMsPerStepMessage: number | null;
  /** Both processes' calls, added. */
  storage: StorageUse;
  /** The worker alone, draining N requests its ingress took while it was stopped; null without /proc. */
  alone: { seconds: number; workerCpuSeconds: number | null; workerCpuMsPerStepMessage: number | null } | null;
}

const MS_PER_SECOND = 1000;

export async function runCpuSplit(ctx: BenchContext, name: SystemName, round: number, label: string): Promise<CpuSplitRun> {
  const emulator = await startEmulator();
  try {
    ctx.echo.reset();
    const { options } = ctx;
    const common = {
      emulator,
      echo: ctx.echo,
      pollDelayInMs: options.pollDelayInMs,
      flowCount: 1,
      execArgv: profileArgs(options, `${label}-${name}-worker`),
      ingressExecArgv: profileArgs(options, `${label}-${name}-ingress`),
      submitConnections: options.concurrency,
    };
    const system: SplitSystem = name === 'floor' ? await startSplitFloor(common) : await startSplitEngine({ ...common, workDir: ctx.workDir }, `${label}-${name}`);
    try {
      const ingressAtStart = readProcessStats(system.ingressPid);
      const workerAtStart = readProcessStats(system.pid);
      const firstSubmit = Date.now();
      const submitted = await submitClosedLoop((body) => system.submit(body), options.n, options.concurrency);
      ctx.progress(`${label} ${name}: ${submitted.length} submitted, waiting for completion`);
      const timeout = completionTimeoutInMs(submitted.length);
      await ctx.echo.whenLastStepCalled(submitted.length, timeout);
      const completions = await waitForCompletions(system, submitted.map((s) => s.id), timeout);
      const ingressAtEnd = readProcessStats(system.ingressPid);
      const workerAtEnd = readProcessStats(system.pid);
      const storageCalls = await system.readStorageCalls();
      const lastDone = Math.max(...submitted.map((s) => completions.get(s.id)!));
      // Where /proc is missing, so is the CPU to measure (and, on Windows, SIGSTOP).
      const alone = workerAtStart.cpuSeconds === null ? null : await drainAlone(ctx, system);
      const requests = submitted.length;
      const stepMessages = requests * STEP_COUNT;
      const ingressCpuSeconds = cpuBetween(ingressAtStart, ingressAtEnd);
      const workerCpuSeconds = cpuBetween(workerAtStart, workerAtEnd);
      return {
        system: name,
        round,
        requests,
        stepMessages,
        seconds: (lastDone - firstSubmit) / MS_PER_SECOND,
        ingressCpuSeconds,
        workerCpuSeconds,
        ingressCpuMsPerSubmission: ingressCpuSeconds === null ? null : (ingressCpuSeconds * MS_PER_SECOND) / requests,
        workerCpuMsPerStepMessage: workerCpuSeconds === null ? null : (workerCpuSeconds * MS_PER_SECOND) / stepMessages,
        storage: storageUse(storageCalls, requests),
        alone,
      };
    } finally {
      await system.close();
    }
  } finally {
    await emulator.close();
  }
}

/** {@link CpuSplitRun.alone}: the worker stopped while the ingress takes N requests, then measured until they are done. */
async function drainAlone({ options, echo }: { options: BenchOptions; echo: EchoEndpoint }, system: SplitSystem): Promise<CpuSplitRun['alone']> {
  echo.reset();
  process.kill(system.pid, 'SIGSTOP');
  let submitted: Submitted[];
  try {
    submitted = await submitClosedLoop((body) => system.submit(body), options.n, options.concurrency);
  } catch (err) {
    process.kill(system.pid, 'SIGCONT');
    throw err;
  }
  const atStart = readProcessStats(system.pid);
  const resumedAt = Date.now();
  process.kill(system.pid, 'SIGCONT');
  const timeout = completionTimeoutInMs(submitted.length);
  await echo.whenLastStepCalled(submitted.length, timeout);
  const completions = await waitForCompletions(system, submitted.map((s) => s.id), timeout);
  const workerCpuSeconds = cpuBetween(atStart, readProcessStats(system.pid));
  const lastDone = Math.max(...submitted.map((s) => completions.get(s.id)!));
  return {
    seconds: (lastDone - resumedAt) / MS_PER_SECOND,
    workerCpuSeconds,
    workerCpuMsPerStepMessage: workerCpuSeconds === null ? null : (workerCpuSeconds * MS_PER_SECOND) / (submitted.length * STEP_COUNT),
  };
}

function cpuBetween(start: ProcessStats, end: ProcessStats): number | null {
  return start.cpuSeconds === null || end.cpuSeconds === null ? null : end.cpuSeconds - start.cpuSeconds;
}
