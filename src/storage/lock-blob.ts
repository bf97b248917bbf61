/**
 * A lock on a blob lease, the Azure-native lock (Event Hubs processors and the WebJobs singleton
 * lock use the same): whoever holds the blob's lease holds the lock, for a fixed duration that
 * storage counts, not the holder. Each LockBlob proposes its own lease id, so asking again while
 * it holds the lease (or after its lease lapsed unclaimed) is granted, and a lease taken by anyone
 * else is refused.
 *
 * The sweepers' lock blob lives in the payload container under a name that can never be a payload
 * blob's (payload names start with a request id, envelope.ts), so no queue message can name it.
 */
import { randomUUID } from 'node:crypto';
import { isRestError } from '@azure/core-rest-pipeline';
import type { BlobLeaseClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { EngineError, isEngineError } from '../errors.js';
import { translateStorageError } from './storage-error.js';

/** The blob whose lease elects the replica that runs the sweeps, in the payload container. */
export const SWEEPER_LOCK_BLOB = 'locks/sweeper';

/** Azure's bounds for a fixed lease: 15 to 60 whole seconds. */
export const MIN_LEASE_DURATION_IN_MS = 15_000;
export const MAX_LEASE_DURATION_IN_MS = 60_000;

/** Storage's answer to a lease request: granted, or refused with the reason's error code. */
export type LockAnswer = { kind: 'held' } | { kind: 'refused'; code: string };

export interface LockBlobOptions {
  container: ContainerClient;
  blobName: string;
  /** Whole seconds from 15 to 60. */
  leaseDurationInMs: number;
}

export class LockBlob {
  readonly blobName: string;
  readonly leaseDurationInMs: number;
  readonly #blob: BlockBlobClient;
  readonly #lease: BlobLeaseClient;

  constructor({ container, blobName, leaseDurationInMs }: LockBlobOptions) {
    if (!Number.isInteger(leaseDurationInMs / 1000) || leaseDurationInMs < MIN_LEASE_DURATION_IN_MS || leaseDurationInMs > MAX_LEASE_DURATION_IN_MS) {
      throw new EngineError('AE_INVALID_OPTION', `a blob lease lasts 15 to 60 whole seconds, not ${leaseDurationInMs} ms`);
    }
    this.blobName = blobName;
    this.leaseDurationInMs = leaseDurationInMs;
    this.#blob = container.getBlockBlobClient(blobName);
    this.#lease = this.#blob.getBlobLeaseClient(randomUUID());
  }

  /** Takes the lease, or extends it if this lock holds it; refused while anyone else holds it. Creates the blob if it is gone. */
  async acquire(abortSignal: AbortSignal): Promise<LockAnswer> {
    try {
      return await this.#acquire(abortSignal);
    } catch (err) {
      if (!(isRestError(err) && err.statusCode === 404)) throw this.#translate(err, 'acquiring');
    }
    // Deleted by someone since provisioning: made again, like a missing container would be.
    await createLockBlob(this.#blob, abortSignal);
    try {
      return await this.#acquire(abortSignal);
    } catch (err) {
      throw this.#translate(err, 'acquiring');
    }
  }

  /**
   * Extends the lease this lock holds. Refused when it is no longer this lock's: broken, taken by
   * another after it lapsed, or gone with its blob.
   */
  async renew(abortSignal: AbortSignal): Promise<LockAnswer> {
    try {
      await this.#lease.renewLease({ abortSignal });
      return { kind: 'held' };
    } catch (err) {
      if (isRestError(err) && (err.statusCode === 409 || err.statusCode === 412 || err.statusCode === 404)) return { kind: 'refused', code: err.code ?? `HTTP ${err.statusCode}` };
      throw this.#translate(err, 'renewing');
    }
  }

  /** Gives the lease up so another can take it at once; a lease no longer this lock's counts as released. */
  async release(abortSignal: AbortSignal): Promise<void> {
    try {
      await this.#lease.releaseLease({ abortSignal });
    } catch (err) {
      if (isRestError(err) && (err.statusCode === 409 || err.statusCode === 412 || err.statusCode === 404)) return;
      throw this.#translate(err, 'releasing');
    }
  }

  async #acquire(abortSignal: AbortSignal): Promise<LockAnswer> {
    try {
      await this.#lease.acquireLease(this.leaseDurationInMs / 1000, { abortSignal });
      return { kind: 'held' };
    } catch (err) {
      // LeaseAlreadyPresent: another holds it.
      if (isRestError(err) && err.statusCode === 409) return { kind: 'refused', code: err.code ?? 'HTTP 409' };
      throw err;
    }
  }

  #translate(err: unknown, action: string): EngineError {
    return translateStorageError(err, `${action} the lease of blob ${this.blobName}`);
  }
}

/**
 * Creates the empty lock blob unless it exists; true when this call created it. Never overwrites:
 * the blob may be leased, and a write would need its lease.
 */
export async function createLockBlob(blob: BlockBlobClient, abortSignal: AbortSignal): Promise<boolean> {
  try {
    await blob.upload('', 0, { conditions: { ifNoneMatch: '*' }, abortSignal });
    return true;
  } catch (err) {
    // BlobAlreadyExists (409), or a condition storage checks first on a leased blob (412).
    const translated = translateStorageError(err, `creating blob ${blob.name}`);
    if (isEngineError(translated, 'AE_STORAGE_CONFLICT')) return false;
    throw translated;
  }
}
