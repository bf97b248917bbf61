/**
 * Idempotency keys, remembered in the status table beside the requests: PartitionKey
 * `idem~{flow}~{sha256 of the key}` (keys may hold characters a key of the table may not; under
 * oidc the hash covers the submitting principal too, so one client's key never answers with
 * another client's request), RowKey
 * `idempotency`, with the request id and a hash of the body. Claiming a key is an insert, which
 * storage makes atomic: of two submissions with one key, one claims it and the other finds it.
 * A key older than the retention period counts as unused.
 */
import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { isEngineError } from '../errors.js';
import { translateStorageError } from './storage-error.js';

const ROW_KEY = 'idempotency';

export type Claim = { kind: 'claimed' } | { kind: 'existing'; requestId: string; bodyHash: string };

interface KeyEntity {
  partitionKey: string;
  rowKey: string;
  RequestId: string;
  BodyHash: string;
  CreatedAt: Date;
}

export function hashBody(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export class IdempotencyKeys {
  readonly #table: TableClient;
  readonly #retentionInMs: number;

  constructor(table: TableClient, retentionInMs: number) {
    this.#table = table;
    this.#retentionInMs = retentionInMs;
  }

  /** Claims `key` of `flow` and `principal` for `requestId`, or returns the request that holds it. */
  async claim(scope: KeyScope, key: string, requestId: string, bodyHash: string, abortSignal: AbortSignal, tries = 3): Promise<Claim> {
    const entity: KeyEntity = { partitionKey: partitionOf(scope, key), rowKey: ROW_KEY, RequestId: requestId, BodyHash: bodyHash, CreatedAt: new Date() };
    try {
      await this.#table.createEntity(entity, { abortSignal });
      return { kind: 'claimed' };
    } catch (err) {
      const translated = translateStorageError(err, 'claiming an idempotency key');
      if (!isEngineError(translated, 'AE_STORAGE_CONFLICT')) throw translated;
    }
    try {
      const existing = await this.#table.getEntity<KeyEntity>(entity.partitionKey, ROW_KEY, { abortSignal });
      const createdAt = existing.CreatedAt instanceof Date ? existing.CreatedAt : new Date(String(existing.CreatedAt));
      if (Date.now() - createdAt.getTime() <= this.#retentionInMs) return { kind: 'existing', requestId: existing.RequestId, bodyHash: existing.BodyHash };
      // Past its retention: the key starts over, If-Match so that only one submission takes it.
      await this.#table.updateEntity(entity, 'Replace', { etag: existing.etag, abortSignal });
      return { kind: 'claimed' };
    } catch (err) {
      const translated = translateStorageError(err, 'reading an idempotency key');
      // Deleted or retaken between our two calls: the other submission wins; ask again.
      const isRace = isEngineError(translated, 'AE_NOT_FOUND') || isEngineError(translated, 'AE_STORAGE_CONFLICT');
      if (isRace && tries > 1) return this.claim(scope, key, requestId, bodyHash, abortSignal, tries - 1);
      throw translated;
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

/** Whose key it is: a flow's, and the submitting principal's under oidc (null under auth none). */
export interface KeyScope {
  flow: string;
  principal: string | null;
}

function partitionOf({ flow, principal }: KeyScope, key: string): string {
  const hash = createHash('sha256');
  // Length-prefixed, so that no principal and key can be split another way into the same text.
  if (principal !== null) hash.update(`${principal.length}:${principal}\0`, 'utf8');
  return `idem~${flow}~${hash.update(key, 'utf8').digest('hex')}`;
}
