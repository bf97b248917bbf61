/**
 * The dead-letter table: one entity per dead-lettered message, PartitionKey = flow name, keeping
 * everything a replay needs (the step's input inline or the name of its blob, content type,
 * traceparent, callback, the request's blobs) or, for a poison message, its raw text.
 *
 * Ids. A dlqId is `{flow}~{rowKey}`; "~" cannot occur in a flow name, so a dlqId names its
 * partition and every lookup is a point read. The row key is the inverted dead-letter time in
 * milliseconds (so a partition lists newest first) and the dead-lettered message's id. The status
 * row records the dlqId before the entry is written, so a message dead-lettered again after a
 * crash finds its own id there (by the message id) and writes the same entity, never a second one.
 * A message that cannot be read has no status row: its entry takes the message's insertion time.
 *
 * Replay claims. A replay first writes `ReplayClaimedUntil` and `ReplayClaimedBy` onto the entry,
 * If-Match the ETag it read the entry with (see engine/replay.ts): of two replays racing for one
 * entry, storage lets one write and answers the other 412. A claim is live until
 * `ReplayClaimedUntil`; a past time means no claim (giving a claim up writes the current time).
 */
import { odata, type TableClient, type TableEntityResult } from '@azure/data-tables';
import { isEngineError } from '../errors.js';
import { required } from '../common/required.js';
import type { EnvelopeBody } from './envelope.js';
import { queryPage } from './paging.js';
import { translateStorageError } from './storage-error.js';

/** Why a request was dead-lettered: its redeliveries ran out, its message was poison, or it expired. */
export type DeadLetterReason = 'exhausted' | 'poison' | 'expired';

export interface DlqEntry {
  dlqId: string;
  /** null for a poison message that could not be read. */
  requestId: string | null;
  flow: string;
  step: number;
  sourceQueue: string;
  endpoint: string;
  attempts: number;
  lastHttpStatus: number | null;
  error: string;
  reason: DeadLetterReason;
  deadLetteredAt: Date;
  /** What a replay sends again: the step's input, or the raw message of a poison message. */
  replay: DlqReplay;
}

export type DlqReplay =
  | {
      kind: 'request';
      contentType: string;
      body: EnvelopeBody;
      traceparent: string | null;
      callbackUrl: string | null;
      blobs: string[];
    }
  | { kind: 'raw'; messageText: string }
  /** The input was lost with its expired message: nothing to replay. */
  | { kind: 'none' };

/** A replay under way: who claimed the entry, and until when the claim holds. */
export interface ReplayClaim {
  by: string;
  until: Date;
}

/** An entry as read from the table: with its ETag, and the claim of a replay if one was made. */
export interface StoredDlqEntry extends DlqEntry {
  etag: string;
  claim: ReplayClaim | null;
}

export interface DlqPage {
  items: StoredDlqEntry[];
  /** Opaque; null on the last page. */
  nextCursor: string | null;
}

const MAX_TIME = 9_999_999_999_999;

const safeSuffix = (messageId: string): string => messageId.replace(/[^A-Za-z0-9-]/g, '');

/** The dlqId of the message `messageId` of `flow`, dead-lettered at `at`. */
export function makeDlqId(flow: string, at: Date, messageId: string): string {
  const inverted = String(MAX_TIME - at.getTime()).padStart(13, '0');
  return `${flow}~${inverted}-${safeSuffix(messageId)}`;
}

/** Whether `dlqId` was made for the message `messageId`. */
export function isDlqIdOf(dlqId: string, messageId: string): boolean {
  return dlqId.endsWith(`-${safeSuffix(messageId)}`);
}

/** The partition and row key of a dlqId, or null when it is not one. */
export function parseDlqId(dlqId: string): { flow: string; rowKey: string } | null {
  const [, flow, rowKey] = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,99})~(\d{13}-[A-Za-z0-9-]{1,100})$/.exec(dlqId) ?? [];
  return flow !== undefined && rowKey !== undefined ? { flow, rowKey } : null;
}

interface DlqEntity {
  partitionKey: string;
  rowKey: string;
  RequestId: string | null;
  Step: number;
  SourceQueue: string;
  Endpoint: string;
  Attempts: number;
  LastHttpStatus: number | null;
  Error: string;
  Reason: string;
  DeadLetteredAt: Date;
  ReplayKind: string;
  ContentType?: string | null;
  Body?: Uint8Array | null;
  BodyEncoding?: string | null;
  BodyBlob?: string | null;
  BodyBytes?: number | null;
  Traceparent?: string | null;
  CallbackUrl?: string | null;
  Blobs?: string | null;
  RawMessage?: Uint8Array | null;
  ReplayClaimedBy?: string | null;
  ReplayClaimedUntil?: Date | null;
}

export class DlqTable {
  readonly #table: TableClient;

  constructor(table: TableClient) {
    this.#table = table;
  }

  /** Writes the entry; writing the same dlqId again replaces it (idempotent). */
  async upsert(entry: DlqEntry, abortSignal: AbortSignal): Promise<void> {
    try {
      await this.#table.upsertEntity(toEntity(entry), 'Replace', { abortSignal });
    } catch (err) {
      throw translateStorageError(err, `writing DLQ entry ${entry.dlqId}`);
    }
  }

  async get(dlqId: string, abortSignal: AbortSignal): Promise<StoredDlqEntry | null> {
    const key = parseDlqId(dlqId);
    if (!key) return null;
    try {
      return fromEntity(await this.#table.getEntity<DlqEntity>(key.flow, key.rowKey, { abortSignal }));
    } catch (err) {
      const translated = translateStorageError(err, `reading DLQ entry ${dlqId}`);
      if (isEngineError(translated, 'AE_NOT_FOUND')) return null;
      throw translated;
    }
  }

  /** Removes the entry; returns false when it did not exist. */
  async delete(dlqId: string, abortSignal: AbortSignal): Promise<boolean> {
    const key = parseDlqId(dlqId);
    if (!key) return false;
    try {
      await this.#table.deleteEntity(key.flow, key.rowKey, { abortSignal });
      return true;
    } catch (err) {
      const translated = translateStorageError(err, `deleting DLQ entry ${dlqId}`);
      if (isEngineError(translated, 'AE_NOT_FOUND')) return false;
      throw translated;
    }
  }

  /**
   * Claims the entry for a replay, If-Match the ETag it was read with. Returns the entry's new
   * ETag, or null when the entry changed or went away since it was read: another replay claimed
   * it, or finished it.
   */
  async claim(entry: StoredDlqEntry, claim: ReplayClaim, abortSignal: AbortSignal): Promise<string | null> {
    return this.#writeClaim(entry.dlqId, claim, entry.etag, abortSignal);
  }

  /**
   * Gives a claim up (its `until` becomes now), If-Match the ETag the claim left; a claim taken
   * over or an entry gone meanwhile is left as it is.
   */
  async releaseClaim(dlqId: string, by: string, etag: string, abortSignal: AbortSignal): Promise<void> {
    await this.#writeClaim(dlqId, { by, until: new Date() }, etag, abortSignal);
  }

  async #writeClaim(dlqId: string, claim: ReplayClaim, etag: string, abortSignal: AbortSignal): Promise<string | null> {
    const key = parseDlqId(dlqId);
    if (!key) return null;
    const properties = { partitionKey: key.flow, rowKey: key.rowKey, ReplayClaimedBy: claim.by, ReplayClaimedUntil: claim.until };
    try {
      const response = await this.#table.updateEntity(properties, 'Merge', { etag, abortSignal });
      return required(response.etag, 'AE_STORAGE', 'the ETag of a claimed DLQ entry');
    } catch (err) {
      const translated = translateStorageError(err, `claiming DLQ entry ${dlqId} for a replay`);
      if (isEngineError(translated, 'AE_STORAGE_CONFLICT') || isEngineError(translated, 'AE_NOT_FOUND')) return null;
      throw translated;
    }
  }

  /** One page of entries, newest first within a flow; all flows when `flow` is null. */
  async list(flow: string | null, limit: number, cursor: string | null, abortSignal: AbortSignal): Promise<DlqPage> {
    try {
      const page = await queryPage<DlqEntity>(this.#table, flow === null ? {} : { filter: odata`PartitionKey eq ${flow}` }, limit, cursor, abortSignal);
      return { items: page.items.map(fromEntity), nextCursor: page.nextCursor };
    } catch (err) {
      throw translateStorageError(err, 'listing DLQ entries');
    }
  }
}

function toEntity(e: DlqEntry): DlqEntity {
  const key = required(parseDlqId(e.dlqId), 'AE_INVALID_OPTION', `the partition and row key of DLQ id ${e.dlqId}`);
  const entity: DlqEntity = {
    partitionKey: key.flow,
    rowKey: key.rowKey,
    RequestId: e.requestId,
    Step: e.step,
    SourceQueue: e.sourceQueue,
    Endpoint: e.endpoint,
    Attempts: e.attempts,
    LastHttpStatus: e.lastHttpStatus,
    Error: e.error,
    Reason: e.reason,
    DeadLetteredAt: e.deadLetteredAt,
    ReplayKind: e.replay.kind,
  };
  if (e.replay.kind === 'request') {
    const { body } = e.replay;
    entity.ContentType = e.replay.contentType;
    entity.Traceparent = e.replay.traceparent;
    entity.CallbackUrl = e.replay.callbackUrl;
    entity.Blobs = JSON.stringify(e.replay.blobs);
    if (body.kind === 'inline') {
      entity.Body = new Uint8Array(Buffer.from(body.data, body.encoding));
      entity.BodyEncoding = body.encoding;
    } else {
      entity.BodyBlob = body.blobName;
      entity.BodyBytes = body.byteLength;
    }
  } else if (e.replay.kind === 'raw') {
    entity.RawMessage = new Uint8Array(Buffer.from(e.replay.messageText, 'utf8'));
  }
  return entity;
}

function fromEntity(e: TableEntityResult<DlqEntity>): StoredDlqEntry {
  let replay: DlqReplay = { kind: 'none' };
  if (e.ReplayKind === 'request') {
    const body: EnvelopeBody = e.BodyBlob
      ? { kind: 'blob', blobName: e.BodyBlob, byteLength: e.BodyBytes ?? 0 }
      : { kind: 'inline', encoding: e.BodyEncoding === 'base64' ? 'base64' : 'utf8', data: Buffer.from(e.Body ?? new Uint8Array()).toString(e.BodyEncoding === 'base64' ? 'base64' : 'utf8') };
    replay = {
      kind: 'request',
      contentType: e.ContentType ?? 'application/octet-stream',
      body,
      traceparent: e.Traceparent ?? null,
      callbackUrl: e.CallbackUrl ?? null,
      blobs: e.Blobs ? (JSON.parse(e.Blobs) as string[]) : [],
    };
  } else if (e.ReplayKind === 'raw') {
    replay = { kind: 'raw', messageText: Buffer.from(e.RawMessage ?? new Uint8Array()).toString('utf8') };
  }
  return {
    dlqId: `${e.partitionKey}~${e.rowKey}`,
    requestId: e.RequestId ?? null,
    flow: required(e.partitionKey, 'AE_STORAGE', 'the PartitionKey of a DLQ entity'),
    step: e.Step,
    sourceQueue: e.SourceQueue,
    endpoint: e.Endpoint,
    attempts: e.Attempts,
    lastHttpStatus: e.LastHttpStatus ?? null,
    error: e.Error,
    reason: e.Reason as DeadLetterReason,
    deadLetteredAt: asDate(e.DeadLetteredAt),
    replay,
    etag: e.etag,
    claim: e.ReplayClaimedBy && e.ReplayClaimedUntil ? { by: e.ReplayClaimedBy, until: asDate(e.ReplayClaimedUntil) } : null,
  };
}

const asDate = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));

/** The DLQ JSON of the API (contract section 3). */
export function toDlqJson(e: DlqEntry): Record<string, unknown> {
  return {
    dlqId: e.dlqId,
    requestId: e.requestId,
    flow: e.flow,
    step: e.step,
    sourceQueue: e.sourceQueue,
    endpoint: e.endpoint,
    attempts: e.attempts,
    ...(e.lastHttpStatus !== null ? { lastHttpStatus: e.lastHttpStatus } : {}),
    error: e.error,
    reason: e.reason,
    deadLetteredAt: e.deadLetteredAt.toISOString(),
  };
}
