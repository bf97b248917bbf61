/**
 * Accepting a request. A submission takes a place in admission control before its body is read
 * (waiting clients cost no memory), stores the request's index row (engine/request-index.ts: group
 * committed with the submissions alongside, so it adds a share of one call), claims its
 * Idempotency-Key if it has one, then writes the status row first (queued) and the first step's
 * message, which carries the row's ETag. If the message cannot be sent, the row and the key are
 * removed again, so a client that saw an error and retries leaves no orphan behind; the index row
 * stays, and the sweep removes it when it finds nothing there. A crash between any two writes
 * leaves the same: the index row is first, so nothing the request wrote is ever unindexed.
 *
 * A submission may then wait for its request's final state (Prefer: wait) still holding its place:
 * waiting clients count against admission control, so their number is bounded like any other.
 *
 * The outcome is a value the route maps to an answer; only faults (storage unreachable) throw.
 */
import type { Flow, Step } from '../engine/flows.js';
import type { RequestIndex } from '../engine/request-index.js';
import { EngineError } from '../errors.js';
import { ENVELOPE_VERSION } from '../storage/envelope.js';
import { hashBody, idempotencyPartitionOf, type IdempotencyKeys } from '../storage/idempotency-keys.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { RequestState, RequestStatus, StatusRow, StatusTable } from '../storage/status-table.js';
import type { Admission } from './admission.js';

export interface SubmitDeps {
  statusTable: StatusTable;
  payloads: PayloadStore;
  admission: Admission;
  idempotency: IdempotencyKeys;
  index: RequestIndex;
}

export interface Submission {
  flow: Flow;
  /** Reads the body; called once a place in admission control is held. */
  readBody: () => Promise<Buffer>;
  idempotencyKey: string | null;
  contentType: string;
  /** The trace the request's steps continue (submit-trace.ts), and its tracestate. */
  traceparent: string | null;
  tracestate: string | null;
  callbackUrl: string | null;
  /** The submitting principal under oidc, else null: recorded on the row, and scopes the Idempotency-Key. */
  principal: string | null;
  /**
   * Once stored (or found by its Idempotency-Key), waits with the admission place held for the
   * request's final row; null: the submission does not wait.
   */
  waitForFinal: ((requestId: string) => Promise<StatusRow | null>) | null;
}

export type SubmissionResult =
  /** `final`: the request's row once completed or dead-lettered, when the submission waited for it in time. */
  | { kind: 'accepted'; requestId: string; final: StatusRow | null }
  /** The Idempotency-Key was used before with the same body: that request, as it stands. */
  | { kind: 'idempotent-replay'; requestId: string; status: RequestState; final: StatusRow | null }
  /** The Idempotency-Key was used before with a different body. */
  | { kind: 'key-reused' }
  /** No place in admission control within the deadline. */
  | { kind: 'overloaded' };

/**
 * Runs a submission: waits at most `timeoutInMs` for a place in admission control ('overloaded'
 * beyond), reads the body within its own limits (body.ts), then gives storage `timeoutInMs` for
 * its writes (AE_STORAGE_UNAVAILABLE beyond): a slow upload does not eat into storage's time.
 */
export async function acceptSubmission(deps: SubmitDeps, submission: Submission, timeoutInMs: number): Promise<SubmissionResult> {
  const waiting = AbortSignal.timeout(timeoutInMs);
  let isAdmitted = false;
  try {
    const admitted = await deps.admission.run(async () => {
      isAdmitted = true;
      // The body is out of scope by the time the wait begins: a waiting client holds no payload.
      const result = await submit(deps, submission, timeoutInMs);
      if (submission.waitForFinal === null || (result.kind !== 'accepted' && result.kind !== 'idempotent-replay')) return result;
      return { ...result, final: await submission.waitForFinal(result.requestId) };
    }, waiting);
    return admitted === null ? { kind: 'overloaded' } : admitted.value;
  } catch (err) {
    // Waited its whole time for a place: the engine is overloaded.
    if (!isAdmitted && waiting.aborted) return { kind: 'overloaded' };
    throw err;
  }
}

async function submit(deps: SubmitDeps, submission: Submission, timeoutInMs: number): Promise<SubmissionResult> {
  const body = await submission.readBody();
  const signal = AbortSignal.timeout(timeoutInMs);
  try {
    return await store(deps, submission, body, signal);
  } catch (err) {
    if (!signal.aborted) throw err;
    throw new EngineError('AE_STORAGE_UNAVAILABLE', `storage did not answer within ${timeoutInMs} ms`, { cause: err });
  }
}

async function store(deps: SubmitDeps, submission: Submission, body: Buffer, signal: AbortSignal): Promise<SubmissionResult> {
  const { flow, idempotencyKey: key } = submission;
  const first = flow.steps[0];
  if (!first) throw new EngineError('AE_INVALID_OPTION', `flow "${flow.name}" has no steps`);
  const scope = { flow: flow.name, principal: submission.principal };
  const requestId = deps.index.createRequestId();
  const createdAt = new Date();
  const idempotencyPartitionKey = key === null ? null : idempotencyPartitionOf(scope, key);
  await deps.index.addRequest({ requestId, queue: first.source.queue.name, createdAt, idempotencyPartitionKey }, signal);
  if (key !== null) {
    const bodyHash = hashBody(body);
    const claim = await deps.idempotency.claim(scope, key, requestId, bodyHash, createdAt, signal);
    if (claim.kind === 'existing') {
      if (claim.bodyHash !== bodyHash) return { kind: 'key-reused' };
      const row = await deps.statusTable.get(claim.requestId, signal);
      return { kind: 'idempotent-replay', requestId: claim.requestId, status: row?.status.status ?? 'queued', final: null };
    }
  }
  try {
    await enqueue(deps, { requestId, first, createdAt }, submission, body, signal);
  } catch (err) {
    if (key !== null) await deps.idempotency.release(scope, key, AbortSignal.timeout(5000)).catch(() => undefined);
    throw err;
  }
  return { kind: 'accepted', requestId, final: null };
}

/** Status row first, then the first step's message carrying the row's ETag. */
async function enqueue(deps: SubmitDeps, { requestId, first, createdAt: now }: { requestId: string; first: Step; createdAt: Date }, submission: Submission, body: Buffer, abortSignal: AbortSignal): Promise<void> {
  const { flow } = submission;
  const status: RequestStatus = {
    id: requestId,
    flow: flow.name,
    status: 'queued',
    step: 0,
    stepQueue: first.source.queue.name,
    attempt: 1,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
    lastHttpStatus: null,
    lastError: null,
    callbackUrl: submission.callbackUrl,
    callbackStatus: submission.callbackUrl === null ? null : 'pending',
    result: null,
    dlqId: null,
    lastMessageId: null,
    submittedBy: submission.principal,
  };
  const etag = await deps.statusTable.create(status, abortSignal);
  try {
    const { text } = await deps.payloads.pack(
      {
        v: ENVELOPE_VERSION,
        requestId,
        flow: flow.name,
        step: 0,
        attempt: 1,
        contentType: submission.contentType,
        statusEtag: etag,
        traceparent: submission.traceparent,
        ...(submission.tracestate === null ? {} : { tracestate: submission.tracestate }),
        callbackUrl: submission.callbackUrl,
        acceptedAt: now.toISOString(),
        blobs: [],
      },
      body,
      'step-0',
      abortSignal,
    );
    await first.source.queue.send(text, { timeToLiveInMs: first.source.options.timeToLiveInMs, abortSignal });
    // This process's poller of the step may be backing off: the request need not wait for it.
    first.polling.wake();
  } catch (err) {
    await deps.statusTable.delete(requestId, AbortSignal.timeout(10_000)).catch(() => undefined);
    throw err;
  }
}
