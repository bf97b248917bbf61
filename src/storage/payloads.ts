/**
 * Claim check: a body larger than payload.config.inlineLimitBytes, or one whose envelope would not
 * fit Azure's 64 KiB message limit, goes to a blob in the payload container and the envelope names
 * it. Endpoints never notice.
 *
 * Blob lifecycle. Each blob is written once, under a fresh name (`{requestId}/{label}-{uuid}`), before
 * the message or status row that names it, and never overwritten. Blobs are deleted only when
 * nothing can read them any more:
 * - the step inputs of a request are deleted after the request is completed; a message that still
 *   names one is then a stale duplicate, which the step runner recognises by the status row;
 * - the blobs of a dead-lettered request stay while its DLQ entry exists (a replay needs them);
 * - a result blob lives as long as the status row that names it: the retention sweep deletes every
 *   blob under a completed request's prefix (orphans of crashes included) just before its row.
 * A crash between a blob's upload and its use leaves an orphan blob, never a dangling reference.
 */
import { randomUUID } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { type Envelope, type EnvelopeBody, encodeEnvelope, inlineBody, inlineBytes, isPayloadBlobOf, isRequestId, payloadBlobName } from './envelope.js';
import { EngineError, isEngineError } from '../errors.js';
import { required } from '../common/required.js';
import { translateStorageError } from './storage-error.js';

/** Azure Queues' largest message: 64 KiB of (base64) text. */
export const MAX_MESSAGE_CHARS = 64 * 1024;
/** Azure's most sub-requests in one Blob Batch request. */
const MAX_BATCH_DELETES = 256;
/** Azure's longest page of a blob listing. */
const MAX_LIST_PAGE = 5000;
/** Room kept free in an inline message for what a retry rewrites in it (attempt, ETag). */
const RETRY_HEADROOM_CHARS = 1024;

export interface PayloadStoreOptions {
  container: ContainerClient;
  inlineLimitBytes: number;
}

export class PayloadStore {
  readonly #container: ContainerClient;
  readonly #inlineLimitBytes: number;

  constructor({ container, inlineLimitBytes }: PayloadStoreOptions) {
    this.#container = container;
    this.#inlineLimitBytes = inlineLimitBytes;
  }

  /**
   * Builds the queue message text of `envelope` carrying `bytes`: inline when they fit, else in a
   * new blob, which is then added to `envelope.blobs`.
   */
  async pack(envelope: Omit<Envelope, 'body'>, bytes: Buffer, label: string, abortSignal: AbortSignal): Promise<{ envelope: Envelope; text: string }> {
    if (bytes.length <= this.#inlineLimitBytes) {
      const inline: Envelope = { ...envelope, body: inlineBody(bytes) };
      const text = encodeEnvelope(inline);
      if (text.length <= MAX_MESSAGE_CHARS - RETRY_HEADROOM_CHARS) return { envelope: inline, text };
    }
    const body = await this.put(envelope.requestId, label, bytes, abortSignal);
    const stored: Envelope = { ...envelope, body, blobs: [...envelope.blobs, body.blobName] };
    return { envelope: stored, text: encodeEnvelope(stored) };
  }

  /** Writes `bytes` to a new blob of the request. */
  async put(requestId: string, label: string, bytes: Buffer, abortSignal: AbortSignal): Promise<Extract<EnvelopeBody, { kind: 'blob' }>> {
    const blobName = payloadBlobName(requestId, label, randomUUID());
    try {
      await this.#container.getBlockBlobClient(blobName).uploadData(bytes, { abortSignal });
    } catch (err) {
      throw translateStorageError(err, `writing payload blob ${blobName}`);
    }
    return { kind: 'blob', blobName, byteLength: bytes.length };
  }

  /** The body's bytes; AE_NOT_FOUND when its blob is gone. */
  async load(body: EnvelopeBody, abortSignal: AbortSignal): Promise<Buffer> {
    if (body.kind === 'inline') return inlineBytes(body);
    return this.get(body.blobName, abortSignal);
  }

  async get(blobName: string, abortSignal: AbortSignal): Promise<Buffer> {
    checkName(blobName);
    try {
      // One call: downloadToBuffer would first ask for the blob's properties.
      const response = await this.#container.getBlockBlobClient(blobName).download(0, undefined, { abortSignal });
      const chunks: Buffer[] = [];
      for await (const chunk of required(response.readableStreamBody, 'AE_STORAGE', `the body of blob ${blobName}`)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (err) {
      throw translateStorageError(err, `reading payload blob ${blobName}`);
    }
  }

  /**
   * A blob's body as a stream, to be passed on without holding it in memory, with its length when
   * storage said it; AE_NOT_FOUND when it is gone. Aborting `abortSignal` ends the stream.
   */
  async open(blobName: string, abortSignal: AbortSignal): Promise<{ stream: NodeJS.ReadableStream; byteLength: number | null }> {
    checkName(blobName);
    try {
      const response = await this.#container.getBlockBlobClient(blobName).download(0, undefined, { abortSignal });
      return { stream: required(response.readableStreamBody, 'AE_STORAGE', `the body of blob ${blobName}`), byteLength: response.contentLength ?? null };
    } catch (err) {
      throw translateStorageError(err, `reading payload blob ${blobName}`);
    }
  }

  /** Every payload blob of `requestId` (its prefix): one call per 5,000 blobs. */
  async listOfRequest(requestId: string, abortSignal: AbortSignal): Promise<string[]> {
    if (!isRequestId(requestId)) return [];
    const names: string[] = [];
    try {
      for await (const page of this.#container.listBlobsFlat({ prefix: `${requestId}/`, abortSignal }).byPage({ maxPageSize: MAX_LIST_PAGE })) {
        for (const item of page.segment.blobItems) if (isPayloadBlobOf(requestId, item.name)) names.push(item.name);
      }
      return names;
    } catch (err) {
      throw translateStorageError(err, `listing the payload blobs of request ${requestId}`);
    }
  }

  /**
   * Deletes many blobs with the Blob Batch API, up to 256 in one call; one already gone counts as
   * deleted. Throws when any other delete failed (the others may have been done).
   */
  async deleteMany(blobNames: readonly string[], abortSignal: AbortSignal): Promise<void> {
    for (const blobName of blobNames) checkName(blobName);
    const batches = this.#container.getBlobBatchClient();
    for (let i = 0; i < blobNames.length; i += MAX_BATCH_DELETES) {
      const chunk = blobNames.slice(i, i + MAX_BATCH_DELETES).map((name) => this.#container.getBlobClient(name));
      let failed: string[];
      try {
        const response = await batches.deleteBlobs(chunk, { abortSignal });
        failed = response.subResponses.filter((r) => r.status !== 404 && (r.status < 200 || r.status >= 300)).map((r) => `${r.status} ${r.errorCode ?? ''}`.trim());
      } catch (err) {
        throw translateStorageError(err, `deleting ${chunk.length} payload blobs`);
      }
      if (failed.length > 0) throw new EngineError('AE_STORAGE', `deleting ${chunk.length} payload blobs: ${failed.length} failed (${[...new Set(failed)].join(', ')})`);
    }
  }

  /** Deletes blobs; one already gone counts as deleted. */
  async delete(blobNames: readonly string[], abortSignal: AbortSignal): Promise<void> {
    for (const blobName of blobNames) checkName(blobName);
    await Promise.all(
      blobNames.map(async (blobName) => {
        try {
          await this.#container.getBlockBlobClient(blobName).delete({ abortSignal });
        } catch (err) {
          const translated = translateStorageError(err, `deleting payload blob ${blobName}`);
          if (!isEngineError(translated, 'AE_NOT_FOUND')) throw translated;
        }
      }),
    );
  }
}

/**
 * Refuses a name the engine never writes (another prefix, `..`): names come from queue messages and
 * table rows, which someone with write access to them could have made up.
 */
function checkName(blobName: string): void {
  if (!isPayloadBlobOf(null, blobName)) throw new EngineError('AE_STORAGE', `refusing payload blob name ${JSON.stringify(blobName.slice(0, 200))}: the engine writes no such name`);
}
