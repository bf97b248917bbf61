/**
 * Wires the parts of the engine together: per flow step a worker pool, a step runner and a poller
 * on the step's source queue. Makes no decisions of its own.
 */
import { setMaxListeners } from 'node:events';
import type { EngineConfig, FlowStep } from '../config/types.js';
import type { OutboundHttp } from '../http/agent.js';
import type { PlatformToken } from '../http/platform-token.js';
import type { Logger } from '../observability/log.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { StepQueue } from '../storage/queues.js';
import type { DlqTable } from '../storage/dlq-table.js';
import type { StatusTable } from '../storage/status-table.js';
import { Callbacks } from './callbacks.js';
import { ExpirySweep } from './expiry-sweep.js';
import { Poller } from './poller.js';
import { StepRunner } from './step-runner.js';
import { WorkerPool } from './worker-pool.js';

/** Node's default warning threshold for listeners on one target. */
const DEFAULT_MAX_LISTENERS = 10;
/** A step's lease plus its storage calls under way at once. */
const LISTENERS_PER_STEP_IN_FLIGHT = 4;

export interface EngineOptions {
  config: EngineConfig;
  queues: ReadonlyMap<string, StepQueue>;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  payloads: PayloadStore;
  http: OutboundHttp;
  platformToken: PlatformToken | null;
  log: Logger;
}

export interface StepState {
  flow: string;
  step: FlowStep;
  pool: WorkerPool;
}

export class Engine {
  readonly #log: Logger;
  readonly #drainTimeoutInMs: number;
  readonly #work = new AbortController();
  readonly #pollers: Poller[] = [];
  readonly #steps: StepState[] = [];
  readonly #sweep: ExpirySweep;
  readonly #callbacks: Callbacks;
  #closing: Promise<void> | undefined;
  #isRunning = false;

  constructor({ config, queues, statusTable, dlqTable, payloads, http, platformToken, log }: EngineOptions) {
    this.#log = log;
    this.#drainTimeoutInMs = config.server.shutdownGraceInMs;
    const queueOf = (name: string): StepQueue => queues.get(name)!;
    this.#callbacks = new Callbacks({ agent: http.agent, statusTable, payloads, timeoutInMs: config.callback.timeoutInMs, retries: config.callback.retries, log });
    for (const flow of config.flows) {
      for (const step of flow.steps) {
        const queueOptions = config.queues.get(step.sourceQueueName)!;
        const pool = new WorkerPool({ size: step.maxThreads });
        const next = step.targetQueueName === null ? null : { queue: queueOf(step.targetQueueName), options: config.queues.get(step.targetQueueName)! };
        const runner = new StepRunner({
          flow,
          step,
          queue: queueOf(step.sourceQueueName),
          queueOptions,
          next,
          statusTable,
          dlqTable,
          payloads,
          http,
          redelivery: config.redelivery,
          callbacks: this.#callbacks,
          platformToken,
          inlineLimitBytes: config.payload.inlineLimitBytes,
          log,
        });
        this.#pollers.push(
          new Poller({
            queue: queueOf(step.sourceQueueName),
            queueOptions,
            pool,
            handle: (message, signal) => runner.run(message, signal),
            workSignal: this.#work.signal,
            log: log.child({ flow: flow.name, step: step.index }),
          }),
        );
        this.#steps.push({ flow: flow.name, step, pool });
      }
    }
    // Every step in flight holds abort listeners on the work signal: its lease's, and one for each of
    // its storage calls under way (a settle runs up to three at once). That many is expected, not a
    // leak, so Node's warning threshold is raised to it, and stays there to catch a real leak.
    const inFlightCapacity = this.#steps.reduce((n, s) => n + s.pool.size, 0);
    setMaxListeners(LISTENERS_PER_STEP_IN_FLIGHT * inFlightCapacity + DEFAULT_MAX_LISTENERS, this.#work.signal);
    this.#sweep = new ExpirySweep({ config, statusTable, dlqTable, callbacks: this.#callbacks, intervalInMs: config.server.expirySweepInMs, log });
  }

  /** One sweep for expired requests now (it also runs every server.config.expirySweepMs). */
  sweepExpired(now = new Date()): Promise<number> {
    return this.#sweep.sweep(now, this.#work.signal);
  }

  get steps(): readonly StepState[] {
    return this.#steps;
  }

  /** True between start() and close(). */
  get isRunning(): boolean {
    return this.#isRunning;
  }

  start(): void {
    this.#isRunning = true;
    for (const poller of this.#pollers) poller.start();
    this.#sweep.start();
    this.#log.info({ pollers: this.#pollers.length }, 'engine.pollers_started');
  }

  /**
   * Stops intake, lets in-flight steps finish for up to shutdownGraceMs, then aborts what is left
   * (each aborted step makes its message visible again at once). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#isRunning = false;
    await this.#sweep.close().catch((err: unknown) => this.#log.error({ err }, 'engine.sweep_stop_failed'));
    await Promise.all(this.#pollers.map((p) => p.stopIntake().catch((err: unknown) => this.#log.error({ err }, 'engine.poller_stop_failed'))));
    const inFlight = this.#steps.reduce((n, s) => n + s.pool.inFlight, 0);
    this.#log.info({ inFlight, graceInMs: this.#drainTimeoutInMs }, 'engine.draining');
    const drained = Promise.all(this.#steps.map((s) => s.pool.whenIdle()));
    let timer: NodeJS.Timeout | undefined;
    const isDrained = await Promise.race([
      drained.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.#drainTimeoutInMs))),
    ]);
    clearTimeout(timer);
    if (!isDrained) {
      const left = this.#steps.reduce((n, s) => n + s.pool.inFlight, 0);
      this.#log.warn({ inFlight: left }, 'engine.drain_timed_out');
      this.#work.abort(new Error('shutdown grace period over'));
      await drained;
    }
    await this.#callbacks.close(this.#drainTimeoutInMs);
    this.#log.info({}, 'engine.drained');
  }
}
