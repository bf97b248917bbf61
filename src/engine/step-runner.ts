/**
 * One message through one step: decode, load the input, call the endpoint under a lease, then
 * settle.
 *
 * Settle protocol (at-least-once, and the status row never moves backwards). The message of step k
 * carries E, the status row's ETag as the previous writer left it. On success:
 *   1. update the row to "step k+1, processing" (or "completed" after the last step) If-Match E,
 *      which yields E';
 *   2. send the message of step k+1 carrying E' (its body in a blob first if it is large);
 *   3. delete the message of step k.
 * The status write comes before the send so that step k+1, which may run at once on another
 * replica, always finds the row at k+1 with the ETag it carries: a plain upsert after the send
 * could land after step k+1's own write and rewind the row. The normal path reads nothing.
 *
 * Crash cases (the message of step k reappears after its visibility timeout and runs again):
 *   - after 1, before 2: the write If-Match E fails (412); the row is at k+1, so the runner sends
 *     the message of step k+1 with the row's ETag and deletes its own ("forward");
 *   - after 2, before 3: the same, and step k+1 now has two messages. Both carry E'; the first to
 *     finish wins its write, the other fails with 412, finds the row past it and is dropped
 *     ("stale"). Endpoints see the duplicate call with the same Idempotency-Key;
 *   - after 3: nothing to redo.
 * A late duplicate of an old message fails its write the same way and is dropped: the row is
 * never rewound. A failed endpoint call leaves the message to reappear after its visibility timeout.
 */
import type { FlowDefinition, FlowStep, QueueOptions } from '../config/types.js';
import { isEngineError } from '../errors.js';
import { callEndpoint, type StepOutcome } from '../http/endpoint-call.js';
import type { OutboundHttp } from '../http/agent.js';
import type { Logger } from '../observability/log.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { ReceivedMessage, StepQueue } from '../storage/queues.js';
import type { StatusChange, StatusTable, StoredResult } from '../storage/status-table.js';
import { decodeEnvelope, EnvelopeError, type Envelope } from './envelope.js';
import { Lease } from './lease.js';
import { resolveConflict, routeAfter } from './routing.js';

export interface StepRunnerOptions {
  flow: FlowDefinition;
  step: FlowStep;
  queue: StepQueue;
  queueOptions: QueueOptions;
  /** The next step's queue and its options; null on the last step. */
  next: { queue: StepQueue; options: QueueOptions } | null;
  statusTable: StatusTable;
  payloads: PayloadStore;
  http: OutboundHttp;
  inlineLimitBytes: number;
  log: Logger;
}

/** How often a write that lost to a change at the same step is tried again with the newer ETag. */
const MAX_STATUS_WRITE_TRIES = 3;

type Settled = 'forwarded' | 'completed' | 'stale' | 'left';

export class StepRunner {
  readonly #o: StepRunnerOptions;
  readonly #log: Logger;

  constructor(options: StepRunnerOptions) {
    this.#o = options;
    this.#log = options.log.child({ flow: options.flow.name, step: options.step.index, queue: options.queue.name });
  }

  /** Runs one received message to its end. Never throws: every failure is logged and leaves the message to reappear. */
  async run(message: ReceivedMessage, engineSignal: AbortSignal): Promise<void> {
    const log = this.#log.child({ messageId: message.messageId });
    const lease = new Lease({
      queue: this.#o.queue,
      messageId: message.messageId,
      popReceipt: message.popReceipt,
      visibilityTimeoutInSeconds: this.#o.queueOptions.visibilityTimeoutInSeconds,
      parentSignal: engineSignal,
      log,
    });
    let envelope: Envelope | undefined;
    try {
      envelope = this.#decode(message);
      const input = await this.#loadInput(envelope, lease.signal);
      if (input === null) {
        await this.#deleteMessage(message, lease, engineSignal);
        log.info({ requestId: envelope.requestId }, 'step.stale');
        return;
      }
      const outcome = await callEndpoint(
        this.#o.http,
        {
          url: this.#o.step.endpoint.url,
          body: input,
          contentType: envelope.contentType,
          requestId: envelope.requestId,
          flow: envelope.flow,
          step: envelope.step,
          traceparent: envelope.traceparent,
          authorization: null,
        },
        lease.signal,
      );
      const reqLog = log.child({ requestId: envelope.requestId });
      if (outcome.kind !== 'ok') {
        reqLog.warn({ outcome: outcome.kind, status: outcome.kind === 'http-error' ? outcome.status : undefined, detail: outcome.detail, attempt: envelope.attempt }, 'step.failed');
        return;
      }
      // The lease keeps renewing through the settle writes; the delete stops it for its final receipt.
      const settled = await this.#settle(envelope, outcome, message, lease, engineSignal);
      reqLog.info({ settled, httpStatus: outcome.status, durationInMs: outcome.durationInMs }, `step.${settled}`);
    } catch (err) {
      await lease.stop();
      if (lease.isLost) return; // already logged by the lease; the message is someone else's now
      if (err instanceof EnvelopeError) {
        log.error({ reason: err.message, dequeueCount: message.dequeueCount }, 'step.unreadable_message');
        return;
      }
      if (engineSignal.aborted) {
        await this.#release(message, lease, log);
        return;
      }
      log.error({ err, requestId: envelope?.requestId }, 'step.error');
    } finally {
      await lease.stop();
      lease.release();
    }
  }

  #decode(message: ReceivedMessage): Envelope {
    const envelope = decodeEnvelope(message.messageText);
    if (envelope.flow !== this.#o.flow.name || envelope.step !== this.#o.step.index) {
      throw new EnvelopeError(`the message is for flow "${envelope.flow}" step ${envelope.step}, not this queue's flow "${this.#o.flow.name}" step ${this.#o.step.index}`);
    }
    return envelope;
  }

  /**
   * The step's input, or null when its blob is gone: blobs are deleted only once a request is
   * complete (payloads.ts), so the message is a late duplicate if the row says the request moved on.
   */
  async #loadInput(envelope: Envelope, signal: AbortSignal): Promise<Buffer | null> {
    try {
      return await this.#o.payloads.load(envelope.body, signal);
    } catch (err) {
      if (!isEngineError(err, 'AE_NOT_FOUND')) throw err;
      const row = await this.#o.statusTable.get(envelope.requestId, signal);
      if (resolveConflict(row?.status ?? null, envelope.step, routeAfter(this.#o.flow, envelope.step).kind === 'done') === 'stale') return null;
      throw err;
    }
  }

  /** Shutdown gave up on the step: make the message visible again at once for another replica. */
  async #release(message: ReceivedMessage, lease: Lease, log: Logger): Promise<void> {
    try {
      await this.#o.queue.updateVisibility(message.messageId, lease.popReceipt, 0, AbortSignal.timeout(5000));
      log.info({}, 'step.released');
    } catch (err) {
      log.warn({ err }, 'step.release_failed');
    }
  }

  async #settle(envelope: Envelope, outcome: Extract<StepOutcome, { kind: 'ok' }>, message: ReceivedMessage, lease: Lease, signal: AbortSignal): Promise<Settled> {
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

    // 1. The status write, If-Match the ETag the message carries.
    let etag: string | null = null;
    let expected = envelope.statusEtag;
    let resolution: 'written' | 'forward' | 'stale' = 'stale';
    for (let tries = 0; tries < MAX_STATUS_WRITE_TRIES; tries++) {
      etag = await this.#o.statusTable.update(envelope.requestId, change, expected, signal);
      if (etag !== null) {
        resolution = 'written';
        break;
      }
      const row = await this.#o.statusTable.get(envelope.requestId, signal);
      const decision = resolveConflict(row?.status ?? null, envelope.step, route.kind === 'done');
      if (decision !== 'retry' || row === null) {
        resolution = decision === 'forward' ? 'forward' : 'stale';
        etag = row?.etag ?? null;
        break;
      }
      expected = row.etag;
    }
    if (resolution === 'stale' || etag === null) {
      if (result && 'blobName' in result) await this.#o.payloads.delete([result.blobName], signal);
      await this.#deleteMessage(message, lease, signal);
      return 'stale';
    }

    // 2. The next step's message, carrying the row's new ETag.
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

    // 3. Only now the message of this step goes.
    await this.#deleteMessage(message, lease, signal);
    if (route.kind === 'done' && envelope.blobs.length > 0) {
      // The request is complete: no live message can name its inputs any more (see payloads.ts).
      await this.#o.payloads.delete(envelope.blobs, signal).catch((err: unknown) => this.#log.warn({ err, requestId: envelope.requestId }, 'payloads.delete_failed'));
    }
    return route.kind === 'next' ? 'forwarded' : 'completed';
  }

  async #deleteMessage(message: ReceivedMessage, lease: Lease, signal: AbortSignal): Promise<void> {
    await lease.stop();
    try {
      await this.#o.queue.delete(message.messageId, lease.popReceipt, signal);
    } catch (err) {
      // Gone already, or another consumer has it after its visibility ran out: its write will be
      // found stale. Nothing is lost either way.
      if (!isEngineError(err, 'AE_MESSAGE_LOST')) throw err;
    }
  }
}
