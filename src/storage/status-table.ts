/**
 * The status table: one entity per request (PartitionKey = request id), with property names users
 * read in Azure Storage Explorer. Every update is conditional on the ETag the writer last saw, so
 * the row never moves backwards (see engine/step-runner.ts for the protocol).
 */
import { odata, type TableClient, type TableEntityResult } from '@azure/data-tables';
import { isEngineError } from '../errors.js';
import { required } from '../common/required.js';
import { queryPage, type Page } from './paging.js';
import { translateStorageError } from './storage-error.js';

export const REQUEST_STATES = ['queued', 'processing', 'retrying', 'completed', 'dead-lettered'] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

export const FINAL_STATES: ReadonlySet<RequestState> = new Set(['completed', 'dead-lettered']);

/** The result of a completed request: inline bytes, or the payload blob holding them. */
export type StoredResult = { contentType: string; bytes: Buffer } | { contentType: string; blobName: string };

export interface RequestStatus {
  id: string;
  flow: string;
  status: RequestState;
  step: number;
  stepQueue: string;
  attempt: number;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  lastHttpStatus: number | null;
  lastError: string | null;
  callbackUrl: string | null;
  callbackStatus: string | null;
  result: StoredResult | null;
  /** The DLQ entry of a dead-lettered request. */
  dlqId: string | null;
}

export interface StatusRow {
  status: RequestStatus;
  etag: string;
}

/** Fields a transition sets; the rest of the row stays as it is (merge). */
export type StatusChange = Partial<Omit<RequestStatus, 'id' | 'flow' | 'createdAt'>> & { updatedAt: Date };

const ROW_KEY = 'status';

interface StatusEntity {
  partitionKey: string;
  rowKey: string;
  Flow: string;
  Status: string;
  Step: number;
  StepQueue: string;
  Attempt: number;
  CreatedAt: Date;
  UpdatedAt: Date;
  CompletedAt?: Date | null;
  LastHttpStatus?: number | null;
  LastError?: string | null;
  CallbackUrl?: string | null;
  CallbackStatus?: string | null;
  ResultContentType?: string | null;
  Result?: Uint8Array | null;
  ResultBlob?: string | null;
  DlqId?: string | null;
}

export class StatusTable {
  readonly #table: TableClient;

  constructor(table: TableClient) {
    this.#table = table;
  }

  get name(): string {
    return this.#table.tableName;
  }

  /** Inserts the row of a new request; returns its ETag. */
  async create(status: RequestStatus, abortSignal: AbortSignal): Promise<string> {
    try {
      const response = await this.#table.createEntity(toEntity(status), { abortSignal });
      return required(response.etag, 'AE_STORAGE', 'the ETag of a new status row');
    } catch (err) {
      throw translateStorageError(err, `creating status of request ${status.id}`);
    }
  }

  async get(id: string, abortSignal: AbortSignal): Promise<StatusRow | null> {
    try {
      const entity = await this.#table.getEntity<StatusEntity>(id, ROW_KEY, { abortSignal });
      return { status: fromEntity(entity), etag: entity.etag };
    } catch (err) {
      const translated = translateStorageError(err, `reading status of request ${id}`);
      if (isEngineError(translated, 'AE_NOT_FOUND')) return null;
      throw translated;
    }
  }

  /** Records a callback's outcome; the rest of the row is left as it is, whatever its ETag. */
  async setCallbackStatus(id: string, callbackStatus: 'delivered' | 'failed', abortSignal: AbortSignal): Promise<void> {
    try {
      await this.#table.updateEntity({ partitionKey: id, rowKey: ROW_KEY, CallbackStatus: callbackStatus }, 'Merge', { etag: '*', abortSignal });
    } catch (err) {
      throw translateStorageError(err, `recording the callback of request ${id}`);
    }
  }

  /** Removes a row; one already gone counts as removed. */
  async delete(id: string, abortSignal: AbortSignal): Promise<void> {
    try {
      await this.#table.deleteEntity(id, ROW_KEY, { abortSignal });
    } catch (err) {
      const translated = translateStorageError(err, `deleting status of request ${id}`);
      if (!isEngineError(translated, 'AE_NOT_FOUND')) throw translated;
    }
  }

  /** One page of requests, by request id; `flow` and `status` narrow it when given. */
  async list(filters: { flow: string | null; status: RequestState | null }, limit: number, cursor: string | null, abortSignal: AbortSignal): Promise<Page<RequestStatus>> {
    // Every condition through the SDK's odata template, which quotes and escapes the values.
    let filter = odata`RowKey eq ${ROW_KEY}`;
    if (filters.flow !== null) filter += ` and ${odata`Flow eq ${filters.flow}`}`;
    if (filters.status !== null) filter += ` and ${odata`Status eq ${filters.status}`}`;
    try {
      const page = await queryPage<StatusEntity>(this.#table, { filter }, limit, cursor, abortSignal);
      return { items: page.items.map(fromEntity), nextCursor: page.nextCursor };
    } catch (err) {
      throw translateStorageError(err, 'listing requests');
    }
  }

  /** Up to `limit` unfinished rows last updated before `cutoff`: candidates for the expiry sweep. */
  async listUnfinishedBefore(cutoff: Date, limit: number, abortSignal: AbortSignal): Promise<StatusRow[]> {
    const filter = odata`RowKey eq ${ROW_KEY} and Status ne ${'completed'} and Status ne ${'dead-lettered'} and UpdatedAt lt ${cutoff}`;
    const rows: StatusRow[] = [];
    try {
      for await (const page of this.#table.listEntities<StatusEntity>({ abortSignal, queryOptions: { filter } }).byPage({ maxPageSize: Math.min(limit, 1000) })) {
        for (const entity of page) {
          rows.push({ status: fromEntity(entity), etag: entity.etag });
          if (rows.length >= limit) return rows;
        }
      }
      return rows;
    } catch (err) {
      throw translateStorageError(err, 'listing unfinished requests');
    }
  }

  /**
   * Applies `change` if the row still has `etag`. Returns the new ETag, or null when the row has
   * moved on (another writer won) or is gone.
   */
  async update(id: string, change: StatusChange, etag: string, abortSignal: AbortSignal): Promise<string | null> {
    try {
      const response = await this.#table.updateEntity({ partitionKey: id, rowKey: ROW_KEY, ...changeToProperties(change) }, 'Merge', { etag, abortSignal });
      return required(response.etag, 'AE_STORAGE', 'the ETag of an updated status row');
    } catch (err) {
      const translated = translateStorageError(err, `updating status of request ${id}`);
      if (isEngineError(translated, 'AE_STORAGE_CONFLICT') || isEngineError(translated, 'AE_NOT_FOUND')) return null;
      throw translated;
    }
  }
}

function toEntity(s: RequestStatus): StatusEntity {
  return { partitionKey: s.id, rowKey: ROW_KEY, Flow: s.flow, ...(changeToProperties(s) as Omit<StatusEntity, 'partitionKey' | 'rowKey' | 'Flow'>), CreatedAt: s.createdAt };
}

/** Maps the set fields of a change to entity properties; null clears a property. */
function changeToProperties(change: Partial<RequestStatus>): Partial<StatusEntity> {
  const p: Partial<StatusEntity> = {};
  if (change.status !== undefined) p.Status = change.status;
  if (change.step !== undefined) p.Step = change.step;
  if (change.stepQueue !== undefined) p.StepQueue = change.stepQueue;
  if (change.attempt !== undefined) p.Attempt = change.attempt;
  if (change.updatedAt !== undefined) p.UpdatedAt = change.updatedAt;
  if (change.completedAt !== undefined) p.CompletedAt = change.completedAt;
  if (change.lastHttpStatus !== undefined) p.LastHttpStatus = change.lastHttpStatus;
  if (change.lastError !== undefined) p.LastError = change.lastError;
  if (change.callbackUrl !== undefined) p.CallbackUrl = change.callbackUrl;
  if (change.callbackStatus !== undefined) p.CallbackStatus = change.callbackStatus;
  if (change.dlqId !== undefined) p.DlqId = change.dlqId;
  if (change.result !== undefined) {
    const r = change.result;
    p.ResultContentType = r?.contentType ?? null;
    p.Result = r && 'bytes' in r ? new Uint8Array(r.bytes) : null;
    p.ResultBlob = r && 'blobName' in r ? r.blobName : null;
  }
  return p;
}

const asDate = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));
const orNull = <T>(value: T | null | undefined): T | null => (value === undefined ? null : value);

function fromEntity(e: TableEntityResult<StatusEntity>): RequestStatus {
  let result: StoredResult | null = null;
  if (e.ResultBlob) result = { contentType: e.ResultContentType ?? 'application/octet-stream', blobName: e.ResultBlob };
  else if (e.Result) result = { contentType: e.ResultContentType ?? 'application/octet-stream', bytes: Buffer.from(e.Result) };
  return {
    id: required(e.partitionKey, 'AE_STORAGE', 'the PartitionKey of a status entity'),
    flow: e.Flow,
    status: e.Status as RequestState,
    step: e.Step,
    stepQueue: e.StepQueue,
    attempt: e.Attempt,
    createdAt: asDate(e.CreatedAt),
    updatedAt: asDate(e.UpdatedAt),
    completedAt: e.CompletedAt ? asDate(e.CompletedAt) : null,
    lastHttpStatus: orNull(e.LastHttpStatus),
    lastError: orNull(e.LastError),
    callbackUrl: orNull(e.CallbackUrl),
    callbackStatus: orNull(e.CallbackStatus),
    result,
    dlqId: orNull(e.DlqId),
  };
}

/** The status JSON of the API (contract section 3). */
export function toStatusJson(s: RequestStatus): Record<string, unknown> {
  return {
    id: s.id,
    flow: s.flow,
    status: s.status,
    step: s.step,
    stepQueue: s.stepQueue,
    attempt: s.attempt,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    ...(s.completedAt ? { completedAt: s.completedAt.toISOString() } : {}),
    ...(s.lastHttpStatus !== null ? { lastHttpStatus: s.lastHttpStatus } : {}),
    ...(s.lastError !== null ? { error: s.lastError } : {}),
    ...(s.callbackUrl !== null ? { callback: { url: s.callbackUrl, status: s.callbackStatus ?? 'pending' } } : {}),
  };
}
