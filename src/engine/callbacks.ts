/**
 * Completion callbacks: when a request that gave an X-Callback-Url reaches a final state, the
 * engine POSTs its status JSON (with the result of a completed request) to that URL, with
 * callback.config's time-out and retries, following no redirect, and records the outcome in the
 * status row (`pending`, then `delivered` or `failed`).
 *
 * A callback is work like a step, so it travels like one: through a queue of the engine's own
 * (config/callback-queue.ts), at least once. Whoever writes a request's final status with a
 * callback URL (the settle of its last step or of its dead-lettering, the expiry sweep) sends a
 * callback message after that write and before deleting its own message (settle.ts), and a poller
 * with a small pool of its own delivers it under a lease, with retries as queue redeliveries
 * (callback-delivery.ts). Nothing lives only in memory: a crash, a restart or a receiver that is
 * down for a while delays a callback, and whichever engine polls next delivers it.
 *
 * The URL is judged at submission and again before each delivery (callback-targets.ts).
 */
import type { QueueOptions } from '../config/types.js';
import type { OutboundHttp } from '../http/agent.js';
import type { Logger } from '../observability/log.js';
import { CALLBACK_MESSAGE_VERSION, encodeCallbackMessage } from '../storage/callback-message.js';
import type { PayloadStore } from '../storage/payloads.js';
import { MAX_RECEIVE_COUNT, type StepQueue } from '../storage/queues.js';
import type { StatusTable } from '../storage/status-table.js';
import { CallbackDelivery } from './callback-delivery.js';
import type { CallbackTargets } from './callback-targets.js';
import { PollState } from './poll-state.js';
import { Poller, type PollTarget } from './poller.js';
import { RateGate } from './rate-gate.js';
import { WorkerPool } from './worker-pool.js';

export interface CallbacksOptions extends CallbackTargets {
  /** The engine's callback queue. */
  queue: StepQueue;
  /** The step queues' options: the callback queue is polled as patiently as they are when idle. */
  stepQueues: readonly QueueOptions[];
  /** Deliveries at once in this process (see {@link callbackConcurrency}). */
  concurrency: number;
  /** The engine's outbound Agent and connection permits, shared with the endpoint calls. */
  http: OutboundHttp;
  statusTable: StatusTable;
  payloads: PayloadStore;
  timeoutInMs: number;
  retries: number;
  /** Aborted when the engine gives up on in-flight work (at the shutdown deadline). */
  workSignal: AbortSignal;
  log: Logger;
}

/** The poll waits of a deployment without steps (queue.config's defaults). */
const DEFAULT_POLL_DELAY_IN_MS = 500;
const DEFAULT_MAX_IDLE_DELAY_IN_MS = 5000;
/**
 * A received callback stays hidden for its time-out plus this, so its lease seldom needs renewing
 * (reading the status row and the result comes on top of the POST); at most a minute, since that is
 * how long a callback held by an engine that died waits before another engine takes it.
 */
const VISIBILITY_MARGIN_IN_MS = 5000;
const MAX_VISIBILITY_IN_MS = 60_000;
/** queue.config's default: a callback message received this often beyond its attempts is given up. */
const MAX_DEQUEUE_COUNT = 5;

/**
 * How many callbacks one engine delivers at once: http.connection.config.routeConnections, at most
 * 32. More could not be connected to one receiver at once anyway (routeConnections is the limit per
 * origin), one receive (at most 32 messages) fills the pool, and the endpoint calls keep
 * totalConnections - routeConnections of the shared connection permits whatever the callbacks do.
 */
export function callbackConcurrency(routeConnections: number): number {
  return Math.max(1, Math.min(routeConnections, MAX_RECEIVE_COUNT));
}

/**
 * The callback queue's options, derived rather than configured: polled as soon as the quickest step
 * queue (`delay`) and, when idle, as seldom as the most patient one (`maxIdleDelay`), greedily (the
 * pool bounds it); its messages never expire (retries bound a callback's life, and an expired
 * message would leave its callback pending for ever).
 */
export function callbackQueueOptions(name: string, stepQueues: readonly QueueOptions[], timeoutInMs: number): QueueOptions {
  const delays = stepQueues.map((q) => q.pollDelayInMs);
  const idleDelays = stepQueues.map((q) => q.maxIdleDelayInMs);
  return {
    name,
    maxMessages: MAX_RECEIVE_COUNT,
    pollDelayInMs: delays.length > 0 ? Math.min(...delays) : DEFAULT_POLL_DELAY_IN_MS,
    maxIdleDelayInMs: idleDelays.length > 0 ? Math.max(...idleDelays) : DEFAULT_MAX_IDLE_DELAY_IN_MS,
    greedy: true,
    timeToLiveInMs: null,
    visibilityTimeoutInMs: Math.min(timeoutInMs + VISIBILITY_MARGIN_IN_MS, MAX_VISIBILITY_IN_MS),
    maxDequeueCount: MAX_DEQUEUE_COUNT,
  };
}

/** The engine's callback queue: sending to it, and the poller and pool that deliver from it. */
export class Callbacks {
  readonly #lane: PollTarget;
  readonly #poller: Poller;

  constructor({ queue, stepQueues, concurrency, http, statusTable, payloads, timeoutInMs, retries, allowedHosts, ownAddresses, workSignal, log }: CallbacksOptions) {
    this.#lane = {
      source: { queue, options: callbackQueueOptions(queue.name, stepQueues, timeoutInMs) },
      pool: new WorkerPool({ size: concurrency }),
      polling: new PollState(),
      gate: new RateGate({ maxRatePerSecond: null, now: () => performance.now() }),
    };
    const delivery = new CallbackDelivery({
      source: this.#lane.source,
      polling: this.#lane.polling,
      http,
      statusTable,
      payloads,
      targets: { allowedHosts, ownAddresses },
      timeoutInMs,
      retries,
      log,
    });
    this.#poller = new Poller({ target: this.#lane, handle: (message, signal) => delivery.run(message, signal), workSignal, log: log.child({ callbacks: true }) });
  }

  /** The deliveries' pool: the engine drains it with the steps'. */
  get pool(): WorkerPool {
    return this.#lane.pool;
  }

  /**
   * Queues the callback of request `requestId`'s outcome that was written with `completedAt`: after
   * that final status is written, or, with `hiddenForInMs`, before it, hidden for longer than the
   * write can take (a delivery that comes before the outcome, or for one never written, is dropped).
   * Wakes this engine's poller when the message is visible at once, so an idle engine delivers it.
   */
  async send(requestId: string, completedAt: Date, signal: AbortSignal, hiddenForInMs = 0): Promise<void> {
    const text = encodeCallbackMessage({ v: CALLBACK_MESSAGE_VERSION, requestId, completedAt: completedAt.toISOString(), attempt: 1 });
    await this.#lane.source.queue.send(text, { timeToLiveInMs: null, hiddenForInMs, abortSignal: signal });
    if (hiddenForInMs === 0) this.#lane.polling.wake();
  }

  start(): void {
    this.#poller.start();
  }

  /** Stops receiving; deliveries under way go on in the pool, which the engine drains. Idempotent. */
  close(): Promise<void> {
    return this.#poller.close();
  }
}
