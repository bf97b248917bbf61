/**
 * The floor as a system under test: its process (floor.ts) on the run's Azurite, and the bench
 * enqueueing its requests the way the engine's ingress does (status row inserted, then the first
 * step's message), with those calls counted too. In the CPU split scenario the floor's own ingress
 * (floor-ingress.ts) does the enqueueing instead, in a process of its own.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Emulator } from '../../src/storage/azurite.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { createStorageClients } from '../../src/storage/clients.js';
import type { EchoEndpoint } from './echo.js';
import { STEP_COUNT } from './flow-shape.js';
import {
  encodeFloorMessage,
  FLOOR_DONE_PROPERTY,
  floorQueueNames,
  FLOOR_STATUS_TABLE,
  FLOOR_UNUSED_NAMES,
  STATUS_ROW_KEY,
  type FloorConfig,
  type FloorStatusEntity,
} from './floor-records.js';
import { Agent } from 'undici';
import { submitToIngress } from './engine-system.js';
import { nextMessage, type FloorCommand, type FloorEvent, type FloorIngressEvent } from './ipc.js';
import { mergeCounts, readCompletionTimes, type RunningSystem, type SplitSystem } from './system.js';

export interface FloorStartOptions {
  emulator: Emulator;
  echo: EchoEndpoint;
  pollDelayInMs: number;
  /** Copies of the 3-step flow, each on its own queues. */
  flowCount: number;
  /** Extra node flags for the floor process (--cpu-prof ...). */
  execArgv: string[];
}

const STOP_TIMEOUT_IN_MS = 30_000;

function floorConfig({ emulator, echo, pollDelayInMs, flowCount }: FloorStartOptions): FloorConfig {
  return {
    connection: emulator.connection,
    queueNames: floorQueueNames(flowCount),
    statusTable: FLOOR_STATUS_TABLE,
    endpointUrls: Array.from({ length: STEP_COUNT }, (_, step) => echo.url(step)),
    pollDelayInMs,
  };
}

function forkChild(script: string, config: FloorConfig, execArgv: string[]): ChildProcess {
  return fork(new URL(script, import.meta.url), [JSON.stringify(config)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** Its storage calls so far, by kind (floor.ts and floor-ingress.ts answer the same command). */
async function reportOf(child: ChildProcess): Promise<Record<string, number>> {
  const report = nextMessage<FloorEvent, 'report'>(child, 'report');
  child.send({ type: 'report' } satisfies FloorCommand);
  const { storageCalls, failures } = await report;
  if (failures > 0) process.stderr.write(`[bench] floor: ${failures} step failures (their messages reappear after the visibility timeout)\n`);
  return storageCalls;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_IN_MS);
  child.send({ type: 'stop' } satisfies FloorCommand);
  await exited;
  clearTimeout(timer);
}

export async function startFloor(options: FloorStartOptions): Promise<RunningSystem> {
  const { emulator, execArgv } = options;
  const config = floorConfig(options);
  const { queueNames } = config;
  const child = forkChild('./floor.js', config, execArgv);
  await nextMessage<FloorEvent, 'ready'>(child, 'ready');

  // The bench's enqueueing is part of the floor's storage bill, as the ingress's is of the engine's.
  const counter = new StorageCallCounter();
  const clients = createStorageClients(emulator.connection, { statusTable: FLOOR_STATUS_TABLE, ...FLOOR_UNUSED_NAMES }, counter);
  const firstQueue = clients.queues.getQueueClient(queueNames[0]!);

  return {
    name: 'floor',
    pid: child.pid!,
    async submit(body) {
      const id = randomUUID();
      const row: FloorStatusEntity = { partitionKey: id, rowKey: STATUS_ROW_KEY, Status: 'queued', Step: 0, CreatedAt: new Date() };
      await clients.statusTable.createEntity(row);
      await firstQueue.sendMessage(encodeFloorMessage({ id, body: body.toString('utf8') }));
      return id;
    },
    readCompletions: () => readCompletionTimes(emulator.connectionString, FLOOR_STATUS_TABLE, FLOOR_DONE_PROPERTY),
    readStorageCalls: async () => mergeCounts(await reportOf(child), counter.snapshot()),
    storageCallsCountedBy: "StorageCallCounter policies in the floor process's SDK pipelines, plus the bench's enqueue calls (status insert + first send)",
    close: () => stopChild(child),
  };
}

export interface SplitFloorStartOptions extends FloorStartOptions {
  /** Extra node flags for the ingress process. */
  ingressExecArgv: string[];
  /** Connections for submitting through the ingress. */
  submitConnections: number;
}

/**
 * The floor in two processes: its steps (floor.ts, which creates the queues and the table) and
 * its own minimal ingress (floor-ingress.ts), fed over HTTP as the engine's ingress is.
 */
export async function startSplitFloor(options: SplitFloorStartOptions): Promise<SplitSystem> {
  const config = floorConfig(options);
  // Both at once: the ingress calls storage only when a request comes, after the worker is ready.
  const worker = forkChild('./floor.js', config, options.execArgv);
  const ingress = forkChild('./floor-ingress.js', config, options.ingressExecArgv);
  try {
    const [, { port }] = await Promise.all([nextMessage<FloorEvent, 'ready'>(worker, 'ready'), nextMessage<FloorIngressEvent, 'listening'>(ingress, 'listening')]);
    const url = `http://127.0.0.1:${port}`;
    const agent = new Agent({ connections: options.submitConnections });
    return {
      name: 'floor',
      pid: worker.pid!,
      ingressPid: ingress.pid!,
      submit: (body) => submitToIngress(agent, url, body),
      readCompletions: () => readCompletionTimes(options.emulator.connectionString, FLOOR_STATUS_TABLE, FLOOR_DONE_PROPERTY),
      readStorageCalls: async () => mergeCounts(await reportOf(worker), await reportOf(ingress)),
      storageCallsCountedBy: 'StorageCallCounter policies in the SDK pipelines of the floor process and of its ingress process',
      async close() {
        await stopChild(ingress);
        await stopChild(worker);
        await agent.close();
      },
    };
  } catch (err) {
    ingress.kill('SIGKILL');
    worker.kill('SIGKILL');
    throw err;
  }
}
