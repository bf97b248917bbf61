/**
 * The backlog scenario: `backlogFactor x N` requests are submitted while no engine polls, then a
 * fresh engine process drains them. Its peak RSS should stay near a normal run's, because the
 * pollers take no more messages than their pools have free slots: the backlog waits in Azure.
 *
 * The requests go in through an in-process runtime whose engine is closed right after it started
 * (its ingress keeps answering), as test/support/engine.ts does; then the CLI engine is started.
 */
import { Agent } from 'undici';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/log.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { Runtime } from '../../src/runtime.js';
import { ENGINE_COMPLETED_PROPERTY, ENGINE_STATUS_TABLE, engineDocument } from './engine-config.js';
import { EngineCli, submitToIngress, writeEngineConfig } from './engine-system.js';
import { submitClosedLoop, type Submitted } from './load.js';
import { completionTimeoutInMs, profileArgs, startEmulator, storageUse, type BenchContext, type StorageUse } from './measure.js';
import { readProcessStats, RssSampler, type RssSample } from './process-stats.js';
import { mergeCounts, readCompletionTimes, waitForCompletions } from './system.js';

export interface BacklogRun {
  requests: number;
  submitSeconds: number;
  /** From the draining engine answering to the last completion. */
  drainSeconds: number;
  requestsPerSecond: number;
  /** Of the draining engine process. */
  peakRssInBytes: number | null;
  /** Its RSS once a second over the drain. */
  rssSamples: RssSample[];
  cpuSeconds: number | null;
  /** The submissions' calls (in-process ingress) and the drain's (one scrape), together. */
  storage: StorageUse;
}

const RUNTIME_START_TIMEOUT_IN_MS = 60_000;
const RSS_SAMPLE_INTERVAL_IN_MS = 1000;

export async function runBacklog(ctx: BenchContext, requests: number): Promise<BacklogRun> {
  const emulator = await startEmulator();
  try {
    ctx.echo.reset();
    const { pollDelayInMs } = ctx.options;
    const { configPath, port } = await writeEngineConfig({ emulator, echo: ctx.echo, pollDelayInMs, workDir: ctx.workDir, flowCount: 1 }, 'backlog-engine');

    const submitCalls = new StorageCallCounter();
    const document = engineDocument({ connectionString: emulator.connectionString, echo: ctx.echo, pollDelayInMs, port: 0, flowCount: 1 });
    const log = createLogger({ level: 'warn', destination: { write: (line: string) => void process.stderr.write(`[ingress] ${line}`) } });
    const runtime = await Runtime.start(parseConfig(document, { source: 'bench', env: {} }).config, {
      log,
      abortSignal: AbortSignal.timeout(RUNTIME_START_TIMEOUT_IN_MS),
      storageCalls: submitCalls,
    });
    const agent = new Agent({ connections: ctx.options.concurrency });
    const submitStarted = Date.now();
    let submitted: Submitted[];
    try {
      await runtime.engine.close(); // the pollers stop; the ingress goes on accepting
      ctx.progress(`backlog: submitting ${requests} requests with the pollers paused`);
      const url = runtime.url;
      if (url === null) throw new Error('the engine opened no ingress');
      submitted = await submitClosedLoop((body) => submitToIngress(agent, url, body), requests, ctx.options.concurrency);
    } finally {
      await runtime.close();
      await agent.close();
    }
    const submitSeconds = (Date.now() - submitStarted) / 1000;

    ctx.progress(`backlog: ${requests} submitted in ${submitSeconds.toFixed(1)} s; starting an engine to drain them`);
    const engine = await EngineCli.start(configPath, port, profileArgs(ctx.options, 'backlog-engine'));
    try {
      const readyAt = Date.now();
      const atStart = readProcessStats(engine.pid);
      const sampler = new RssSampler(engine.pid, RSS_SAMPLE_INTERVAL_IN_MS);
      const timeout = completionTimeoutInMs(requests);
      await ctx.echo.whenLastStepCalled(requests, timeout);
      const readCompletions = (): Promise<Map<string, number>> => readCompletionTimes(emulator.connectionString, ENGINE_STATUS_TABLE, ENGINE_COMPLETED_PROPERTY);
      const completions = await waitForCompletions({ name: 'engine', readCompletions }, submitted.map((s) => s.id), timeout);
      const drainCalls = await engine.scrapeStorageCalls();
      const atEnd = readProcessStats(engine.pid);
      const rssSamples = sampler.stop();
      const drainSeconds = (Math.max(...completions.values()) - readyAt) / 1000;
      return {
        requests,
        submitSeconds,
        drainSeconds,
        requestsPerSecond: requests / drainSeconds,
        peakRssInBytes: atEnd.peakRssInBytes,
        rssSamples,
        cpuSeconds: atEnd.cpuSeconds === null || atStart.cpuSeconds === null ? null : atEnd.cpuSeconds - atStart.cpuSeconds,
        storage: storageUse(mergeCounts(submitCalls.snapshot(), drainCalls), requests),
      };
    } finally {
      await engine.stop();
    }
  } finally {
    await emulator.close();
  }
}
