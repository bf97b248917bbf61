/**
 * What the floor keeps in storage, shared by the floor process (floor.ts) and the bench, which
 * enqueues the floor's requests: the message text and the status row.
 */
import type { StorageConnection } from '../../src/storage/clients.js';
import { STEP_COUNT } from './flow-shape.js';

/** What floor.ts is started with (as JSON in argv[2]). */
export interface FloorConfig {
  connection: StorageConnection;
  /** The source queue of each step, in step order, flow after flow (STEP_COUNT per flow). */
  queueNames: string[];
  statusTable: string;
  /** The endpoint of each step, in step order. */
  endpointUrls: string[];
  pollDelayInMs: number;
}

/** The queues of `flowCount` copies of the 3-step flow, flow after flow; the bench submits to the first. */
export function floorQueueNames(flowCount: number): string[] {
  return Array.from({ length: flowCount * STEP_COUNT }, (_, index) => {
    const flow = Math.floor(index / STEP_COUNT);
    return `floor${flow === 0 ? '' : `-${flow + 1}`}-step-${index % STEP_COUNT}`;
  });
}

export const FLOOR_STATUS_TABLE = 'FloorStatus';
export const STATUS_ROW_KEY = 'status';
/** createStorageClients also builds a DLQ table and a blob container client; the floor never calls them. */
export const FLOOR_UNUSED_NAMES = { dlqTable: 'FloorUnused', container: 'floor-unused' };
/** The status property holding when the last step finished: the request's completion time. */
export const FLOOR_DONE_PROPERTY = 'DoneAt';

/** A step's input: the request id and the body to POST. */
export interface FloorMessage {
  id: string;
  body: string;
}

export function encodeFloorMessage(message: FloorMessage): string {
  return JSON.stringify(message);
}

export function decodeFloorMessage(text: string): FloorMessage {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null) throw new Error('a floor message must be a JSON object');
  const { id, body } = parsed as Record<string, unknown>;
  if (typeof id !== 'string' || typeof body !== 'string') throw new Error('a floor message needs a string id and body');
  return { id, body };
}

/** The floor's status row: one entity per request, with properties a person can read. */
export interface FloorStatusEntity {
  partitionKey: string;
  rowKey: typeof STATUS_ROW_KEY;
  Status: 'queued' | 'processing' | 'completed';
  Step: number;
  CreatedAt?: Date;
  UpdatedAt?: Date;
  DoneAt?: Date;
}
