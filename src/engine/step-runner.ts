/**
 * One message through one step: read it, load the input, call the endpoint under a lease, decide,
 * and settle (settle.ts).
 *
 * Success, in at-least-once order. The message of step k carries E, the status row's ETag as the
 * previous writer left it:
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
 * After the last step, 2 is the request's callback message when it has a callback URL: a re-run
 * finds the row completed by its own message id and sends it again (settle.ts).
 * A late duplicate of an old message fails its write the same way and is dropped: the row is
 * never rewound.
 *
 * Failure: redelivery.ts decides between a retry (the message's text and visibility updated in
 * one call) and the DLQ. A message that cannot be read, names another flow or step, or was
 * received more than maxDequeueCount times beyond its attempts is poison: it goes to the DLQ at
 * once, with its raw text when it cannot be read, and is never retried.
 */
import type { RedeliveryOptions } from '../config/types.js';
import { isEngineError } from '../errors.js';
import type { OutboundHttp } from '../http/agent.js';
import { callEndpoint, type StepOutcome } from '../http/endpoint-call.js';
import type { PlatformToken } from '../http/platform-token.js';
import { lazyChild, type Logger } from '../observability/log.js';
import type { Throughput } from '../observability/throughput.js';
import { endpointDuration, statusClass, stepsTotal } from '../observability/metrics.js';
import type { DlqTable } from '../storage/dlq-table.js';
import { type Attributes, ATTR, failActiveSpan, isTracingOn, MESSAGING_SYSTEM, remoteParentOf, ROOT_CONTEXT, runInSpan, SpanKind, setActiveSpanAttribute, startSpan } from '../observability/spans.js';
import { type Envelope, EnvelopeError, readEnvelope } from '../storage/envelope.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { ReceivedMessage } from '../storage/queues.js';
import type { StatusTable } from '../storage/status-table.js';
import type { Callbacks } from './callbacks.js';
import { endpointUrlOf, type Step } from './flows.js';
import { runLeased } from './lease.js';
import { decideRedelivery, describeFailure, isPoisonByDequeueCount } from './redelivery.js';
import { isPastStep } from './routing.js';
import type { Completions } from './completions.js';
import { type EnvelopeContext, type Settled, Settler } from './settle.js';

export interface StepRunnerOptions {
  step: Step;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  payloads: PayloadStore;
  http: OutboundHttp;
  redelivery: RedeliveryOptions;
  /** Where the callback of a request this runner brings to its final state is sent. */
  callbacks: Pick<Callbacks, 'send'>;
  /** Told when a request this runner settled reached its final state. */
  completions: Completions;
  /** The engine's token for endpointName steps; null when no step needs one. */
  platformToken: PlatformToken | null;
  inlineLimitBytes: number;
  /** Counts what this runner settles, for the dashboard. */
  throughput: Throughput;
  /** The base URL of this process's demo endpoints, for steps that name one by path; null while none is served. */
  demoBaseUrl: () => string | null;
  log: Logger;
}

/**
 * A message as read: its envelope (and why its trace context was dropped, if it was), or why it is
 * poison (with the envelope when it could be decoded).
 */
type Reading = { kind: 'ok'; envelope: Envelope; traceIgnored: string | null } | { kind: 'poison'; error: string; envelope: Envelope | null };

/**
 * The longest an endpoint's Retry-After pauses its whole step: the calls waiting meanwhile hold
 * their messages leased, which suits seconds or minutes, not hours (the message that got the answer
 * still waits its whole Retry-After, by its redelivery rule).
 */
const MAX_STEP_PAUSE_IN_MS = 5 * 60_000;


export class StepRunner {
  readonly #step: Step;
  readonly #statusTable: StatusTable;
  readonly #payloads: PayloadStore;
  readonly #http: OutboundHttp;
  readonly #redelivery: RedeliveryOptions;
  readonly #completions: Completions;
  readonly #platformToken: PlatformToken | null;
  readonly #demoBaseUrl: () => string | null;
  readonly #settler: Settler;
  readonly #log: Logger;
  readonly #labels: { flow: string; step: string };

  constructor({ step, statusTable, dlqTable, payloads, http, redelivery, callbacks, completions, platformToken, inlineLimitBytes, throughput, demoBaseUrl, log }: StepRunnerOptions) {
    this.#step = step;
    this.#statusTable = statusTable;
    this.#payloads = payloads;
    this.#http = http;
    this.#redelivery = redelivery;
    this.#completions = completions;
    this.#platformToken = platformToken;
    this.#demoBaseUrl = demoBaseUrl;
    this.#settler = new Settler({ step, statusTable, dlqTable, payloads, callbacks, inlineLimitBytes, throughput });
    this.#log = log.child({ flow: step.flowName, step: step.index, queue: step.source.queue.name });
    this.#labels = { flow: step.flowName, step: String(step.index) };
  }

  /** The request's final status is written (and its callback queued, settle.ts): a client waiting for it is told. */
  #finished({ requestId }: Envelope): void {
    this.#completions.notify(requestId);
  }

  /** Runs one received message to its end. Never throws: a failure is logged and leaves the message to reappear. */
  async run(message: ReceivedMessage, engineSignal: AbortSignal): Promise<void> {
    let reading: Reading;
    try {
      reading = this.#read(message);
    } catch (err) {
      // A fault, not the message's (an unreadable message is poison): it reappears after its visibility timeout.
      this.#log.error({ err, messageId: message.messageId }, 'step.error');
      return;
    }
    if (!isTracingOn()) return this.#run(message, reading, engineSignal);
    // One consumer span per attempt, a child of the span the envelope names (the submission's),
    // and nothing of the poller's context: the step's storage calls and log lines belong to it.
    const span = startSpan(`${this.#step.flowName} step ${this.#step.index}`, {
      kind: SpanKind.CONSUMER,
      attributes: this.#spanAttributes(message, reading.envelope),
      parent: reading.envelope ? remoteParentOf(reading.envelope.traceparent, reading.envelope.tracestate) : ROOT_CONTEXT,
    });
    await runInSpan(span, () => this.#run(message, reading, engineSignal), ROOT_CONTEXT);
  }

  #spanAttributes(message: ReceivedMessage, envelope: Envelope | null): Attributes {
    const attributes: Attributes = {
      [ATTR.messagingSystem]: MESSAGING_SYSTEM,
      [ATTR.messagingOperationType]: 'process',
      [ATTR.messagingOperationName]: 'process',
      [ATTR.messagingDestination]: this.#step.source.queue.name,
      [ATTR.messageId]: message.messageId,
      [ATTR.flow]: this.#step.flowName,
      [ATTR.step]: this.#step.index,
    };
    if (envelope) {
      attributes[ATTR.conversationId] = envelope.requestId;
      attributes[ATTR.requestId] = envelope.requestId;
      attributes[ATTR.attempt] = envelope.attempt;
    }
    return attributes;
  }

  async #run(message: ReceivedMessage, reading: Reading, engineSignal: AbortSignal): Promise<void> {
    // One child logger per message, with the request id bound from the start where there is one,
    // made when it first writes a line: pino serializes (and redacts) a child's bindings when it is
    // made, which every message paid even when nothing was logged (Performance issue).
    const requestId = reading.kind === 'ok' ? reading.envelope.requestId : undefined;
    const scope = { log: lazyChild(this.#log, requestId === undefined ? { messageId: message.messageId } : { messageId: message.messageId, requestId }) };
    const { queue, options } = this.#step.source;
    await runLeased({ queue, message, visibilityTimeoutInMs: options.visibilityTimeoutInMs, engineSignal, scope, kind: 'step' }, async (lease) => {
      const context = { message, lease, signal: engineSignal };
      try {
        if (reading.kind === 'poison') {
          failActiveSpan(reading.error);
          const settled = await this.#settler.deadLetter(context, { reason: 'poison', error: reading.error, lastHttpStatus: null, envelope: reading.envelope });
          if (settled === 'dead_lettered' && reading.envelope) this.#finished(reading.envelope);
          setActiveSpanAttribute(ATTR.outcome, settled);
          scope.log.warn({ settled, requestId: reading.envelope?.requestId, reason: 'poison', error: reading.error }, `step.${settled}`);
          return;
        }
        const { envelope } = reading;
        const { log } = scope;
        if (reading.traceIgnored !== null) log.warn({ reason: reading.traceIgnored }, 'step.trace_context_ignored');
        const settled = await this.#process({ ...context, envelope }, log);
        stepsTotal.inc({ ...this.#labels, outcome: settled });
        setActiveSpanAttribute(ATTR.outcome, settled);
        if (settled === 'completed' || settled === 'dead_lettered') this.#finished(envelope);
        if (settled === 'stale') log.info({ attempt: envelope.attempt }, 'step.stale');
      } catch (err) {
        failActiveSpan(err);
        throw err;
      }
    });
  }

  async #process(context: EnvelopeContext, log: Logger): Promise<Settled> {
    const { envelope, message, lease, signal } = context;
    const input = await this.#loadInput(envelope, signal);
    if (input === null) {
      await this.#settler.deleteMessage(context);
      return 'stale';
    }
    // maxRatePerSecond and the endpoint's last Retry-After: the message waits for its turn, leased.
    await this.#step.gate.take(lease.signal);
    const outcome = await this.#call(envelope, input, lease.signal);
    if (outcome.kind === 'http-error' && (outcome.status === 429 || outcome.status === 503) && outcome.retryAfterInMs !== null) {
      // The endpoint asked to be left alone: no call of this step starts here before then.
      this.#step.gate.pauseUntil(performance.now() + Math.min(outcome.retryAfterInMs, MAX_STEP_PAUSE_IN_MS));
    }
    endpointDuration.observe({ ...this.#labels, status_class: statusClass(outcome.kind === 'transport-error' ? null : outcome.status) }, outcome.durationInMs / 1000);
    if (outcome.kind === 'ok') {
      // The lease keeps renewing through the settle writes; the delete stops it for its final receipt.
      const settled = await this.#settler.succeed(context, outcome);
      if (settled !== 'stale') log.info({ httpStatus: outcome.status, durationInMs: outcome.durationInMs, attempt: envelope.attempt }, `step.${settled}`);
      return settled;
    }
    const failure = { lastHttpStatus: outcome.kind === 'http-error' ? outcome.status : null, error: describeFailure(outcome) };
    failActiveSpan(failure.error);
    const decision = decideRedelivery({ outcome, attempt: envelope.attempt, rules: this.#redelivery, expiresOn: message.expiresOn, now: new Date(), random: Math.random });
    const settled =
      decision.kind === 'retry'
        ? await this.#settler.retry(context, failure, decision.delayInMs)
        : await this.#settler.deadLetter(context, { reason: decision.reason, ...failure, envelope });
    if (settled !== 'stale') {
      // Never the answer's text: an endpoint's error may quote the request's body. The status row
      // and the DLQ entry keep its first 512 bytes for whoever may read them.
      const code = outcome.kind === 'transport-error' ? outcome.code : null;
      const fields = { attempt: envelope.attempt, httpStatus: failure.lastHttpStatus, code, durationInMs: outcome.durationInMs };
      if (decision.kind === 'retry') log.warn({ ...fields, retryInMs: decision.delayInMs }, `step.${settled}`);
      else log.warn({ ...fields, reason: decision.reason }, `step.${settled}`);
    }
    return settled;
  }

  /**
   * The endpoint call, with the platform token for an endpointName step. A platform endpoint that
   * answers 401 gets one more call with a fresh token before the redelivery rules apply; a token
   * that cannot be had is an engine fault, which follows the default rule.
   */
  async #call(envelope: Envelope, input: Buffer, signal: AbortSignal): Promise<StepOutcome> {
    const url = endpointUrlOf(this.#step.endpoint, this.#demoBaseUrl());
    // Runtime refuses to run such a step where no demo endpoints are served; a bug otherwise.
    if (url === null) return { kind: 'transport-error', code: 'AE_INVALID_OPTION', detail: 'this process serves no demo endpoints', durationInMs: 0 };
    const call = (authorization: string | null): Promise<StepOutcome> =>
      callEndpoint(
        this.#http,
        {
          url,
          body: input,
          contentType: envelope.contentType,
          requestId: envelope.requestId,
          flow: envelope.flow,
          step: envelope.step,
          traceparent: envelope.traceparent,
          authorization,
          callTimeoutInMs: this.#step.callTimeoutInMs,
        },
        signal,
      );
    const tokens = this.#platformToken;
    if (this.#step.endpoint.kind !== 'platform' || tokens === null) return call(null);
    const started = performance.now();
    try {
      const token = await tokens.get();
      const outcome = await call(`Bearer ${token}`);
      if (outcome.kind !== 'http-error' || outcome.status !== 401) return outcome;
      tokens.invalidate(token);
      return await call(`Bearer ${await tokens.get()}`);
    } catch (err) {
      if (!isEngineError(err, 'AE_PLATFORM_TOKEN')) throw err;
      return { kind: 'transport-error', code: err.code, detail: err.message, durationInMs: Math.round(performance.now() - started) };
    }
  }

  #read(message: ReceivedMessage): Reading {
    let envelope: Envelope;
    let traceIgnored: string | null;
    try {
      ({ envelope, ignored: traceIgnored } = readEnvelope(message.messageText));
    } catch (err) {
      if (err instanceof EnvelopeError) return { kind: 'poison', error: err.message, envelope: null };
      throw err;
    }
    const step = this.#step;
    if (envelope.flow !== step.flowName || envelope.step !== step.index) {
      return {
        kind: 'poison',
        error: `the message is for flow "${envelope.flow}" step ${envelope.step}, but queue ${step.source.queue.name} feeds flow "${step.flowName}" step ${step.index}`,
        envelope: null,
      };
    }
    const { maxDequeueCount } = step.source.options;
    if (isPoisonByDequeueCount(message.dequeueCount, envelope.attempt, maxDequeueCount)) {
      const error = `received ${message.dequeueCount} times for ${envelope.attempt} attempt(s), more than maxDequeueCount ${maxDequeueCount}: engines kept failing on it`;
      return { kind: 'poison', error, envelope };
    }
    return { kind: 'ok', envelope, traceIgnored };
  }

  /**
   * The step's input, or null when its blob is gone: blobs are deleted only once a request is
   * complete (payloads.ts), so the message is a late duplicate if the row says the request moved on.
   */
  async #loadInput(envelope: Envelope, signal: AbortSignal): Promise<Buffer | null> {
    try {
      return await this.#payloads.load(envelope.body, signal);
    } catch (err) {
      if (!isEngineError(err, 'AE_NOT_FOUND')) throw err;
      const row = await this.#statusTable.get(envelope.requestId, signal);
      if (isPastStep(row?.status ?? null, envelope.step)) return null;
      throw err;
    }
  }

  /** Shutdown gave up on the step: make the message visible again at once for another replica. */
}

