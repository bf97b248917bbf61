/**
 * Replaying a DLQ entry: the request is queued again at the step it failed, attempts reset. A poison
 * message that could not be read is sent back as it was. Four storage writes, in this order:
 *
 * 1. claim: `ReplayClaimedUntil` (now + REPLAY_CLAIM_IN_MS) and `ReplayClaimedBy` onto the entry,
 *    If-Match the ETag it was read with. Of two replays of one entry (two clicks, two jobs, two
 *    replicas) storage lets one write; the other gets 412, or 404 once the winner removed the entry,
 *    or reads a live claim, and leaves the entry alone (`claimed-elsewhere`). So the entry's message
 *    is sent once. A replay is cut off after REPLAY_DEADLINE_IN_MS, far less than a claim lasts, so
 *    a live claim is a replay under way or one that crashed; a claim past its time is taken over by
 *    the same conditional write, and a crash strands no entry for longer than REPLAY_CLAIM_IN_MS.
 * 2. status reset: the request's row back to queued/processing at the entry's step, attempt 1,
 *    If-Match the ETag read just before. A row that retention deleted (a dead-lettered request past
 *    retention.config.deadLetteredMs) is made again as the reset would leave it, after its index row
 *    (request-index.ts); what the entry does not keep starts afresh: createdAt is the replay's time,
 *    and submittedBy is unset. A crash between the index row and the row leaves an index row the
 *    sweep removes; two replays making it at once: one insert wins, the other reads the row;
 * 3. send the message, carrying the row's new ETag;
 * 4. delete the entry.
 *
 * A crash (or a failure, or an abort at shutdown) between two of them:
 * - after 1: the entry is claimed and nothing else changed. A failure gives the claim up at once
 *   (best effort), so the entry can be replayed again right away; after a crash, replays report
 *   `claimed-elsewhere` until the claim runs out, then one takes it over.
 * - after 2: the row says queued/processing but no message carries it; the entry keeps its claim
 *   and its input. The replay that takes the claim over resets the row again (If-Match its current
 *   ETag) and sends. If nobody does, the expiry sweep records the request as expired after its
 *   queue's timeToLive: a second, input-less entry beside this one, which still holds the input.
 * - after 3 (or a send whose answer was lost): the message may be queued, and the entry stays
 *   claimed, as it does for any failure from the send on. The replay that takes the claim over reads
 *   the status row. Only a replay moves a dead-lettered row (a late duplicate's write fails its
 *   If-Match, the expiry sweep takes unfinished rows only), so a row that is no longer
 *   dead-lettered and has moved past what step 2 leaves (another step or attempt, completed,
 *   retrying) shows that the message was sent and processed: the entry is only removed. Otherwise
 *   it resets the row and sends again; an earlier message then carries a stale ETag and the step
 *   runner drops it, so the step is settled once (an endpoint call already under way may be made
 *   again: at least once, with the same Idempotency-Key). A row dead-lettered again counts as not
 *   moved on: its newer entry may be the expiry sweep's, without input, and replaying a dead
 *   request only runs it again.
 * - after 4: done.
 */
import { EngineError, isEngineError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { ATTR, activeSpan, isTracingOn, linkTo, runInSpan, SpanKind, startSpan, traceHeadersOf } from '../observability/spans.js';
import type { DlqEntry, DlqReplay, DlqTable, StoredDlqEntry } from '../storage/dlq-table.js';
import { ENVELOPE_VERSION, encodeEnvelope } from '../storage/envelope.js';
import type { RequestStatus, StatusChange, StatusTable } from '../storage/status-table.js';
import type { Flows, Step } from './flows.js';
import type { RequestIndex } from './request-index.js';

export interface ReplayDeps {
  flows: Flows;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  /** Indexes a status row made again (and a replay job). */
  index: RequestIndex;
  log: Logger;
}

/** What became of a replay that did not throw: done, or left to another replay of the entry. */
export type ReplayOutcome = { kind: 'replayed'; requestId: string | null } | { kind: 'claimed-elsewhere'; until: Date | null };

/** How long a claim keeps other replays off an entry; also how long a crash can strand it. */
export const REPLAY_CLAIM_IN_MS = 5 * 60_000;
/** The longest one replay may take (its four writes and the reads between). */
const REPLAY_DEADLINE_IN_MS = 60_000;
/** Giving a claim up is best effort, also at shutdown: it must not hold the shutdown up. */
const RELEASE_TIMEOUT_IN_MS = 250;
const STATUS_RESET_TRIES = 3;

type RequestReplay = Extract<DlqReplay, { kind: 'request' }>;

/** What a replay sends, decided before anything is written. */
type Plan = { kind: 'raw'; messageText: string } | { kind: 'request'; requestId: string; replay: RequestReplay };

/**
 * Replays one entry as read (with its ETag). Throws AE_REPLAY_IMPOSSIBLE, before any write, when
 * there is nothing to replay or nowhere to send it; storage errors as they come.
 */
export async function replayEntry(deps: ReplayDeps, entry: StoredDlqEntry, claimant: string, abortSignal: AbortSignal): Promise<ReplayOutcome> {
  if (!isTracingOn()) return replayInTrace(deps, entry, claimant, abortSignal);
  // A new trace, linked to the one the request ran in: the replayed steps are its children.
  const original = entry.replay.kind === 'request' ? linkTo(entry.replay.traceparent) : null;
  const span = startSpan(`${entry.flow} replay`, {
    kind: SpanKind.PRODUCER,
    attributes: { [ATTR.flow]: entry.flow, [ATTR.step]: entry.step, [ATTR.dlqId]: entry.dlqId, ...(entry.requestId === null ? {} : { [ATTR.requestId]: entry.requestId }) },
    links: original === null ? [] : [original],
    isRoot: true,
  });
  return runInSpan(span, async () => {
    const outcome = await replayInTrace(deps, entry, claimant, abortSignal);
    span.setAttribute(ATTR.outcome, outcome.kind);
    return outcome;
  });
}

async function replayInTrace(deps: ReplayDeps, entry: StoredDlqEntry, claimant: string, abortSignal: AbortSignal): Promise<ReplayOutcome> {
  const step = deps.flows.get(entry.flow)?.steps[entry.step];
  if (!step) throw new EngineError('AE_REPLAY_IMPOSSIBLE', `flow "${entry.flow}" has no step ${entry.step} any more`, { expose: true });
  const plan = planOf(entry);
  const now = new Date();
  if (entry.claim && entry.claim.until > now) return { kind: 'claimed-elsewhere', until: entry.claim.until };

  const signal = AbortSignal.any([abortSignal, AbortSignal.timeout(REPLAY_DEADLINE_IN_MS)]);
  const claimEtag = await deps.dlqTable.claim(entry, { by: claimant, until: new Date(now.getTime() + REPLAY_CLAIM_IN_MS) }, signal);
  if (claimEtag === null) return { kind: 'claimed-elsewhere', until: null };
  let isSending = false;
  try {
    const target = step.source;
    const send = async (text: string): Promise<void> => {
      isSending = true;
      await target.queue.send(text, { timeToLiveInMs: target.options.timeToLiveInMs, abortSignal: signal });
      step.polling.wake();
    };
    if (plan.kind === 'raw') {
      await send(plan.messageText);
    } else {
      const reset = await resetStatus(deps, plan, entry, step, signal);
      if (reset === null) {
        deps.log.info({ dlqId: entry.dlqId, requestId: plan.requestId }, 'dlq.replay_found_done');
      } else {
        await send(envelopeText(entry, plan, reset));
      }
    }
    await deps.dlqTable.delete(entry.dlqId, signal);
    return { kind: 'replayed', requestId: plan.kind === 'request' ? plan.requestId : null };
  } catch (err) {
    // Before the send nothing was queued: another replay may go ahead at once. From the send on,
    // the message may be queued; the claim stays and a takeover sorts it out (see above).
    if (!isSending) {
      await deps.dlqTable.releaseClaim(entry.dlqId, claimant, claimEtag, AbortSignal.timeout(RELEASE_TIMEOUT_IN_MS)).catch((releaseErr: unknown) => {
        deps.log.warn({ err: releaseErr, dlqId: entry.dlqId }, 'dlq.replay_claim_release_failed');
      });
    }
    throw err;
  }
}

function planOf(entry: DlqEntry): Plan {
  const { replay } = entry;
  switch (replay.kind) {
    case 'none':
      throw new EngineError('AE_REPLAY_IMPOSSIBLE', 'the input of this request expired with its message; there is nothing to replay', { expose: true });
    case 'raw':
      return { kind: 'raw', messageText: replay.messageText };
    case 'request':
      if (entry.requestId === null) throw new EngineError('AE_REPLAY_IMPOSSIBLE', 'the entry names no request to replay', { expose: true });
      return { kind: 'request', requestId: entry.requestId, replay };
    default:
      throw new Error(`unhandled replay kind ${(replay satisfies never as { kind: string }).kind}`);
  }
}

/** The traceparent of the replay's span, made by replayEntry (the active span here). */
function replayTraceparent(): string | null {
  const span = activeSpan();
  return span === undefined ? null : traceHeadersOf(span).traceparent;
}

function envelopeText(entry: DlqEntry, { requestId, replay }: Extract<Plan, { kind: 'request' }>, reset: { etag: string; createdAt: Date }): string {
  return encodeEnvelope({
    v: ENVELOPE_VERSION,
    requestId,
    flow: entry.flow,
    step: entry.step,
    attempt: 1,
    contentType: replay.contentType,
    statusEtag: reset.etag,
    // The replay's span while tracing is on (a new trace); else the client's, as it came.
    traceparent: isTracingOn() ? replayTraceparent() : replay.traceparent,
    callbackUrl: replay.callbackUrl,
    acceptedAt: reset.createdAt.toISOString(),
    body: replay.body,
    blobs: replay.blobs,
  });
}

/**
 * Resets the request's row for the replay, If-Match its current ETag, or makes it again when it is
 * gone; returns the new ETag, or null when an earlier replay of this entry was sent and processed
 * (the row moved on).
 */
async function resetStatus(
  { statusTable, index }: ReplayDeps,
  { requestId, replay }: Extract<Plan, { kind: 'request' }>,
  entry: DlqEntry,
  step: Step,
  abortSignal: AbortSignal,
): Promise<{ etag: string; createdAt: Date } | null> {
  const change = {
    status: entry.step === 0 ? 'queued' : 'processing',
    step: entry.step,
    stepQueue: step.source.queue.name,
    attempt: 1,
    updatedAt: new Date(),
    completedAt: null,
    lastHttpStatus: null,
    lastError: null,
    dlqId: null,
    // The replayed message is new: no earlier message may build on this row.
    lastMessageId: null,
  } satisfies StatusChange;
  for (let tries = 0; tries < STATUS_RESET_TRIES; tries++) {
    const row = await statusTable.get(requestId, abortSignal);
    if (row === null) {
      const createdAt = change.updatedAt;
      await index.addRequest({ requestId, queue: change.stepQueue, createdAt, idempotencyPartitionKey: null }, abortSignal);
      const status: RequestStatus = {
        ...change,
        id: requestId,
        flow: entry.flow,
        createdAt,
        callbackUrl: replay.callbackUrl,
        callbackStatus: replay.callbackUrl === null ? null : 'pending',
        result: null,
        submittedBy: null,
      };
      try {
        return { etag: await statusTable.create(status, abortSignal), createdAt };
      } catch (err) {
        // Another replay made it first: read it.
        if (!isEngineError(err, 'AE_STORAGE_CONFLICT')) throw err;
        continue;
      }
    }
    if (hasMovedOnSinceReplay(row.status, entry)) return null;
    // The callback of the dead-lettering was about the old outcome: the new one is still to come.
    const callback: StatusChange = row.status.callbackUrl === null ? change : { ...change, callbackStatus: 'pending' };
    const etag = await statusTable.update(requestId, callback, row.etag, abortSignal);
    if (etag !== null) return { etag, createdAt: row.status.createdAt };
  }
  throw new EngineError('AE_STORAGE_CONFLICT', `the status of request ${requestId} kept changing during its replay`);
}

/**
 * Whether the row shows that an earlier replay was sent and processed (see above). Not by its
 * DlqId: a Merge cannot remove a property, so a reset row still names the entry.
 */
function hasMovedOnSinceReplay(status: RequestStatus, entry: DlqEntry): boolean {
  if (status.status === 'dead-lettered') return false;
  const isAsReset = (status.status === 'queued' || status.status === 'processing') && status.step === entry.step && status.attempt === 1;
  return !isAsReset;
}
