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
 */
import type { FlowDefinition, FlowStep, QueueOptions } from '../config/types.js';
import { EngineError, isEngineError } from '../errors.js';
import type { StepOutcome } from '../http/endpoint-call.js';
import type { Logger } from '../observability/log.js';
import { completedTotal, deadLettersTotal, requestDuration, retriesTotal } from '../observability/metrics.js';
import { isDlqIdOf, makeDlqId, type DlqReplay, type DlqTable } from '../storage/dlq-table.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { ReceivedMessage, StepQueue } from '../storage/queues.js';
import type { StatusChange, StatusRow, StatusTable, StoredResult } from '../storage/status-table.js';
import { encodeEnvelope, type Envelope } from '../storage/envelope.js';
import type { Lease } from './lease.js';
import type { DeadLetterReason } from './redelivery.js';
import { resolveConflict, routeAfter } from './routing.js';

export interface SettlerOptions {
  flow: FlowDefinition;
  step: FlowStep;
  queue: StepQueue;
  /** The next step's queue and its options; null on the last step. */
  next: { queue: StepQueue; options: QueueOptions } | null;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  payloads: PayloadStore;
  inlineLimitBytes: number;
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

/** How often a write that lost to a change at the same step is tried again with the newer ETag. */
const MAX_STATUS_WRITE_TRIES = 3;

type StatusWrite = { kind: 'written'; etag: string } | { kind: 'moved-on'; row: StatusRow | null };

export class Settler {
  readonly #o: SettlerOptions;

  constructor(options: SettlerOptions) {
    this.#o = options;
  }

  /** A 2xx answer: forward to the next step, or complete the request after the last. */
  async succeed(envelope: Envelope, outcome: Extract<StepOutcome, { kind: 'ok' }>, message: ReceivedMessage, lease: Lease, signal: AbortSignal): Promise<Settled> {
    const route = routeAfter(this.#o.flow, envelope.step);
    const now = new Date();
    let result: StoredResult | null = null;
    let change: StatusChange;
    if (route.kind === 'next') {
      change = { status: 'processing', step: route.step.index, stepQueue: route.step.sourceQueueName, attempt: 1, updatedAt: now, lastHttpStatus: outcome.status, lastError: null };
    } else {
      result =
        outcome.body.length > this.#o.inlineLimitBytes
          ? { contentType: outcome.contentType, blobName: (await this.#o.payloads.put(envelope.requestId, 'result', outcome.body, signal)).blobName }
          : { contentType: outcome.contentType, bytes: outcome.body };
      change = { status: 'completed', updatedAt: now, completedAt: now, lastHttpStatus: outcome.status, lastError: null, result };
    }

    const write = await this.#writeStatus(envelope, change, signal);
    let etag: string | null = write.kind === 'written' ? write.etag : null;
    if (write.kind === 'moved-on' && resolveConflict(write.row?.status ?? null, envelope.step, route.kind === 'done') === 'forward') {
      etag = write.row!.etag; // moved to the next step already: the next message may be missing
    }
    if (etag === null) {
      if (result && 'blobName' in result) await this.#o.payloads.delete([result.blobName], signal);
      await this.deleteMessage(message, lease, signal);
      return 'stale';
    }
    if (route.kind === 'next') {
      const next = this.#o.next!;
      const packed = await this.#o.payloads.pack(
        { ...envelope, step: route.step.index, attempt: 1, contentType: outcome.contentType, statusEtag: etag },
        outcome.body,
        `step-${route.step.index}`,
        signal,
      );
      await next.queue.send(packed.text, { timeToLiveInSeconds: next.options.timeToLiveInSeconds, abortSignal: signal });
    }
    await this.deleteMessage(message, lease, signal);
    if (route.kind === 'done') {
      completedTotal.inc({ flow: this.#o.flow.name });
      requestDuration.observe({ flow: this.#o.flow.name }, Math.max(0, now.getTime() - Date.parse(envelope.acceptedAt)) / 1000);
    }
    if (route.kind === 'done' && envelope.blobs.length > 0) {
      // The request is complete: no live message can name its inputs any more (see payloads.ts).
      await this.#o.payloads.delete(envelope.blobs, signal).catch(() => undefined);
    }
    return route.kind === 'next' ? 'forwarded' : 'completed';
  }

  /**
   * Schedules the next attempt with one queue call: the message's text (attempt, ETag) and its
   * visibility change together. A crash between the status write and that call lets the message
   * reappear with its old text after its visibility timeout; its next status write then finds the
   * row at the same step and writes again with the row's ETag.
   */
  async retry(envelope: Envelope, failure: { lastHttpStatus: number | null; error: string }, delayInMs: number, message: ReceivedMessage, lease: Lease, signal: AbortSignal): Promise<Settled> {
    const nextAttempt = envelope.attempt + 1;
    const write = await this.#writeStatus(
      envelope,
      { status: 'retrying', attempt: nextAttempt, lastHttpStatus: failure.lastHttpStatus, lastError: failure.error, updatedAt: new Date() },
      signal,
    );
    if (write.kind === 'moved-on') {
      await this.deleteMessage(message, lease, signal);
      return 'stale';
    }
    await lease.stop();
    lease.popReceipt = await this.#o.queue.update(message.messageId, lease.popReceipt, encodeEnvelope({ ...envelope, attempt: nextAttempt, statusEtag: write.etag }), delayInMs, signal);
    retriesTotal.inc({ flow: this.#o.flow.name, step: String(this.#o.step.index), status: String(failure.lastHttpStatus ?? 0) });
    return 'retry_scheduled';
  }

  /**
   * Dead-letters the message: status row (naming the DLQ entry), then the DLQ entry, then the
   * delete. A re-run after a crash finds its own dlqId in the row and writes the same entry again.
   */
  async deadLetter(dead: DeadLetter, message: ReceivedMessage, lease: Lease, signal: AbortSignal): Promise<Settled> {
    const { envelope } = dead;
    const flowName = this.#o.flow.name;
    const now = new Date();
    let dlqId = makeDlqId(flowName, envelope ? now : message.insertedOn, message.messageId);
    if (envelope) {
      const write = await this.#writeStatus(
        envelope,
        { status: 'dead-lettered', lastHttpStatus: dead.lastHttpStatus, lastError: dead.error, dlqId, updatedAt: now, completedAt: now },
        signal,
      );
      if (write.kind === 'moved-on') {
        const earlier = write.row?.status;
        if (earlier?.status !== 'dead-lettered' || earlier.dlqId === null || !isDlqIdOf(earlier.dlqId, message.messageId)) {
          await this.deleteMessage(message, lease, signal);
          return 'stale';
        }
        dlqId = earlier.dlqId; // this message's own run, before a crash
      }
    }
    const replay: DlqReplay = envelope
      ? { kind: 'request', contentType: envelope.contentType, body: envelope.body, traceparent: envelope.traceparent, callbackUrl: envelope.callbackUrl, blobs: envelope.blobs }
      : { kind: 'raw', messageText: message.messageText };
    const { step } = this.#o;
    await this.#o.dlqTable.upsert(
      {
        dlqId,
        requestId: envelope?.requestId ?? null,
        flow: flowName,
        step: step.index,
        sourceQueue: step.sourceQueueName,
        endpoint: step.endpoint.kind === 'platform' ? step.endpoint.name : step.endpoint.url,
        attempts: envelope?.attempt ?? 0,
        lastHttpStatus: dead.lastHttpStatus,
        error: dead.error,
        reason: dead.reason,
        deadLetteredAt: now,
        replay,
      },
      signal,
    );
    await this.deleteMessage(message, lease, signal);
    deadLettersTotal.inc({ flow: flowName, step: String(step.index), reason: dead.reason });
    return 'dead_lettered';
  }

  /** Deletes the message with the lease's final pop receipt; one already gone is fine. */
  async deleteMessage(message: ReceivedMessage, lease: Lease, signal: AbortSignal): Promise<void> {
    await lease.stop();
    try {
      await this.#o.queue.delete(message.messageId, lease.popReceipt, signal);
    } catch (err) {
      // Gone already, or another consumer has it after its visibility ran out: its write will be
      // found stale. Nothing is lost either way.
      if (!isEngineError(err, 'AE_MESSAGE_LOST')) throw err;
    }
  }

  /**
   * The status write If-Match the message's ETag. When the row changed but is still at this step
   * (a retry record, or this message's own run before a crash), writes again with the row's ETag;
   * otherwise returns the row that moved on.
   */
  async #writeStatus(envelope: Envelope, change: StatusChange, signal: AbortSignal): Promise<StatusWrite> {
    const isLastStep = routeAfter(this.#o.flow, envelope.step).kind === 'done';
    let expected = envelope.statusEtag;
    for (let tries = 0; tries < MAX_STATUS_WRITE_TRIES; tries++) {
      const etag = await this.#o.statusTable.update(envelope.requestId, change, expected, signal);
      if (etag !== null) return { kind: 'written', etag };
      const row = await this.#o.statusTable.get(envelope.requestId, signal);
      if (row === null || resolveConflict(row.status, envelope.step, isLastStep) !== 'retry') return { kind: 'moved-on', row };
      expected = row.etag;
    }
    throw new EngineError('AE_STORAGE_CONFLICT', `the status of request ${envelope.requestId} kept changing under step ${envelope.step}`);
  }
}
