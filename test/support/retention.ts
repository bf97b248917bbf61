/**
 * What retention tests look at, read with the raw SDK clients as a user in Storage Explorer would:
 * the status table's rows by kind, the payload container's blobs, the DLQ's entries.
 */
import type { TableClient } from '@azure/data-tables';
import type { TestAzurite } from './azurite.js';
import { flowDocument, type StepSpec } from './engine.js';

/** The rows of a status table, by what they are. */
export interface StatusTableRows {
  /** Request ids of status rows. */
  requests: string[];
  /** Index rows (`due~...`). */
  index: Array<Record<string, unknown> & { partitionKey: string; rowKey: string }>;
  /** PartitionKeys of idempotency records. */
  idempotency: string[];
  /** PartitionKeys of replay jobs. */
  replayJobs: string[];
  /** The meta row and anything else. */
  other: Array<{ partitionKey: string; rowKey: string }>;
}

export async function statusTableRows(table: TableClient): Promise<StatusTableRows> {
  const rows: StatusTableRows = { requests: [], index: [], idempotency: [], replayJobs: [], other: [] };
  for await (const e of table.listEntities<Record<string, unknown>>()) {
    const keys = { partitionKey: String(e.partitionKey), rowKey: String(e.rowKey) };
    if (keys.rowKey === 'status') rows.requests.push(keys.partitionKey);
    else if (keys.partitionKey.startsWith('due~')) rows.index.push({ ...e, ...keys });
    else if (keys.rowKey === 'idempotency') rows.idempotency.push(keys.partitionKey);
    else if (keys.rowKey === 'replay-job') rows.replayJobs.push(keys.partitionKey);
    else rows.other.push(keys);
  }
  return rows;
}

/** Index rows that name `requestId`. */
export function indexRowsOf(rows: StatusTableRows, requestId: string): StatusTableRows['index'] {
  return rows.index.filter((row) => row['RequestId'] === requestId);
}

export async function countEntities(table: TableClient): Promise<number> {
  let n = 0;
  for await (const _ of table.listEntities()) n++;
  return n;
}

export interface RetentionDocOptions {
  steps: StepSpec[];
  retention: Record<string, unknown>;
  /** server.config.expirySweepMs; 600000 (no sweep during a test) unless given. */
  sweepInMs?: number;
  inlineLimitBytes?: number;
  extra?: Record<string, unknown>;
  queue?: Record<string, unknown>;
}

/** A one-flow document with retention.config, the sweep interval and the inline limit set. */
export function retentionDocument(azurite: TestAzurite, { steps, retention, sweepInMs = 600_000, inlineLimitBytes, extra = {}, queue = {} }: RetentionDocOptions): Record<string, unknown> {
  const { ['server.config']: server, ...rest } = extra;
  const doc = flowDocument(azurite, { steps, queue, extra: { ...rest, 'server.config': { expirySweepMs: sweepInMs, ...(server as object | undefined) }, 'retention.config': retention } });
  if (inlineLimitBytes !== undefined) doc['payload.config'] = { ...(doc['payload.config'] as object), inlineLimitBytes };
  return doc;
}
