/**
 * What the scenarios need of a system under test (the floor or the engine), each running in its own
 * process on its own fresh Azurite.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TableClient } from '@azure/data-tables';

export type SystemName = 'floor' | 'engine';

export interface RunningSystem {
  readonly name: SystemName;
  /** The process whose memory and CPU are measured. */
  readonly pid: number;
  /** Submits one request; resolves with its id once it is accepted. */
  submit(body: Buffer): Promise<string>;
  /** When each completed request was completed (ms since the epoch), from its status row: one query. */
  readCompletions(): Promise<Map<string, number>>;
  /** Storage calls so far, by kind (see StorageCallCounter). */
  readStorageCalls(): Promise<Record<string, number>>;
  /** A line for the report on how readStorageCalls counts. */
  readonly storageCallsCountedBy: string;
  close(): Promise<void>;
}

/** A system in two processes, as the CPU split scenario runs it: `pid` runs the steps, `ingressPid` takes the submissions. */
export interface SplitSystem extends RunningSystem {
  readonly ingressPid: number;
}

/** How often the bench looks again while the last requests are being settled. */
const COMPLETION_POLL_IN_MS = 100;

/**
 * Completion times by request id from a status table: `property` holds the time. The bench's own
 * client, outside the systems' counted pipelines.
 */
export async function readCompletionTimes(connectionString: string, table: string, property: string): Promise<Map<string, number>> {
  const client = TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true });
  const times = new Map<string, number>();
  const entities = client.listEntities<Record<string, unknown>>({ queryOptions: { select: ['PartitionKey', property] } });
  for await (const entity of entities) {
    const value = entity[property];
    if (entity.partitionKey === undefined || value === undefined || value === null) continue;
    times.set(entity.partitionKey, value instanceof Date ? value.getTime() : Date.parse(String(value)));
  }
  return times;
}

/** Reads the completions until every one of `ids` has one; the last endpoint call precedes the status write. */
export async function waitForCompletions(system: Pick<RunningSystem, 'name' | 'readCompletions'>, ids: readonly string[], timeoutInMs: number): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutInMs;
  for (;;) {
    const completions = await system.readCompletions();
    const missing = ids.filter((id) => !completions.has(id)).length;
    if (missing === 0) return completions;
    if (Date.now() > deadline) throw new Error(`${system.name}: ${missing} of ${ids.length} requests not completed within ${timeoutInMs} ms`);
    await sleep(COMPLETION_POLL_IN_MS);
  }
}

/** The size of every request body, as the issue asks. */
const REQUEST_BYTES = 1024;

/** The JSON body of request `index`. */
export function requestBody(index: number): Buffer {
  const head = JSON.stringify({ request: index, padding: '' });
  return Buffer.from(head.replace('"padding":""', `"padding":"${'x'.repeat(REQUEST_BYTES - head.length)}"`));
}

/** Two storage-call counts by kind, added. */
export function mergeCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const merged: Record<string, number> = { ...a };
  for (const [kind, count] of Object.entries(b)) merged[kind] = (merged[kind] ?? 0) + count;
  return merged;
}
