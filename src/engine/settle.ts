/**
 * The ways a step's message ends, each in at-least-once order: the status write (If-Match the ETag
 * the message carries) comes first, then the onward write (next message, or DLQ entry), and the
 * message is deleted (or, for a retry, updated) last.
 *
 * The status write first: it is the intent record. Whoever runs the message again after a crash
 * finds the row already moved and knows what was meant: the next message may be missing (forward
 * again), the DLQ entry may be missing (write it again: its id is the same), or the message is a
 * late duplicate (drop it). A step k+1 running on another replica always finds the row at k+1 with
 * the ETag its message carries, so the row never moves backwards. See step-runner.ts for the
 * crash cases of the success path.
 *
 * A request that reaches its final state (completed, dead-lettered) with a callback URL gets a
 * callback message (callbacks.ts) after the status write (and the DLQ entry) and before the step's
 * message is deleted. A crash between any two of these calls leaves the step's message to come
 * back; it finds the row final and written by itself (LastMessageId), and sends the callback
 * message again unless the callback was delivered or given up meanwhile. So a callback may be
 * queued twice (its delivery drops the second, or the receiver gets it twice), never lost.
 */
import { EngineError, isEngineError } from '../errors.js';
import type { StepOutcome } from '../http/endpoint-call.js';
import { completedTotal, deadLettersTotal, requestDuration, retriesTotal } from '../observability/metrics.js';
import { ATTR, isTracingOn, SpanKind, setActiveSpanAttribute, setSpanError, traced } from '../observability/spans.js';
import type { Throughput } from '../observability/throughput.js';
import { type DeadLetterReason, type DlqReplay, type DlqTable, isDlqIdOf, makeDlqId } from '../storage/dlq-table.js';
import { encodeEnvelope, type Envelope } from '../storage/envelope.js';
import type { PayloadStore } from '../storage/payloads.js';
import { type ReceivedMessage, toVisibilitySeconds } from '../storage/queues.js';
import type { RequestStatus, StatusChange, StatusRow, StatusTable, StoredResult } from '../storage/status-table.js';
import type { Callbacks } from './callbacks.js';
import { endpointLabel, type Step } from './flows.js';
import type { Lease } from './lease.js';
import { resolveConflict } from './routing.js';

export interface SettlerOptions {
  step: Step;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  payloads: PayloadStore;
  /** Where the callback of a request brought to its final state is sent. */
  callbacks: Pick<Callbacks, 'send'>;
  inlineLimitBytes: number;
  /** Counts what this process settles, for the dashboard. */
  throughput: Throughput;
}

/** One received message while it is being settled. */
export interface MessageContext {
  message: ReceivedMessage;
  /** Keeps the message hidden; holds its current pop receipt. */
  lease: Lease;
  /** Aborts when the engine gives up on in-flight work. */
  signal: AbortSignal;
}

/** A message that could be read as an envelope of this step. */
export interface EnvelopeContext extends MessageContext {
  envelope: Envelope;
}

export type Settled = 'forwarded' | 'completed' | 'retry_scheduled' | 'dead_lettered' | 'stale';

/** What is known of a message being dead-lettered. */
export interface DeadLetter {
  reason: DeadLetterReason;
  error: string;
  lastHttpStatus: number | null;
  /** null when the message could not be read. */
  envelope: Envelope | null;
}

/** Why an attempt failed, for the status row and the DLQ entry. */
export interface Failure {
  lastHttpStatus: number | null;
  error: string;
}

/** A retry's wake-up comes this long after its message is due, so that the receive finds it. */
const RETRY_WAKE_MARGIN_IN_MS = 100;

/** How often a write that lost to a change at the same step is tried again with the newer ETag. */
const MAX_STATUS_WRITE_TRIES = 3;

type StatusWrite = { kind: 'written'; etag: string } | { kind: 'moved-on'; row: StatusRow | null };

/**
 * The outcome (its completedAt) whose callback a final row still waits for, or null: it has no
 * callback URL, or its callback was delivered or given up already.
 */
function pendingCallbackOf(row: RequestStatus): Date | null {
  if (row.callbackUrl === null || row.callbackStatus === 'delivered' || row.callbackStatus === 'failed') return null;
  return row.completedAt;
}

export class Settler {
  readonly #step: Step;
  readonly #statusTable: StatusTable;
  readonly #dlqTable: DlqTable;
  readonly #payloads: PayloadStore;
  readonly #callbacks: Pick<Callbacks, 'send'>;
  readonly #inlineLimitBytes: number;
  readonly #throughput: Throughput;

  constructor({ step, statusTable, dlqTable, payloads, callbacks, inlineLimitBytes, throughput }: SettlerOptions) {
    this.#step = step;
    this.#statusTable = statusTable;
    this.#dlqTable = dlqTable;
    this.#payloads = payloads;
    this.#callbacks = callbacks;
    this.#inlineLimitBytes = inlineLimitBytes;
    this.#throughput = throughput;
  }

  /** A 2xx answer: forward to the next step, or complete the request after the last. */
  async succeed(context: EnvelopeContext, outcome: Extract<StepOutcome, { kind: 'ok' }>): Promise<Settled> {
    const { envelope, signal } = context;
    const { next } = this.#step;
    const now = new Date();
    let result: StoredResult | null = null;
    let change: StatusChange;
    if (next !== null) {
      change = { status: 'processing', step: next.index, stepQueue: next.source.queue.name, attempt: 1, updatedAt: now, lastHttpStatus: outcome.status, lastError: null };
    } else {
      result =
        outcome.body.length > this.#inlineLimitBytes
          ? { contentType: outcome.contentType, blobName: (await this.#payloads.put(envelope.requestId, 'result', outcome.body, signal)).blobName }
          : { contentType: outcome.contentType, bytes: outcome.body };
      change = { status: 'completed', updatedAt: now, completedAt: now, lastHttpStatus: outcome.status, lastError: null, result };
    }

    const write = await this.#writeStatus(envelope, context.message, change, signal);
    if (next === null) return this.#complete(context, write, result, now);
    const etag = this.#etagToForwardWith(write, context);
    if (etag === null) {
      await this.deleteMessage(context);
      return 'stale';
    }
    const packed = await this.#payloads.pack(
      { ...envelope, step: next.index, attempt: 1, contentType: outcome.contentType, statusEtag: etag },
      outcome.body,
      `step-${next.index}`,
      signal,
    );
    await next.source.queue.send(packed.text, { timeToLiveInMs: next.source.options.timeToLiveInMs, abortSignal: signal });
    next.polling.wake();
    await this.deleteMessage(context);
    this.#throughput.countStep(this.#step.flowName, this.#step.index, 'completed');
    return 'forwarded';
  }

  /**
   * The last step's status write is done: the request is complete, by this write or by this
   * message's own run before a crash (the row is completed and names this message: its callback
   * message may be missing). Anything else is a late duplicate. The callback message goes out
   * before the step's message is deleted.
   */
  async #complete(context: EnvelopeContext, write: StatusWrite, result: StoredResult | null, now: Date): Promise<Settled> {
    const { envelope, message, signal } = context;
    const { flowName } = this.#step;
    let callbackOf: Date | null = envelope.callbackUrl === null ? null : now;
    if (write.kind === 'moved-on') {
      const row = write.row?.status;
      const rowBlob = row?.result && 'blobName' in row.result ? row.result.blobName : null;
      // The result blob this run wrote, unless the row names it (a write that landed though its answer was lost).
      if (result && 'blobName' in result && result.blobName !== rowBlob) await this.#payloads.delete([result.blobName], signal);
      if (row?.status !== 'completed' || row.lastMessageId !== message.messageId) {
        await this.deleteMessage(context);
        return 'stale';
      }
      callbackOf = pendingCallbackOf(row);
    }
    if (callbackOf !== null) await this.#callbacks.send(envelope.requestId, callbackOf, signal);
    await this.deleteMessage(context);
    this.#throughput.countStep(flowName, this.#step.index, 'completed');
    completedTotal.inc({ flow: flowName });
    this.#throughput.countRequest(flowName, 'completed');
    requestDuration.observe({ flow: flowName }, Math.max(0, now.getTime() - Date.parse(envelope.acceptedAt)) / 1000);
    if (envelope.blobs.length > 0) {
      // The request is complete: no live message can name its inputs any more (see payloads.ts).
      await this.#payloads.delete(envelope.blobs, signal).catch(() => undefined);
    }
    return 'completed';
  }

  /**
   * The ETag the next message carries: the one just written, or, when this message's own run moved
   * the row to the next step before a crash, the row's, since the next message may be missing.
   * null: the message is stale (a duplicate got there first, or the row is another message's).
   */
  #etagToForwardWith(write: StatusWrite, { envelope, message }: EnvelopeContext): string | null {
    if (write.kind === 'written') return write.etag;
    const { row } = write;
    return row !== null && resolveConflict(row.status, envelope.step, this.#step.next === null, message.messageId) === 'forward' ? row.etag : null;
  }

  /**
   * Schedules the next attempt with one queue call: the message's text (attempt, ETag) and its
   * visibility change together. A crash between the status write and that call lets the message
   * reappear with its old text after its visibility timeout; its next status write then finds the
   * row at the same step and writes again with the row's ETag.
   */
  retry(context: EnvelopeContext, failure: Failure, delayInMs: number): Promise<Settled> {
    if (!isTracingOn()) return this.#retry(context, failure, delayInMs);
    const attributes = () => ({ [ATTR.attempt]: context.envelope.attempt + 1, [ATTR.retryDelayInMs]: delayInMs });
    return traced('retry scheduled', SpanKind.INTERNAL, attributes, () => this.#retry(context, failure, delayInMs));
  }

  async #retry(context: EnvelopeContext, failure: Failure, delayInMs: number): Promise<Settled> {
    const { envelope, message, lease, signal } = context;
    const nextAttempt = envelope.attempt + 1;
    const write = await this.#writeStatus(
      envelope,
      message,
      { status: 'retrying', attempt: nextAttempt, lastHttpStatus: failure.lastHttpStatus, lastError: failure.error, updatedAt: new Date() },
      signal,
    );
    if (write.kind === 'moved-on') {
      await this.deleteMessage(context);
      return 'stale';
    }
    await lease.close();
    const text = encodeEnvelope({ ...envelope, attempt: nextAttempt, statusEtag: write.etag });
    lease.popReceipt = await this.#step.source.queue.update(message.messageId, lease.popReceipt, text, delayInMs, signal);
    // The message comes due then (Azure counts visibility in whole seconds): the poller of this
    // process need not be backing off past it.
    setTimeout(() => this.#step.polling.wake(), toVisibilitySeconds(delayInMs) * 1000 + RETRY_WAKE_MARGIN_IN_MS).unref();
    retriesTotal.inc({ flow: this.#step.flowName, step: String(this.#step.index), status: String(failure.lastHttpStatus ?? 0) });
    this.#throughput.countStep(this.#step.flowName, this.#step.index, 'failed');
    return 'retry_scheduled';
  }

  /**
   * Dead-letters the message: status row (naming the DLQ entry), then the DLQ entry, then the
   * callback message, then the delete. A re-run after a crash finds its own dlqId in the row and
   * writes the same entry again.
   */
  deadLetter(context: MessageContext, dead: DeadLetter): Promise<Settled> {
    if (!isTracingOn()) return this.#deadLetter(context, dead);
    return traced('dead-letter', SpanKind.INTERNAL, () => ({ [ATTR.dlqReason]: dead.reason }), async (span) => {
      const settled = await this.#deadLetter(context, dead);
      if (span) {
        span.setAttribute(ATTR.outcome, settled);
        if (settled === 'dead_lettered') setSpanError(span, `${dead.reason}: ${dead.error}`);
      }
      return settled;
    });
  }

  async #deadLetter(context: MessageContext, dead: DeadLetter): Promise<Settled> {
    const { message, signal } = context;
    const { envelope } = dead;
    const step = this.#step;
    const { flowName } = step;
    const now = new Date();
    let dlqId = makeDlqId(flowName, envelope ? now : message.insertedOn, message.messageId);
    let callbackOf: Date | null = envelope?.callbackUrl ? now : null;
    if (envelope) {
      const write = await this.#writeStatus(
        envelope,
        message,
        { status: 'dead-lettered', lastHttpStatus: dead.lastHttpStatus, lastError: dead.error, dlqId, updatedAt: now, completedAt: now },
        signal,
      );
      if (write.kind === 'moved-on') {
        const earlier = write.row?.status;
        if (earlier?.status !== 'dead-lettered' || earlier.dlqId === null || !isDlqIdOf(earlier.dlqId, message.messageId)) {
          await this.deleteMessage(context);
          return 'stale';
        }
        dlqId = earlier.dlqId; // this message's own run, before a crash
        callbackOf = pendingCallbackOf(earlier);
      }
    }
    setActiveSpanAttribute(ATTR.dlqId, dlqId);
    const replay: DlqReplay = envelope
      ? { kind: 'request', contentType: envelope.contentType, body: envelope.body, traceparent: envelope.traceparent, callbackUrl: envelope.callbackUrl, blobs: envelope.blobs }
      : { kind: 'raw', messageText: message.messageText };
    await this.#dlqTable.upsert(
      {
        dlqId,
        requestId: envelope?.requestId ?? null,
        flow: flowName,
        step: step.index,
        sourceQueue: step.source.queue.name,
        endpoint: endpointLabel(step.endpoint),
        attempts: envelope?.attempt ?? 0,
        lastHttpStatus: dead.lastHttpStatus,
        error: dead.error,
        reason: dead.reason,
        deadLetteredAt: now,
        replay,
      },
      signal,
    );
    if (envelope && callbackOf !== null) await this.#callbacks.send(envelope.requestId, callbackOf, signal);
    await this.deleteMessage(context);
    deadLettersTotal.inc({ flow: flowName, step: String(step.index), reason: dead.reason });
    this.#throughput.countStep(flowName, step.index, 'failed');
    this.#throughput.countRequest(flowName, 'deadLettered');
    return 'dead_lettered';
  }

  /** Deletes the message with the lease's final pop receipt; one already gone is fine. */
  async deleteMessage({ message, lease, signal }: MessageContext): Promise<void> {
    await lease.close();
    try {
      await this.#step.source.queue.delete(message.messageId, lease.popReceipt, signal);
    } catch (err) {
      // Gone already, or another consumer has it after its visibility ran out: its write will be
      // found stale. Nothing is lost either way.
      if (!isEngineError(err, 'AE_MESSAGE_LOST')) throw err;
    }
  }

  /**
   * The status write If-Match the message's ETag, signed with the message's id. When the row
   * changed but is still at this step and this message wrote it (its retry record, or its own run
   * before a crash), writes again with the row's ETag; otherwise returns the row that moved on.
   */
  async #writeStatus(envelope: Envelope, message: ReceivedMessage, change: StatusChange, signal: AbortSignal): Promise<StatusWrite> {
    const isLastStep = this.#step.next === null;
    const signed: StatusChange = { ...change, lastMessageId: message.messageId };
    let expected = envelope.statusEtag;
    for (let tries = 0; tries < MAX_STATUS_WRITE_TRIES; tries++) {
      const etag = await this.#statusTable.update(envelope.requestId, signed, expected, signal);
      if (etag !== null) return { kind: 'written', etag };
      const row = await this.#statusTable.get(envelope.requestId, signal);
      if (row === null || resolveConflict(row.status, envelope.step, isLastStep, message.messageId) !== 'retry') return { kind: 'moved-on', row };
      expected = row.etag;
    }
    throw new EngineError('AE_STORAGE_CONFLICT', `the status of request ${envelope.requestId} kept changing under step ${envelope.step}`);
  }
}
