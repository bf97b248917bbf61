/**
 * The status table: one entity per request (PartitionKey = request id), with property names users
 * read in Azure Storage Explorer. Every update is conditional on the ETag the writer last saw, so
 * the row never moves backwards (see engine/step-runner.ts for the protocol).
 *
 * A row written by this version has `Indexed: true`: its index row (due-index.ts) was written
 * before it. Rows without it come from an earlier version; the one-off index pass finds them by
 * that (engine/index-migration.ts). The retention sweep deletes a row only If-Match the ETag it
 * judged it by, so a row that changed meanwhile (a replay reset it) stays.
 */
import { odata, type TableClient, type TableEntityResult } from '@azure/data-tables';
import { isEngineError } from '../errors.js';
import { required } from '../common/required.js';
import { isRequestId } from './envelope.js';
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
  /**
   * The queue message whose settle wrote the row last; null when the ingress, a replay or the
   * expiry sweep did. A message may build on a row it did not expect only when it wrote it itself
   * (a crash between its writes): see engine/routing.ts. Not part of the status JSON.
   */
  lastMessageId: string | null;
  /** The principal that submitted the request (principal-attribute), under oidc; else null. */
  submittedBy: string | null;
}

export interface StatusRow {
  status: RequestStatus;
  etag: string;
}

/** A row found by the index pass: whether this version wrote it (and so indexed it already). */
export interface ScannedStatusRow extends StatusRow {
  isIndexed: boolean;
}

/** Fields a transition sets; the rest of the row stays as it is (merge). */
export type StatusChange = Partial<Omit<RequestStatus, 'id' | 'flow' | 'createdAt' | 'submittedBy'>> & { updatedAt: Date };

const ROW_KEY = 'status';
/** How often a callback's outcome is tried again after losing to another write of its row. */
const CALLBACK_STATUS_TRIES = 3;

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
  // A merge cannot remove a property: a cleared field is written as '' (see changeToProperties).
  CompletedAt?: Date | '';
  LastHttpStatus?: number | '';
  LastError?: string;
  CallbackUrl?: string;
  CallbackStatus?: string;
  ResultContentType?: string;
  Result?: Uint8Array | '';
  ResultBlob?: string;
  DlqId?: string;
  LastMessageId?: string;
  SubmittedBy?: string;
  Indexed?: boolean;
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

  /**
   * Records a callback's outcome on a row that is still final, If-Match its ETag: a row that moved
   * on meanwhile (a replay reset it) is left alone, since changing its ETag would make the
   * replayed message find the row changed under it. With `completedAt`, only while the row still
   * has that outcome (not a later one, after a replay ran it again).
   */
  async setCallbackStatus(id: string, callbackStatus: 'delivered' | 'failed', abortSignal: AbortSignal, completedAt?: Date): Promise<void> {
    for (let tries = 0; tries < CALLBACK_STATUS_TRIES; tries++) {
      const row = await this.get(id, abortSignal);
      if (row === null || !FINAL_STATES.has(row.status.status)) return;
      if (completedAt !== undefined && row.status.completedAt?.getTime() !== completedAt.getTime()) return;
      try {
        await this.#table.updateEntity({ partitionKey: id, rowKey: ROW_KEY, CallbackStatus: callbackStatus }, 'Merge', { etag: row.etag, abortSignal });
        return;
      } catch (err) {
        const translated = translateStorageError(err, `recording the callback of request ${id}`);
        if (!isEngineError(translated, 'AE_STORAGE_CONFLICT')) throw translated;
      }
    }
  }

  /**
   * Removes the row if it still has `etag`: `deleted`, `changed` (another writer got there first:
   * the row stays), or `gone` (it was removed already).
   */
  async deleteIfUnchanged(id: string, etag: string, abortSignal: AbortSignal): Promise<'deleted' | 'changed' | 'gone'> {
    try {
      await this.#table.deleteEntity(id, ROW_KEY, { etag, abortSignal });
      return 'deleted';
    } catch (err) {
      const translated = translateStorageError(err, `deleting status of request ${id}`);
      if (isEngineError(translated, 'AE_NOT_FOUND')) return 'gone';
      if (isEngineError(translated, 'AE_STORAGE_CONFLICT')) return 'changed';
      throw translated;
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

  /** One page of requests, by request id; `flow`, `status` and `submittedBy` narrow it when given. */
  async list(
    filters: { flow: string | null; status: RequestState | null; submittedBy: string | null },
    limit: number,
    cursor: string | null,
    abortSignal: AbortSignal,
  ): Promise<Page<RequestStatus>> {
    // Every condition through the SDK's odata template, which quotes and escapes the values.
    let filter = odata`RowKey eq ${ROW_KEY}`;
    if (filters.flow !== null) filter += ` and ${odata`Flow eq ${filters.flow}`}`;
    if (filters.status !== null) filter += ` and ${odata`Status eq ${filters.status}`}`;
    if (filters.submittedBy !== null) filter += ` and ${odata`SubmittedBy eq ${filters.submittedBy}`}`;
    try {
      const page = await queryPage<StatusEntity>(this.#table, { filter }, limit, cursor, abortSignal);
      return { items: page.items.map(fromEntity), nextCursor: page.nextCursor };
    } catch (err) {
      throw translateStorageError(err, 'listing requests');
    }
  }

  /**
   * One page of rows created before `cutoff`, from `cursor` on: the index pass's scan of the rows
   * of earlier versions. A page may come back empty with a cursor (Azure's scans stop after 5 s).
   */
  async listCreatedBefore(cutoff: Date, limit: number, cursor: string | null, abortSignal: AbortSignal): Promise<Page<ScannedStatusRow>> {
    const filter = odata`RowKey eq ${ROW_KEY} and CreatedAt lt ${cutoff}`;
    try {
      const page = await queryPage<StatusEntity>(this.#table, { filter }, limit, cursor, abortSignal);
      const items = page.items.filter((e) => isRequestId(e.partitionKey)).map((e) => ({ status: fromEntity(e), etag: e.etag, isIndexed: e.Indexed === true }));
      return { items, nextCursor: page.nextCursor };
    } catch (err) {
      throw translateStorageError(err, 'listing requests for the index');
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

/** A new row's entity: the fields that are set (a new row has nothing to clear). */
function toEntity(s: RequestStatus): StatusEntity {
  const set = Object.fromEntries(Object.entries(changeToProperties(s)).filter(([, value]) => value !== ''));
  return {
    partitionKey: s.id,
    rowKey: ROW_KEY,
    Flow: s.flow,
    ...(set as Omit<StatusEntity, 'partitionKey' | 'rowKey' | 'Flow'>),
    CreatedAt: s.createdAt,
    ...(s.submittedBy === null ? {} : { SubmittedBy: s.submittedBy }),
    Indexed: true,
  };
}

/**
 * Maps the set fields of a change to entity properties. A merge write ignores a null property, so
 * a field set to null is written as '' (read back as null): otherwise a replayed request would keep
 * the completedAt and error of its dead-lettering, and a step that succeeded after a retry the
 * error of its failed attempt.
 */
function changeToProperties(change: Partial<RequestStatus>): Partial<StatusEntity> {
  const p: Partial<StatusEntity> = {};
  const cleared = <T>(value: T | null): T | '' => value ?? '';
  if (change.status !== undefined) p.Status = change.status;
  if (change.step !== undefined) p.Step = change.step;
  if (change.stepQueue !== undefined) p.StepQueue = change.stepQueue;
  if (change.attempt !== undefined) p.Attempt = change.attempt;
  if (change.updatedAt !== undefined) p.UpdatedAt = change.updatedAt;
  if (change.completedAt !== undefined) p.CompletedAt = cleared(change.completedAt);
  if (change.lastHttpStatus !== undefined) p.LastHttpStatus = cleared(change.lastHttpStatus);
  if (change.lastError !== undefined) p.LastError = cleared(change.lastError);
  if (change.callbackUrl !== undefined) p.CallbackUrl = cleared(change.callbackUrl);
  if (change.callbackStatus !== undefined) p.CallbackStatus = cleared(change.callbackStatus);
  if (change.dlqId !== undefined) p.DlqId = cleared(change.dlqId);
  if (change.lastMessageId !== undefined) p.LastMessageId = cleared(change.lastMessageId);
  if (change.result !== undefined) {
    const r = change.result;
    p.ResultContentType = r?.contentType ?? '';
    p.Result = r && 'bytes' in r ? new Uint8Array(r.bytes) : '';
    p.ResultBlob = r && 'blobName' in r ? r.blobName : '';
  }
  return p;
}

const asDate = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));
/** A property never written, or cleared (''), is null. */
const orNull = <T>(value: T | '' | null | undefined): T | null => (value === undefined || value === '' ? null : value);

function fromEntity(e: TableEntityResult<StatusEntity>): RequestStatus {
  let result: StoredResult | null = null;
  const contentType = orNull(e.ResultContentType) ?? 'application/octet-stream';
  if (e.ResultBlob) result = { contentType, blobName: e.ResultBlob };
  else if (e.Result) result = { contentType, bytes: Buffer.from(e.Result) };
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
    lastMessageId: orNull(e.LastMessageId),
    submittedBy: orNull(e.SubmittedBy),
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
    ...(s.submittedBy !== null ? { submittedBy: s.submittedBy } : {}),
  };
}
