/**
 * The queue message of one step: a versioned JSON envelope, base64-encoded as Azure Queues expect.
 * The body travels inline (UTF-8 text when it is valid UTF-8, else base64), or in a payload blob
 * that the envelope names (claim check) when it is larger than payload.config.inlineLimitBytes.
 */
import { isUtf8 } from 'node:buffer';
import { validTraceparent, validTracestate } from '../common/trace-context.js';

export const ENVELOPE_VERSION = 1;

export type InlineBody = { kind: 'inline'; encoding: 'utf8' | 'base64'; data: string };
export type BlobBody = { kind: 'blob'; blobName: string; byteLength: number };
export type EnvelopeBody = InlineBody | BlobBody;

export interface Envelope {
  v: typeof ENVELOPE_VERSION;
  requestId: string;
  flow: string;
  /** 0-based index of the step this message is the input of. */
  step: number;
  /** Counts from 1; reset by a DLQ replay. */
  attempt: number;
  contentType: string;
  /**
   * ETag of the status row as the previous writer left it: the step's status write is conditional on
   * it, so the normal path needs no read and a stale duplicate cannot rewind the row.
   */
  statusEtag: string;
  /**
   * The trace the request's steps continue (W3C traceparent): while tracing is on, the engine's own
   * span of the submission (or of the DLQ replay); while it is off, the client's traceparent as it
   * came, if any. Each step's endpoint call is made under it.
   */
  traceparent: string | null;
  /**
   * The tracestate that goes with `traceparent` (the client's, kept while tracing is on); absent
   * when there is none, and in envelopes written before it existed.
   */
  tracestate?: string;
  callbackUrl: string | null;
  /** When the ingress accepted the request (ISO 8601), for the end-to-end latency. */
  acceptedAt: string;
  body: EnvelopeBody;
  /** Payload blobs this request created so far, deleted once it completes. */
  blobs: string[];
}

const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Whether `value` is a request id as the ingress hands them out (crypto.randomUUID). The id keys
 * the status row (its PartitionKey) and goes out as X-Request-Id: an envelope naming anything
 * else, say a string with a `/` or a control character, would fail every status write,
 * dead-lettering included, and come back after each visibility timeout instead of reaching the DLQ.
 */
export function isRequestId(value: unknown): value is string {
  return typeof value === 'string' && REQUEST_ID.test(value);
}

/** `{requestId}/{step-N|result}-{uuid}`: the only payload blob names the engine writes (payloads.ts). */
const PAYLOAD_BLOB = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/(?:step-\d{1,6}|result)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The name of a new payload blob of `requestId`; `label` is `step-N` or `result`. */
export function payloadBlobName(requestId: string, label: string, uuid: string): string {
  return `${requestId}/${label}-${uuid}`;
}

/**
 * Whether `name` is a payload blob the engine could have written for `requestId` (any request when
 * null): in the payload container, under the request's own prefix, with no `..` or other path. A
 * queue message is not trusted to name any other: it could make the engine read, return or delete
 * another request's blobs.
 */
export function isPayloadBlobOf(requestId: string | null, name: string): boolean {
  const owner = PAYLOAD_BLOB.exec(name)?.[1];
  return owner !== undefined && (requestId === null || owner === requestId);
}

/** A flow name as configuration allows them (config/schema.ts): at most 100 characters. */
const FLOW_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
/**
 * The status row's ETag as a header value can carry it (If-Match): Table Storage's are about 40
 * visible ASCII characters. Anything else fails every status write, dead-lettering included.
 */
const STATUS_ETAG = /^[\x20-\x7e]{0,256}$/;

/** A value quoted in an error: short, since the error goes into a DLQ entry (64 KiB per property). */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Why a message could not be read as an envelope; it is poison. */
export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

export function encodeEnvelope(envelope: Envelope): string {
  return Buffer.from(JSON.stringify(envelope), 'utf8').toString('base64');
}

/** Builds the inline body of `bytes`, as text when they are valid UTF-8 (no base64 overhead). */
export function inlineBody(bytes: Buffer): InlineBody {
  return isUtf8(bytes) ? { kind: 'inline', encoding: 'utf8', data: bytes.toString('utf8') } : { kind: 'inline', encoding: 'base64', data: bytes.toString('base64') };
}

export function inlineBytes(body: InlineBody): Buffer {
  return Buffer.from(body.data, body.encoding);
}

/** Reads a queue message's text; throws {@link EnvelopeError} saying what is wrong. */
export function decodeEnvelope(messageText: string): Envelope {
  return readEnvelope(messageText).envelope;
}

/**
 * Reads a queue message's text, as {@link decodeEnvelope}; `ignored` says why the trace context was
 * dropped, if it was. A traceparent or tracestate that is a string but not valid W3C Trace Context
 * is dropped (the envelope reads as if it had none): it is advice to observers, so the request goes
 * on without it rather than being dead-lettered, and nothing malformed reaches an endpoint's headers
 * or a trace.
 */
export function readEnvelope(messageText: string): { envelope: Envelope; ignored: string | null } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(messageText, 'base64').toString('utf8'));
  } catch {
    throw new EnvelopeError('the message is not a base64-encoded JSON envelope');
  }
  if (typeof value !== 'object' || value === null) throw new EnvelopeError('the message is not a JSON object');
  const e = value as Record<string, unknown>;
  if (e['v'] !== ENVELOPE_VERSION) throw new EnvelopeError(`unsupported envelope version ${preview(e['v'])}`);
  const problems: string[] = [];
  const need = (key: string, ok: boolean): void => {
    if (!ok) problems.push(key);
  };
  need('requestId', isRequestId(e['requestId']));
  // A name no flow can have is not an envelope of another flow: the error quoting it would not fit the DLQ entry.
  need('flow', typeof e['flow'] === 'string' && FLOW_NAME.test(e['flow']));
  need('step', Number.isInteger(e['step']) && (e['step'] as number) >= 0);
  need('attempt', Number.isInteger(e['attempt']) && (e['attempt'] as number) >= 1);
  need('contentType', typeof e['contentType'] === 'string');
  need('statusEtag', typeof e['statusEtag'] === 'string' && STATUS_ETAG.test(e['statusEtag']));
  need('traceparent', e['traceparent'] === null || typeof e['traceparent'] === 'string');
  need('tracestate', e['tracestate'] === undefined || typeof e['tracestate'] === 'string');
  need('callbackUrl', e['callbackUrl'] === null || typeof e['callbackUrl'] === 'string');
  need('acceptedAt', typeof e['acceptedAt'] === 'string' && !Number.isNaN(Date.parse(e['acceptedAt'] as string)));
  const requestId = isRequestId(e['requestId']) ? e['requestId'] : null;
  // With a bad requestId (reported above) the names are checked for their form only.
  const isOwnBlob = (name: unknown): boolean => typeof name === 'string' && isPayloadBlobOf(requestId, name);
  need('body', isBody(e['body']) && (e['body'].kind === 'inline' || isOwnBlob(e['body'].blobName)));
  need('blobs', Array.isArray(e['blobs']) && (e['blobs'] as unknown[]).every(isOwnBlob));
  if (problems.length > 0) throw new EnvelopeError(`the envelope has invalid fields: ${problems.join(', ')}`);
  const envelope = value as Envelope;
  const ignored: string[] = [];
  if (envelope.traceparent !== null && validTraceparent(envelope.traceparent) === null) {
    ignored.push(`traceparent ${preview(envelope.traceparent)} is not W3C Trace Context`);
    envelope.traceparent = null;
  }
  if (envelope.tracestate !== undefined && (envelope.traceparent === null || validTracestate(envelope.tracestate) === null)) {
    if (envelope.traceparent !== null) ignored.push(`tracestate ${preview(envelope.tracestate)} is not W3C Trace Context`);
    delete envelope.tracestate;
  }
  return { envelope, ignored: ignored.length === 0 ? null : ignored.join('; ') };
}

function isBody(value: unknown): value is EnvelopeBody {
  if (typeof value !== 'object' || value === null) return false;
  const b = value as Record<string, unknown>;
  if (b['kind'] === 'inline') return (b['encoding'] === 'utf8' || b['encoding'] === 'base64') && typeof b['data'] === 'string';
  if (b['kind'] === 'blob') return typeof b['blobName'] === 'string' && Number.isInteger(b['byteLength']);
  return false;
}
