/**
 * Idempotency keys, remembered in the status table beside the requests: PartitionKey
 * `idem~{flow}~{sha256 of the key}` (keys may hold characters a key of the table may not; under
 * oidc the hash covers the submitting principal too, so one client's key never answers with
 * another client's request), RowKey
 * `idempotency`, with the request id and a hash of the body. Claiming a key is an insert, which
 * storage makes atomic: of two submissions with one key, one claims it and the other finds it.
 * A key older than the retention period (retention.config.idempotencyMs; null = for ever) counts as
 * unused, and the retention sweep deletes its record (engine/retention.ts), only while the record
 * still names the request that claimed it and If-Match the ETag it read: a key claimed again by a
 * newer request keeps its protection. Records this version writes have `Indexed: true` (the claiming
 * request's index row names them); the index pass indexes the others.
 */
import { createHash } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { isEngineError } from '../errors.js';
import { isIdempotencyPartitionKey } from './due-index.js';
import { queryPage, type Page } from './paging.js';
import { translateStorageError } from './storage-error.js';

const ROW_KEY = 'idempotency';

export type Claim = { kind: 'claimed' } | { kind: 'existing'; requestId: string; bodyHash: string };

interface KeyEntity {
  partitionKey: string;
  rowKey: string;
  RequestId: string;
  BodyHash: string;
  CreatedAt: Date;
  Indexed?: boolean;
}

/** An idempotency record as read: whose key it is (its PartitionKey), which request holds it, since when. */
export interface KeyRecord {
  partitionKey: string;
  requestId: string;
  createdAt: Date;
  etag: string;
  /** Written by this version, and so named by its request's index row. */
  isIndexed: boolean;
}

const asDate = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));

export function hashBody(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export class IdempotencyKeys {
  readonly #table: TableClient;
  readonly #retentionInMs: number | null;

  /** `retentionInMs`: how long a key is remembered; null = for ever. */
  constructor(table: TableClient, retentionInMs: number | null) {
    this.#table = table;
    this.#retentionInMs = retentionInMs;
  }

  /**
   * Claims `key` of `flow` and `principal` for `requestId`, created at `createdAt`, or returns the
   * request that holds it.
   */
  async claim(scope: KeyScope, key: string, requestId: string, bodyHash: string, createdAt: Date, abortSignal: AbortSignal, tries = 3): Promise<Claim> {
    const entity: KeyEntity = { partitionKey: partitionOf(scope, key), rowKey: ROW_KEY, RequestId: requestId, BodyHash: bodyHash, CreatedAt: createdAt, Indexed: true };
    try {
      await this.#table.createEntity(entity, { abortSignal });
      return { kind: 'claimed' };
    } catch (err) {
      const translated = translateStorageError(err, 'claiming an idempotency key');
      if (!isEngineError(translated, 'AE_STORAGE_CONFLICT')) throw translated;
    }
    try {
      const existing = await this.#table.getEntity<KeyEntity>(entity.partitionKey, ROW_KEY, { abortSignal });
      const claimedAt = asDate(existing.CreatedAt);
      if (this.#retentionInMs === null || Date.now() - claimedAt.getTime() <= this.#retentionInMs) {
        return { kind: 'existing', requestId: existing.RequestId, bodyHash: existing.BodyHash };
      }
      // Past its retention: the key starts over, If-Match so that only one submission takes it.
      await this.#table.updateEntity(entity, 'Replace', { etag: existing.etag, abortSignal });
      return { kind: 'claimed' };
    } catch (err) {
      const translated = translateStorageError(err, 'reading an idempotency key');
      // Deleted or retaken between our two calls: the other submission wins; ask again.
      const isRace = isEngineError(translated, 'AE_NOT_FOUND') || isEngineError(translated, 'AE_STORAGE_CONFLICT');
      if (isRace && tries > 1) return this.claim(scope, key, requestId, bodyHash, createdAt, abortSignal, tries - 1);
      throw translated;
    }
  }

  /**
   * The record under `partitionKey`, or null when there is none. A partition key that is not an
   * idempotency record's (an index row may be forged) is never looked up.
   */
  async get(partitionKey: string, abortSignal: AbortSignal): Promise<KeyRecord | null> {
    if (!isIdempotencyPartitionKey(partitionKey)) return null;
    try {
      return toRecord(await this.#table.getEntity<KeyEntity>(partitionKey, ROW_KEY, { abortSignal }));
    } catch (err) {
      const translated = translateStorageError(err, 'reading an idempotency key');
      if (isEngineError(translated, 'AE_NOT_FOUND')) return null;
      throw translated;
    }
  }

  /** Deletes the record if it still has `etag`; false when it changed or went away meanwhile. */
  async deleteIfUnchanged(record: KeyRecord, abortSignal: AbortSignal): Promise<boolean> {
    if (!isIdempotencyPartitionKey(record.partitionKey)) return false;
    try {
      await this.#table.deleteEntity(record.partitionKey, ROW_KEY, { etag: record.etag, abortSignal });
      return true;
    } catch (err) {
      const translated = translateStorageError(err, 'deleting an idempotency key');
      if (isEngineError(translated, 'AE_NOT_FOUND') || isEngineError(translated, 'AE_STORAGE_CONFLICT')) return false;
      throw translated;
    }
  }

  /** One page of records created before `cutoff`, from `cursor` on: the index pass's scan. */
  async listCreatedBefore(cutoff: Date, limit: number, cursor: string | null, abortSignal: AbortSignal): Promise<Page<KeyRecord>> {
    const filter = odata`RowKey eq ${ROW_KEY} and CreatedAt lt ${cutoff}`;
    try {
      const page = await queryPage<KeyEntity>(this.#table, { filter }, limit, cursor, abortSignal);
      return { items: page.items.flatMap((e) => (isIdempotencyPartitionKey(e.partitionKey) && typeof e.RequestId === 'string' ? [toRecord(e)] : [])), nextCursor: page.nextCursor };
    } catch (err) {
      throw translateStorageError(err, 'listing idempotency keys for the index');
    }
  }

  /** Gives a key up again, when its request could not be accepted after all. */
  async release(scope: KeyScope, key: string, abortSignal: AbortSignal): Promise<void> {
    try {
      await this.#table.deleteEntity(partitionOf(scope, key), ROW_KEY, { abortSignal });
    } catch (err) {
      const translated = translateStorageError(err, 'releasing an idempotency key');
      if (!isEngineError(translated, 'AE_NOT_FOUND')) throw translated;
    }
  }
}

function toRecord(e: KeyEntity & { etag: string }): KeyRecord {
  return { partitionKey: e.partitionKey, requestId: e.RequestId, createdAt: asDate(e.CreatedAt), etag: e.etag, isIndexed: e.Indexed === true };
}

/** Whose key it is: a flow's, and the submitting principal's under oidc (null under auth none). */
export interface KeyScope {
  flow: string;
  principal: string | null;
}

/** The PartitionKey of the record of `key` in `scope`: the request's index row names it. */
export function idempotencyPartitionOf(scope: KeyScope, key: string): string {
  return partitionOf(scope, key);
}

function partitionOf({ flow, principal }: KeyScope, key: string): string {
  const hash = createHash('sha256');
  // Length-prefixed, so that no principal and key can be split another way into the same text.
  if (principal !== null) hash.update(`${principal.length}:${principal}\0`, 'utf8');
  return `idem~${flow}~${hash.update(key, 'utf8').digest('hex')}`;
}
