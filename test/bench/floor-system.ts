/**
 * The floor as a system under test: its process (floor.ts) on the run's Azurite, and the bench
 * enqueueing its requests the way the engine's ingress does (status row inserted, then the first
 * step's message), with those calls counted too.
 */
import { fork } from 'node:child_process';
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
import { nextMessage, type FloorCommand, type FloorEvent } from './ipc.js';
import { mergeCounts, readCompletionTimes, type RunningSystem } from './system.js';

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

export async function startFloor({ emulator, echo, pollDelayInMs, flowCount, execArgv }: FloorStartOptions): Promise<RunningSystem> {
  const queueNames = floorQueueNames(flowCount);
  const config: FloorConfig = {
    connection: emulator.connection,
    queueNames,
    statusTable: FLOOR_STATUS_TABLE,
    endpointUrls: Array.from({ length: STEP_COUNT }, (_, step) => echo.url(step)),
    pollDelayInMs,
  };
  const child = fork(new URL('./floor.js', import.meta.url), [JSON.stringify(config)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await nextMessage<FloorEvent, 'ready'>(child, 'ready');

  // The bench's enqueueing is part of the floor's storage bill, as the ingress's is of the engine's.
  const counter = new StorageCallCounter();
  const clients = createStorageClients(emulator.connection, { statusTable: FLOOR_STATUS_TABLE, ...FLOOR_UNUSED_NAMES }, counter);
  const firstQueue = clients.queues.getQueueClient(queueNames[0]!);
  const send = (command: FloorCommand): void => void child.send(command);

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
    async readStorageCalls() {
      const report = nextMessage<FloorEvent, 'report'>(child, 'report');
      send({ type: 'report' });
      const { storageCalls, failures } = await report;
      if (failures > 0) process.stderr.write(`[bench] floor: ${failures} step failures (their messages reappear after the visibility timeout)\n`);
      return mergeCounts(storageCalls, counter.snapshot());
    },
    storageCallsCountedBy: "StorageCallCounter policies in the floor process's SDK pipelines, plus the bench's enqueue calls (status insert + first send)",
    async close() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_IN_MS);
      send({ type: 'stop' });
      await exited;
      clearTimeout(timer);
    },
  };
}
