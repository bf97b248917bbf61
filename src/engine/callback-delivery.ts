/**
 * One message of the callback queue to its end, under a lease like a step's message (lease.ts): the
 * visibility is renewed while the POST runs, and a lost lease or the shutdown deadline aborts it.
 * The message names only a request and an outcome; the URL and the body come from the request's
 * status row, so whatever a message says, nothing is posted but a request's own status JSON to its
 * own callback URL.
 *
 * How a message ends:
 * - dropped (deleted, nothing posted): it cannot be read; its request is gone; the request is no
 *   longer final (a replay runs it again, and its next outcome sends a callback of its own) or is
 *   at another outcome than the message's (its `completedAt` differs); it has no callback URL (the
 *   message is not the engine's); or its callback is `delivered` or `failed` already (a duplicate,
 *   sent again by a step that ran again after a crash).
 * - refused: the URL may no longer be called ({@link callbackRefusal}): the callback is `failed`.
 * - delivered: the receiver answered 2xx: the row records `delivered`, then the message is deleted.
 *   A crash in between posts again (at least once): receivers dedupe by X-Request-Id and status.
 * - a try failed with retries left: the message's text (the next attempt) and its visibility (the
 *   back-off) change in one queue update, as a step's redelivery does, and it comes back when due
 *   on whichever engine receives it first. The attempt is counted in the text rather than by
 *   `dequeueCount`, since a receive is not a try: a crash, a lost lease or a release at shutdown
 *   count as receives but post nothing (or nothing known). A crash between a failed try and the
 *   update repeats that try; a message received more than maxDequeueCount times beyond its
 *   attempts (engines kept dying on it) is given up.
 * - failed: the tries are used up (callback.config.retries after the first): the callback is `failed`.
 */
import { request } from 'undici';
import { backoffDelayInMs } from '../common/backoff.js';
import { isEngineError } from '../errors.js';
import type { OutboundHttp } from '../http/agent.js';
import { withConnection } from '../http/endpoint-call.js';
import { lazyChild, type Logger } from '../observability/log.js';
import { callbacksTotal } from '../observability/metrics.js';
import { type Attributes, ATTR, SpanKind, setSpanError, traced } from '../observability/spans.js';
import { type CallbackMessage, CallbackMessageError, decodeCallbackMessage, encodeCallbackMessage } from '../storage/callback-message.js';
import type { PayloadStore } from '../storage/payloads.js';
import { type ReceivedMessage, toVisibilitySeconds } from '../storage/queues.js';
import { FINAL_STATES, type RequestStatus, type StatusTable, toStatusJson } from '../storage/status-table.js';
import { type CallbackTargets, callbackRefusal, originOf } from './callback-targets.js';
import type { BoundQueue } from './flows.js';
import { type Lease, runLeased } from './lease.js';
import type { PollState } from './poll-state.js';
import { isPoisonByDequeueCount } from './redelivery.js';

export interface CallbackDeliveryOptions {
  /** The callback queue with its options. */
  source: BoundQueue;
  /** The callback poller's idle wait, woken when a retry falls due. */
  polling: PollState;
  /** The engine's outbound Agent and connection permits, shared with the endpoint calls. */
  http: OutboundHttp;
  statusTable: StatusTable;
  payloads: PayloadStore;
  targets: CallbackTargets;
  timeoutInMs: number;
  retries: number;
  log: Logger;
}

/** Retries wait up to this long at first, each next one up to twice as long, never more than the max (full jitter). */
const FIRST_RETRY_DELAY_IN_MS = 1000;
const MAX_RETRY_DELAY_IN_MS = 60_000;
/** A retry's wake-up comes this long after its message is due, so that the receive finds it. */
const RETRY_WAKE_MARGIN_IN_MS = 100;

/** How a callback message ended in this process; null while it waits for its next try. */
type Finished = 'delivered' | 'failed' | 'refused' | 'dropped';

/** What the status row says of the message's callback: due (with what it needs), or why the message is dropped. */
type Due = { kind: 'due'; status: RequestStatus; url: string; completedAt: Date } | { kind: 'drop'; reason: string };

/** Whether `row` still waits for the callback that `message` is for. */
export function dueCallback(row: RequestStatus | null, message: CallbackMessage): Due {
  if (row === null) return { kind: 'drop', reason: 'request-gone' };
  if (!FINAL_STATES.has(row.status)) return { kind: 'drop', reason: 'not-final' };
  const { completedAt, callbackUrl, callbackStatus } = row;
  if (completedAt === null || completedAt.toISOString() !== message.completedAt) return { kind: 'drop', reason: 'another-outcome' };
  if (callbackUrl === null) return { kind: 'drop', reason: 'no-callback-url' };
  if (callbackStatus === 'delivered' || callbackStatus === 'failed') return { kind: 'drop', reason: `already-${callbackStatus}` };
  return { kind: 'due', status: row, url: callbackUrl, completedAt };
}

interface Context {
  message: ReceivedMessage;
  lease: Lease;
  /** Aborts when the engine gives up on in-flight work: storage calls. */
  signal: AbortSignal;
}

export class CallbackDelivery {
  readonly #source: BoundQueue;
  readonly #polling: PollState;
  readonly #http: OutboundHttp;
  readonly #statusTable: StatusTable;
  readonly #payloads: PayloadStore;
  readonly #targets: CallbackTargets;
  readonly #timeoutInMs: number;
  readonly #retries: number;
  readonly #log: Logger;

  constructor({ source, polling, http, statusTable, payloads, targets, timeoutInMs, retries, log }: CallbackDeliveryOptions) {
    this.#source = source;
    this.#polling = polling;
    this.#http = http;
    this.#statusTable = statusTable;
    this.#payloads = payloads;
    this.#targets = targets;
    this.#timeoutInMs = timeoutInMs;
    this.#retries = retries;
    this.#log = log.child({ queue: source.queue.name });
  }

  /** Runs one received message to its end. Never throws: a failure is logged and leaves the message to reappear. */
  async run(message: ReceivedMessage, engineSignal: AbortSignal): Promise<void> {
    const scope = { log: lazyChild(this.#log, { messageId: message.messageId }) };
    const { queue, options } = this.#source;
    await runLeased({ queue, message, visibilityTimeoutInMs: options.visibilityTimeoutInMs, engineSignal, scope, kind: 'callback' }, async (lease) => {
      const finished = await this.#deliver({ message, lease, signal: engineSignal }, scope.log);
      if (finished !== null) callbacksTotal.inc({ outcome: finished });
    });
  }

  async #deliver(context: Context, messageLog: Logger): Promise<Finished | null> {
    const { message, lease, signal } = context;
    let callback: CallbackMessage;
    try {
      callback = decodeCallbackMessage(message.messageText);
    } catch (err) {
      if (!(err instanceof CallbackMessageError)) throw err;
      // It names nothing the engine could deliver; the status rows keep everything a callback needs.
      await this.#delete(context);
      messageLog.warn({ error: err.message, dequeueCount: message.dequeueCount }, 'callback.unreadable');
      return 'dropped';
    }
    const { requestId, attempt } = callback;
    let log = messageLog.child({ requestId });
    const row = await this.#statusTable.get(requestId, signal);
    const due = dueCallback(row?.status ?? null, callback);
    if (due.kind === 'drop') {
      await this.#delete(context);
      log.info({ reason: due.reason, attempt }, 'callback.dropped');
      return 'dropped';
    }
    const { status, url, completedAt } = due;
    log = log.child({ flow: status.flow });
    const refusal = callbackRefusal(url, this.#targets);
    if (refusal !== null) {
      await this.#statusTable.setCallbackStatus(requestId, 'failed', signal, completedAt);
      await this.#delete(context);
      log.warn({ target: originOf(url), reason: refusal }, 'callback.refused');
      return 'refused';
    }
    const { maxDequeueCount } = this.#source.options;
    if (isPoisonByDequeueCount(message.dequeueCount, attempt, maxDequeueCount)) {
      await this.#statusTable.setCallbackStatus(requestId, 'failed', signal, completedAt);
      await this.#delete(context);
      log.warn({ attempt, dequeueCount: message.dequeueCount, reason: `received more than maxDequeueCount ${maxDequeueCount} times beyond its attempts` }, 'callback.given_up');
      return 'failed';
    }

    const payload = await this.#body(status, signal);
    const spanAttributes = (): Attributes => ({ [ATTR.httpMethod]: 'POST', [ATTR.urlFull]: originOf(url), [ATTR.requestId]: requestId, [ATTR.attempt]: attempt });
    const error = await traced('callback', SpanKind.CLIENT, spanAttributes, async (span) => {
      const failure = await this.#post(url, payload, requestId, lease.signal);
      if (span && failure !== null) setSpanError(span, failure);
      return failure;
    });
    if (error === null) {
      // Recorded even if the lease was lost meanwhile: the receiver has it.
      await this.#statusTable.setCallbackStatus(requestId, 'delivered', signal, completedAt);
      await this.#delete(context);
      log.info({ attempt }, 'callback.delivered');
      return 'delivered';
    }
    // A lost lease or the shutdown deadline cut the try short: it does not count, and run() lets the message go.
    lease.signal.throwIfAborted();
    if (attempt > this.#retries) {
      log.warn({ attempt, error }, 'callback.failed_attempt');
      await this.#statusTable.setCallbackStatus(requestId, 'failed', signal, completedAt);
      await this.#delete(context);
      log.warn({ attempts: attempt, retries: this.#retries }, 'callback.given_up');
      return 'failed';
    }
    const retryInMs = backoffDelayInMs(attempt, FIRST_RETRY_DELAY_IN_MS, MAX_RETRY_DELAY_IN_MS);
    await lease.close();
    lease.popReceipt = await this.#source.queue.update(message.messageId, lease.popReceipt, encodeCallbackMessage({ ...callback, attempt: attempt + 1 }), retryInMs, signal);
    // The message comes due then (Azure counts visibility in whole seconds): this engine's poller
    // need not be backing off past it.
    setTimeout(() => this.#polling.wake(), toVisibilitySeconds(retryInMs) * 1000 + RETRY_WAKE_MARGIN_IN_MS).unref();
    log.warn({ attempt, error, retryInMs }, 'callback.failed_attempt');
    return null;
  }

  /** The status JSON as the row has it, with the result of a completed request inline (base64). */
  async #body(status: RequestStatus, signal: AbortSignal): Promise<string> {
    const json = toStatusJson(status);
    if (status.status !== 'completed' || !status.result) return JSON.stringify(json);
    const { result } = status;
    const bytes = 'bytes' in result ? result.bytes : await this.#payloads.get(result.blobName, signal);
    return JSON.stringify({ ...json, result: { contentType: result.contentType, encoding: 'base64', data: bytes.toString('base64') } });
  }

  /**
   * One POST, holding a connection permit like an endpoint call, within callback.config's timeout
   * (and callTimeout, when shorter); null when the receiver answered 2xx, else what went wrong.
   */
  async #post(url: string, payload: string, requestId: string, stop: AbortSignal): Promise<string | null> {
    const { callTimeoutInMs } = this.#http;
    const timeoutInMs = callTimeoutInMs > 0 ? Math.min(this.#timeoutInMs, callTimeoutInMs) : this.#timeoutInMs;
    try {
      return await withConnection(this.#http, url, timeoutInMs, stop, async (signal) => {
        const response = await request(url, {
          method: 'POST',
          dispatcher: this.#http.agent,
          headers: { 'content-type': 'application/json', 'x-request-id': requestId },
          body: payload,
          signal,
          headersTimeout: timeoutInMs,
          bodyTimeout: timeoutInMs,
        });
        // The answer's body means nothing here: read no more of it than maxResponseBytes.
        await response.body.dump({ limit: this.#http.maxResponseBytes });
        // undici follows no redirect unless told: a 3xx is an answer like any other non-2xx.
        return response.statusCode >= 200 && response.statusCode < 300 ? null : `HTTP ${response.statusCode}`;
      });
    } catch (err) {
      return err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
    }
  }

  /** Deletes the message with the lease's final pop receipt; one already gone is fine. */
  async #delete({ message, lease, signal }: Context): Promise<void> {
    await lease.close();
    try {
      await this.#source.queue.delete(message.messageId, lease.popReceipt, signal);
    } catch (err) {
      // Gone already, or another engine has it after its visibility ran out: it finds the row settled.
      if (!isEngineError(err, 'AE_MESSAGE_LOST')) throw err;
    }
  }

  /** Shutdown gave up on the delivery: the message is visible again at once for another engine; the callback stays pending. */
}
