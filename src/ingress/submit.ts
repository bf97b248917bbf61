/**
 * Accepting a request: the status row is written first (queued), then the first step's message,
 * which carries the row's ETag. If the message cannot be sent, the row is removed again, so a
 * client that saw an error and retries leaves no orphan behind.
 */
import type { FlowDefinition, QueueOptions } from '../config/types.js';
import { ENVELOPE_VERSION } from '../storage/envelope.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { StepQueue } from '../storage/queues.js';
import type { RequestStatus, StatusTable } from '../storage/status-table.js';

export interface SubmitDeps {
  statusTable: StatusTable;
  payloads: PayloadStore;
  /** The first step's queue and its options, by flow name. */
  entryQueues: ReadonlyMap<string, { queue: StepQueue; options: QueueOptions }>;
}

export interface Submission {
  requestId: string;
  flow: FlowDefinition;
  body: Buffer;
  contentType: string;
  traceparent: string | null;
  callbackUrl: string | null;
}

export async function submitRequest(deps: SubmitDeps, submission: Submission, abortSignal: AbortSignal): Promise<RequestStatus> {
  const { flow } = submission;
  const entry = deps.entryQueues.get(flow.name)!;
  const now = new Date();
  const status: RequestStatus = {
    id: submission.requestId,
    flow: flow.name,
    status: 'queued',
    step: 0,
    stepQueue: entry.queue.name,
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
  };
  const etag = await deps.statusTable.create(status, abortSignal);
  try {
    const { text } = await deps.payloads.pack(
      {
        v: ENVELOPE_VERSION,
        requestId: status.id,
        flow: flow.name,
        step: 0,
        attempt: 1,
        contentType: submission.contentType,
        statusEtag: etag,
        traceparent: submission.traceparent,
        callbackUrl: submission.callbackUrl,
        acceptedAt: now.toISOString(),
        blobs: [],
      },
      submission.body,
      'step-0',
      abortSignal,
    );
    await entry.queue.send(text, { timeToLiveInSeconds: entry.options.timeToLiveInSeconds, abortSignal });
  } catch (err) {
    await deps.statusTable.delete(status.id, AbortSignal.timeout(10_000)).catch(() => undefined);
    throw err;
  }
  return status;
}
