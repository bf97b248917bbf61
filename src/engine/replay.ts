/**
 * Replaying a DLQ entry: the request is queued again at the step it failed, attempts reset. The
 * status row is reset first (If-Match its current ETag), then the message is sent carrying the new
 * ETag, and only then is the entry removed, so a crash leaves the entry to replay again rather than
 * losing the request. A poison message that could not be read is sent back as it was.
 */
import { EngineError } from '../errors.js';
import type { DlqEntry, DlqTable } from '../storage/dlq-table.js';
import { ENVELOPE_VERSION, encodeEnvelope } from '../storage/envelope.js';
import type { StatusChange, StatusTable } from '../storage/status-table.js';
import type { Flows } from './flows.js';

export interface ReplayDeps {
  flows: Flows;
  statusTable: StatusTable;
  dlqTable: DlqTable;
}

const STATUS_RESET_TRIES = 3;

/** Replays one entry; returns the request id (null for an unreadable poison message). */
export async function replayEntry(deps: ReplayDeps, entry: DlqEntry, abortSignal: AbortSignal): Promise<string | null> {
  const step = deps.flows.get(entry.flow)?.steps[entry.step];
  if (!step) throw new EngineError('AE_REPLAY_IMPOSSIBLE', `flow "${entry.flow}" has no step ${entry.step} any more`, { expose: true });
  const target = step.source;
  const { replay } = entry;
  let requestId: string | null = null;
  switch (replay.kind) {
    case 'none':
      throw new EngineError('AE_REPLAY_IMPOSSIBLE', 'the input of this request expired with its message; there is nothing to replay', { expose: true });
    case 'raw':
      await target.queue.send(replay.messageText, { timeToLiveInMs: target.options.timeToLiveInMs, abortSignal });
      break;
    case 'request': {
      if (entry.requestId === null) throw new EngineError('AE_REPLAY_IMPOSSIBLE', 'the entry names no request to replay', { expose: true });
      requestId = entry.requestId;
      const now = new Date();
      const change: StatusChange = {
        status: entry.step === 0 ? 'queued' : 'processing',
        step: entry.step,
        stepQueue: target.queue.name,
        attempt: 1,
        updatedAt: now,
        completedAt: null,
        lastHttpStatus: null,
        lastError: null,
        dlqId: null,
      };
      const { etag, createdAt } = await resetStatus(deps.statusTable, requestId, change, abortSignal);
      const text = encodeEnvelope({
        v: ENVELOPE_VERSION,
        requestId,
        flow: entry.flow,
        step: entry.step,
        attempt: 1,
        contentType: replay.contentType,
        statusEtag: etag,
        traceparent: replay.traceparent,
        callbackUrl: replay.callbackUrl,
        acceptedAt: createdAt.toISOString(),
        body: replay.body,
        blobs: replay.blobs,
      });
      await target.queue.send(text, { timeToLiveInMs: target.options.timeToLiveInMs, abortSignal });
      break;
    }
    default:
      throw new Error(`unhandled replay kind ${(replay satisfies never as { kind: string }).kind}`);
  }
  await deps.dlqTable.delete(entry.dlqId, abortSignal);
  return requestId;
}

async function resetStatus(statusTable: StatusTable, requestId: string, change: StatusChange, abortSignal: AbortSignal): Promise<{ etag: string; createdAt: Date }> {
  for (let tries = 0; tries < STATUS_RESET_TRIES; tries++) {
    const row = await statusTable.get(requestId, abortSignal);
    if (row === null) throw new EngineError('AE_REPLAY_IMPOSSIBLE', `request ${requestId} has no status row any more`, { expose: true });
    const etag = await statusTable.update(requestId, change, row.etag, abortSignal);
    if (etag !== null) return { etag, createdAt: row.status.createdAt };
  }
  throw new EngineError('AE_STORAGE_CONFLICT', `the status of request ${requestId} kept changing during its replay`);
}
