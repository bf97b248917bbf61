/**
 * The progress of DLQ replay jobs (POST /api/dlq/replay?flow=), kept in storage so that every
 * replica answers GET /api/dlq/replays/{jobId} alike, whichever one runs the job.
 *
 * Where. One entity per job in the status table, PartitionKey `dlq-replay~{jobId}`, RowKey
 * `replay-job`, beside the requests and the idempotency keys (PartitionKey `idem~...`). Not in the
 * DLQ table: its partitions are the flows users browse there, and `GET /api/dlq` without a flow
 * lists the whole table, so a job row would show up as an entry. In the status table every listing
 * and sweep filters on RowKey `status`, so job rows never show up in `GET /api/requests` or the
 * expiry sweep, and `~` never occurs in a request id (a UUID). A read is a point read: the job id
 * names its partition.
 *
 * Ids. `replay-{UUID v4}`, checked before any storage call, so a malformed id, a request id or a
 * DLQ id costs nothing.
 *
 * Retention. A job's index row (due-index.ts) is written before its row; the retention sweep deletes
 * the row retention.config.completedMs after the job last wrote it, once it is done or has stopped
 * writing (engine/retention.ts).
 */
import { randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { isEngineError } from '../errors.js';
import { translateStorageError } from './storage-error.js';

export interface ReplayJob {
  jobId: string;
  flow: string;
  /** Entries queued again and removed from the DLQ. */
  replayed: number;
  /** Entries that cannot be replayed (AE_REPLAY_IMPOSSIBLE); they stay in the DLQ. */
  skipped: number;
  /** Entries whose replay failed otherwise (storage); they stay in the DLQ. */
  failed: number;
  /** True once every entry of the flow was tried; stays false for a job stopped before. */
  done: boolean;
  startedAt: Date;
  updatedAt: Date;
}

const ROW_KEY = 'replay-job';
const ID_PATTERN = /^replay-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function createReplayJobId(): string {
  return `replay-${randomUUID()}`;
}

/** Whether `jobId` has the shape of an id {@link createReplayJobId} hands out. */
export function isReplayJobId(jobId: string): boolean {
  return ID_PATTERN.test(jobId);
}

interface JobEntity {
  partitionKey: string;
  rowKey: string;
  Flow: string;
  Replayed: number;
  Skipped: number;
  Failed: number;
  Done: boolean;
  StartedAt: Date;
  UpdatedAt: Date;
}

export class ReplayJobTable {
  readonly #table: TableClient;

  /** `table` is the status table's client. */
  constructor(table: TableClient) {
    this.#table = table;
  }

  /** Inserts the row of a new job. */
  async create(job: ReplayJob, abortSignal: AbortSignal): Promise<void> {
    try {
      await this.#table.createEntity(toEntity(job), { abortSignal });
    } catch (err) {
      throw translateStorageError(err, `creating DLQ replay job ${job.jobId}`);
    }
  }

  /** Writes the job's progress; its one writer is the engine that runs it, so no ETag is needed. */
  async upsert(job: ReplayJob, abortSignal: AbortSignal): Promise<void> {
    try {
      await this.#table.upsertEntity(toEntity(job), 'Replace', { abortSignal });
    } catch (err) {
      throw translateStorageError(err, `writing the progress of DLQ replay job ${job.jobId}`);
    }
  }

  /** The job, or null when there is none of this id (a malformed id is never looked up). */
  async get(jobId: string, abortSignal: AbortSignal): Promise<ReplayJob | null> {
    if (!isReplayJobId(jobId)) return null;
    try {
      const e = await this.#table.getEntity<JobEntity>(partitionOf(jobId), ROW_KEY, { abortSignal });
      return {
        jobId,
        flow: e.Flow,
        replayed: e.Replayed,
        skipped: e.Skipped,
        failed: e.Failed,
        done: e.Done,
        startedAt: asDate(e.StartedAt),
        updatedAt: asDate(e.UpdatedAt),
      };
    } catch (err) {
      const translated = translateStorageError(err, `reading DLQ replay job ${jobId}`);
      if (isEngineError(translated, 'AE_NOT_FOUND')) return null;
      throw translated;
    }
  }

  /** Removes the job's row; one already gone counts as removed. */
  async delete(jobId: string, abortSignal: AbortSignal): Promise<void> {
    if (!isReplayJobId(jobId)) return;
    try {
      await this.#table.deleteEntity(partitionOf(jobId), ROW_KEY, { abortSignal });
    } catch (err) {
      const translated = translateStorageError(err, `deleting DLQ replay job ${jobId}`);
      if (!isEngineError(translated, 'AE_NOT_FOUND')) throw translated;
    }
  }
}

const partitionOf = (jobId: string): string => `dlq-replay~${jobId}`;
const asDate = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));

function toEntity(job: ReplayJob): JobEntity {
  return {
    partitionKey: partitionOf(job.jobId),
    rowKey: ROW_KEY,
    Flow: job.flow,
    Replayed: job.replayed,
    Skipped: job.skipped,
    Failed: job.failed,
    Done: job.done,
    StartedAt: job.startedAt,
    UpdatedAt: job.updatedAt,
  };
}

/** The replay job JSON of the API (contract section 6). */
export function toReplayJobJson(job: ReplayJob): Record<string, unknown> {
  return { jobId: job.jobId, flow: job.flow, replayed: job.replayed, skipped: job.skipped, failed: job.failed, done: job.done };
}
