/**
 * The floor: the least a 3-step pipeline on Azure Storage Queues can do, written directly on
 * @azure/storage-queue, @azure/data-tables and one undici Agent, to measure the engine against.
 * The bench runs one copy of the flow (two in the idle scenario, each on its own queues).
 * Per step, one loop receives up to 32 messages (never more than the step's free slots of 32),
 * and for each message: POST its body to the step's endpoint, send the answer to the next queue,
 * delete the message, and upsert the request's status row. An empty receive waits the poll delay.
 * It has no retries, leases, dead letters or payload blobs: a failure leaves the message to
 * reappear after its visibility timeout.
 *
 * Run by floor-system.ts as its own process (node floor.js '<FloorConfig JSON>'), so that its
 * memory and CPU are measured apart from the bench's.
 */
import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import { Agent, request } from 'undici';
import { pause } from '../../src/common/pause.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { createStorageClients } from '../../src/storage/clients.js';
import { ENDPOINT_CONNECTIONS, IN_FLIGHT_PER_STEP, LAST_STEP, STEP_COUNT, VISIBILITY_TIMEOUT_IN_SECONDS } from './flow-shape.js';
import { decodeFloorMessage, encodeFloorMessage, FLOOR_UNUSED_NAMES, STATUS_ROW_KEY, type FloorConfig, type FloorStatusEntity } from './floor-records.js';
import { tellParent, type FloorCommand, type FloorEvent } from './ipc.js';

/** Azure returns at most 32 messages per receive. */
const MAX_RECEIVE_COUNT = 32;

const config = JSON.parse(process.argv[2] ?? '') as FloorConfig;
const counter = new StorageCallCounter();
const clients = createStorageClients(config.connection, { statusTable: config.statusTable, ...FLOOR_UNUSED_NAMES }, counter);
const queues = config.queueNames.map((name) => clients.queues.getQueueClient(name));
const statusTable = clients.statusTable;
const agent = new Agent({ connections: ENDPOINT_CONNECTIONS });
let failures = 0;

/** Queue `index` is step `index % STEP_COUNT` of its flow; a step that is not the last sends to the queue after it. */
async function runStep(index: number, queue: QueueClient, signal: AbortSignal): Promise<void> {
  const step = index % STEP_COUNT;
  const next = step === LAST_STEP ? null : queues[index + 1]!;
  const inFlight = new Set<Promise<void>>();
  while (!signal.aborted) {
    const freeSlots = IN_FLIGHT_PER_STEP - inFlight.size;
    if (freeSlots === 0) {
      await Promise.race(inFlight);
      continue;
    }
    let messages: DequeuedMessageItem[];
    try {
      const response = await queue.receiveMessages({ numberOfMessages: Math.min(freeSlots, MAX_RECEIVE_COUNT), visibilityTimeout: VISIBILITY_TIMEOUT_IN_SECONDS });
      messages = response.receivedMessageItems;
    } catch (err) {
      fail(step, err);
      await pause(config.pollDelayInMs, signal);
      continue;
    }
    if (messages.length === 0) {
      await pause(config.pollDelayInMs, signal);
      continue;
    }
    for (const message of messages) {
      const task: Promise<void> = handle(step, queue, next, message)
        .catch((err: unknown) => fail(step, err))
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
  }
  await Promise.all(inFlight);
}

async function handle(step: number, queue: QueueClient, next: QueueClient | null, message: DequeuedMessageItem): Promise<void> {
  const { id, body } = decodeFloorMessage(message.messageText);
  const response = await request(config.endpointUrls[step]!, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', 'x-request-id': id, 'x-flow-step': String(step) },
    body,
  });
  const answer = await response.body.text();
  // Taken when the answer is in, as the engine takes its CompletedAt, so that both count the same.
  const answeredAt = new Date();
  if (response.statusCode !== 200) throw new Error(`step ${step} endpoint answered ${response.statusCode}`);
  if (next !== null) await next.sendMessage(encodeFloorMessage({ id, body: answer }));
  await queue.deleteMessage(message.messageId, message.popReceipt);
  const row: FloorStatusEntity = next === null
    ? { partitionKey: id, rowKey: STATUS_ROW_KEY, Status: 'completed', Step: step, UpdatedAt: answeredAt, DoneAt: answeredAt }
    : { partitionKey: id, rowKey: STATUS_ROW_KEY, Status: 'processing', Step: step + 1, UpdatedAt: answeredAt };
  await statusTable.upsertEntity(row, 'Merge');
}

function fail(step: number, err: unknown): void {
  failures++;
  process.stderr.write(`floor step ${step}: ${err instanceof Error ? err.message : String(err)}\n`);
}

await Promise.all([...queues.map((queue) => queue.createIfNotExists()), statusTable.createTable()]);
const stopping = new AbortController();
const loops = queues.map((queue, index) => runStep(index, queue, stopping.signal));
tellParent<FloorEvent>({ type: 'ready' });

process.on('message', (command: FloorCommand) => {
  switch (command.type) {
    case 'report':
      tellParent<FloorEvent>({ type: 'report', storageCalls: counter.snapshot(), failures });
      break;
    case 'stop':
      stopping.abort();
      void Promise.all(loops)
        .then(() => agent.close())
        .then(() => {
          tellParent<FloorEvent>({ type: 'stopped' });
          process.disconnect();
        });
      break;
  }
});
