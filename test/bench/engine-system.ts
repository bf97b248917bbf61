/**
 * The engine as a system under test: the real command line (`node dist/src/main.js start`) in a
 * child process on the run's Azurite, fed through its HTTP ingress; in the CPU split scenario two
 * of them on the same storage, `--role ingress` and `--role worker`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import type { RuntimeRole } from '../../src/runtime.js';
import type { Emulator } from '../../src/storage/azurite.js';
import { cleanEnv, REPO_ROOT } from '../support/cli.js';
import type { EchoEndpoint } from './echo.js';
import { ENGINE_COMPLETED_PROPERTY, ENGINE_FLOW, ENGINE_STATUS_TABLE, engineDocument } from './engine-config.js';
import { mergeCounts, readCompletionTimes, type RunningSystem, type SplitSystem } from './system.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const START_TIMEOUT_IN_MS = 60_000;
const READY_POLL_IN_MS = 50;
const STOP_TIMEOUT_IN_MS = 30_000;
const STORAGE_METRIC = /^async_engine_storage_operations_total\{kind="([^"]+)"\} (\S+)$/gm;

/** The CLI engine process. */
export class EngineCli {
  readonly url: string;
  readonly #child: ChildProcess;

  private constructor(child: ChildProcess, url: string) {
    this.#child = child;
    this.url = url;
  }

  /**
   * Starts `async-engine start --config <configPath> --role <role>` and resolves once its ingress
   * answers (the pollers start right after the ingress listens; a worker's port serves
   * /actuator/* only). At log level warn the engine does not log its port, so the bench picks a
   * free one and writes it into the configuration beforehand.
   */
  static async start(configPath: string, port: number, execArgv: string[], role: RuntimeRole = 'all'): Promise<EngineCli> {
    const child = spawn(process.execPath, [...execArgv, MAIN, 'start', '--config', configPath, '--role', role], {
      cwd: REPO_ROOT,
      env: cleanEnv({ LOG_LEVEL: 'warn' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Its warnings and errors are worth seeing; reading both streams also keeps a full pipe from blocking it.
    const prefix = role === 'all' ? '[engine]' : `[engine ${role}]`;
    for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', (line) => process.stderr.write(`${prefix} ${line}\n`));
    const engine = new EngineCli(child, `http://127.0.0.1:${port}`);
    try {
      await engine.#waitUntilAnswering();
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return engine;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** One scrape of /actuator/prometheus: the storage calls by kind (the scrape's own gauge reads included). */
  async scrapeStorageCalls(): Promise<Record<string, number>> {
    const response = await request(`${this.url}/actuator/prometheus`);
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`/actuator/prometheus answered ${response.statusCode}`);
    const counts: Record<string, number> = {};
    for (const [, kind, value] of text.matchAll(STORAGE_METRIC)) counts[kind!] = Number(value);
    return counts;
  }

  /** SIGTERM, and waits for the engine to drain and exit; SIGKILL if it takes too long. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_IN_MS);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  }

  async #waitUntilAnswering(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_IN_MS;
    const child = this.#child;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`the engine exited with code ${child.exitCode} while starting`);
      try {
        const response = await request(`${this.url}/actuator/info`);
        await response.body.dump();
        if (response.statusCode === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(READY_POLL_IN_MS);
    }
    throw new Error(`the engine did not answer within ${START_TIMEOUT_IN_MS} ms`);
  }
}

/** POSTs a body to the bench flow through an ingress and returns the accepted request's id. */
export async function submitToIngress(agent: Agent, ingressUrl: string, body: Buffer): Promise<string> {
  const response = await request(`${ingressUrl}/api/flows/${ENGINE_FLOW}`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body,
  });
  const answer = await response.body.text();
  if (response.statusCode !== 202) throw new Error(`the ingress answered ${response.statusCode}: ${answer}`);
  return (JSON.parse(answer) as { id: string }).id;
}

/** A port nobody listens on right now (there is a small race until the engine takes it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface EngineConfigFileOptions {
  emulator: Emulator;
  echo: EchoEndpoint;
  pollDelayInMs: number;
  /** A scratch folder for the configuration file. */
  workDir: string;
  /** Copies of the 3-step flow (engine-config.ts). */
  flowCount: number;
}

export interface EngineStartOptions extends EngineConfigFileOptions {
  /** Extra node flags for the engine process (--cpu-prof ...). */
  execArgv: string[];
  /** Connections for submitting through the ingress. */
  submitConnections: number;
}

/** Writes the bench's engine configuration for `emulator` and returns its path and the ingress port. */
export async function writeEngineConfig({ emulator, echo, pollDelayInMs, workDir, flowCount }: EngineConfigFileOptions, name: string): Promise<{ configPath: string; port: number }> {
  const port = await freePort();
  const configPath = path.join(workDir, `${name}.json`);
  const document = engineDocument({ connectionString: emulator.connectionString, echo, pollDelayInMs, port, flowCount });
  await writeFile(configPath, `${JSON.stringify(document, null, 2)}\n`);
  return { configPath, port };
}

export async function startEngineSystem(options: EngineStartOptions, name: string): Promise<RunningSystem> {
  const { configPath, port } = await writeEngineConfig(options, name);
  const engine = await EngineCli.start(configPath, port, options.execArgv);
  const agent = new Agent({ connections: options.submitConnections });
  return {
    name: 'engine',
    pid: engine.pid,
    submit: (body) => submitToIngress(agent, engine.url, body),
    readCompletions: () => readCompletionTimes(options.emulator.connectionString, ENGINE_STATUS_TABLE, ENGINE_COMPLETED_PROPERTY),
    readStorageCalls: () => engine.scrapeStorageCalls(),
    storageCallsCountedBy:
      'one scrape of async_engine_storage_operations_total at the end (all kinds summed; the scrape itself adds one queue.admin call per step, for the queue-depth gauge)',
    async close() {
      await engine.stop();
      await agent.close();
    },
  };
}

export interface SplitEngineStartOptions extends EngineStartOptions {
  /** Extra node flags for the ingress process. */
  ingressExecArgv: string[];
}

/**
 * The engine in two processes on the same storage: `--role worker` (the pollers) and `--role
 * ingress` (the HTTP API), each with its own port.
 * Its storage calls are both processes' scrapes, added.
 */
export async function startSplitEngine(options: SplitEngineStartOptions, name: string): Promise<SplitSystem> {
  const workerConfig = await writeEngineConfig(options, `${name}-worker`);
  const ingressConfig = await writeEngineConfig(options, `${name}-ingress`);
  // Both at once: each provisions the queues and tables if they are missing, as replicas do.
  const [worker, ingress] = await Promise.allSettled([
    EngineCli.start(workerConfig.configPath, workerConfig.port, options.execArgv, 'worker'),
    EngineCli.start(ingressConfig.configPath, ingressConfig.port, options.ingressExecArgv, 'ingress'),
  ]);
  if (worker.status === 'rejected' || ingress.status === 'rejected') {
    for (const started of [worker, ingress]) if (started.status === 'fulfilled') await started.value.stop();
    throw worker.status === 'rejected' ? worker.reason : (ingress as PromiseRejectedResult).reason;
  }
  const agent = new Agent({ connections: options.submitConnections });
  return {
    name: 'engine',
    pid: worker.value.pid,
    ingressPid: ingress.value.pid,
    submit: (body) => submitToIngress(agent, ingress.value.url, body),
    readCompletions: () => readCompletionTimes(options.emulator.connectionString, ENGINE_STATUS_TABLE, ENGINE_COMPLETED_PROPERTY),
    readStorageCalls: async () => mergeCounts(await worker.value.scrapeStorageCalls(), await ingress.value.scrapeStorageCalls()),
    storageCallsCountedBy: 'one scrape of async_engine_storage_operations_total of each process at the end, added',
    async close() {
      await ingress.value.stop();
      await worker.value.stop();
      await agent.close();
    },
  };
}
