/**
 * Wires the parts of the engine together: per flow step a step runner and a poller on the step's
 * source queue, feeding the step's worker pool; the completion callbacks, with their own queue,
 * poller and pool; and the sweeper's duties, run while this replica is the elected sweeper: the
 * sweep over the time index (expiry and retention) and the one-off index pass. Makes no decisions
 * of its own.
 */
import { setMaxListeners } from 'node:events';
import { whenSettledOrAborted } from '../common/pause.js';
import type { RedeliveryOptions } from '../config/types.js';
import { EngineError } from '../errors.js';
import type { OutboundHttp } from '../http/agent.js';
import type { PlatformToken } from '../http/platform-token.js';
import type { Logger } from '../observability/log.js';
import type { Throughput } from '../observability/throughput.js';
import type { DlqTable } from '../storage/dlq-table.js';
import type { DueIndexTable } from '../storage/due-index.js';
import type { IdempotencyKeys } from '../storage/idempotency-keys.js';
import type { IndexMetaTable, MigrationProgress } from '../storage/index-meta.js';
import type { LockBlob } from '../storage/lock-blob.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { StepQueue } from '../storage/queues.js';
import type { ReplayJobTable } from '../storage/replay-jobs.js';
import type { StatusTable } from '../storage/status-table.js';
import type { CallbackTargets } from './callback-targets.js';
import { Callbacks } from './callbacks.js';
import type { Completions } from './completions.js';
import type { DueRules } from './due-rules.js';
import { allSteps, type Flows, type Step } from './flows.js';
import { IndexMigration } from './index-migration.js';
import { IndexSweep } from './index-sweep.js';
import { IndexVisits, type SweepCounts } from './index-visits.js';
import { Poller } from './poller.js';
import { StepRunner } from './step-runner.js';
import { SweeperElection } from './sweeper-election.js';

/** Node's default warning threshold for listeners on one target. */
const DEFAULT_MAX_LISTENERS = 10;
/** A step's lease plus its storage calls under way at once. */
const LISTENERS_PER_STEP_IN_FLIGHT = 4;

export interface EngineOptions {
  flows: Flows;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  payloads: PayloadStore;
  http: OutboundHttp;
  /** The engine's token for endpointName steps; null when no step needs one. */
  platformToken: PlatformToken | null;
  redelivery: RedeliveryOptions;
  /** callback.config, the engine's callback queue and how many callbacks it delivers at once. */
  callback: CallbackTargets & { timeoutInMs: number; retries: number; queue: StepQueue; concurrency: number };
  /** Told of every request this engine brings to a final state (Prefer: wait at the ingress). */
  completions: Completions;
  /** Counts what this engine settles and sweeps, for the dashboard. */
  throughput: Throughput;
  inlineLimitBytes: number;
  expirySweepInMs: number;
  /** The lock blob whose lease elects the replica that sweeps, and how often a standby asks for it. */
  sweeper: { lock: LockBlob; acquireIntervalInMs: number };
  /** How long close() lets in-flight work finish when it is given no deadline of its own. */
  shutdownGraceInMs: number;
  idempotency: IdempotencyKeys;
  replayJobs: ReplayJobTable;
  /** The time index the sweeps read, its meta row, the rules it keeps, and the one-off pass's allowance and page size. */
  index: { table: DueIndexTable; meta: IndexMetaTable; rules: DueRules; isMigrated: boolean; migrationDelayInMs: number; migrationPageSize: number };
  /** The base URL of this process's demo endpoints (steps may name them by path); null while none is served. */
  demoBaseUrl: () => string | null;
  log: Logger;
}

export class Engine {
  readonly #log: Logger;
  readonly #steps: readonly Step[];
  readonly #shutdownGraceInMs: number;
  readonly #work = new AbortController();
  readonly #pollers: Poller[];
  readonly #sweep: IndexSweep;
  readonly #migration: IndexMigration;
  readonly #sweeper: SweeperElection;
  readonly #callbacks: Callbacks;
  #closing: Promise<void> | undefined;
  #isRunning = false;

  constructor(options: EngineOptions) {
    const { flows, statusTable, dlqTable, payloads, http, platformToken, redelivery, callback, completions, throughput, inlineLimitBytes, sweeper, shutdownGraceInMs, demoBaseUrl, log } = options;
    this.#log = log;
    this.#shutdownGraceInMs = shutdownGraceInMs;
    this.#steps = allSteps(flows);
    this.#callbacks = new Callbacks({ ...callback, stepQueues: this.#steps.map((s) => s.source.options), http, statusTable, payloads, workSignal: this.#work.signal, log });
    this.#pollers = this.#steps.map((step) => {
      const runner = new StepRunner({ step, statusTable, dlqTable, payloads, http, redelivery, callbacks: this.#callbacks, completions, platformToken, inlineLimitBytes, throughput, demoBaseUrl, log });
      return new Poller({
        target: step,
        handle: (message, signal) => runner.run(message, signal),
        workSignal: this.#work.signal,
        log: log.child({ flow: step.flowName, step: step.index }),
      });
    });
    // Every step or callback in flight holds abort listeners on the work signal: its lease's, and one
    // for each of its storage calls under way (a settle runs up to three at once). That many is expected, not a
    // leak, so Node's warning threshold is raised to it, and stays there to catch a real leak.
    const inFlightCapacity = this.#steps.reduce((n, s) => n + s.pool.size, 0) + this.#callbacks.pool.size;
    setMaxListeners(LISTENERS_PER_STEP_IN_FLIGHT * inFlightCapacity + DEFAULT_MAX_LISTENERS, this.#work.signal);
    const { index } = options;
    const visits = new IndexVisits({
      rules: index.rules,
      index: index.table,
      statusTable,
      idempotency: options.idempotency,
      payloads,
      replayJobs: options.replayJobs,
      expiry: { flows, statusTable, dlqTable, callbacks: this.#callbacks, completions, throughput, log },
      log,
    });
    const sweep = new IndexSweep({ index: index.table, meta: index.meta, visits, intervalInMs: options.expirySweepInMs, migrationDelayInMs: index.migrationDelayInMs, log });
    const migration = new IndexMigration({ meta: index.meta, index: index.table, statusTable, idempotency: options.idempotency, rules: index.rules, pageSize: index.migrationPageSize, isDone: index.isMigrated, log });
    this.#sweep = sweep;
    this.#migration = migration;
    this.#sweeper = new SweeperElection({ ...sweeper, duties: [(term, signal) => sweep.run(term, signal), (term, signal) => migration.run(term, signal)], log });
  }

  /** One sweep now (it also runs every server.config.expirySweepMs); returns how many requests it recorded as expired. */
  async sweepExpired(now = new Date()): Promise<number> {
    return (await this.sweep(now)).expired;
  }

  /** One sweep over the time index as of `now`: what it visited, expired and deleted. */
  sweep(now = new Date()): Promise<SweepCounts> {
    return this.#sweep.sweep(now, this.#work.signal);
  }

  /**
   * Runs up to `maxPages` pages of the one-off index pass as of `now`, whether or not its cutoff has
   * passed (the sweeper runs it by itself once it has); returns its progress, null without a meta row.
   */
  migrateIndex(now = new Date(), maxPages = Number.POSITIVE_INFINITY): Promise<MigrationProgress | null> {
    return this.#migration.migrate(now, this.#work.signal, maxPages);
  }

  /** True between start() and close(). */
  get isRunning(): boolean {
    return this.#isRunning;
  }

  /** True while this replica holds the sweepers' lease and runs the sweeps. */
  get isSweeper(): boolean {
    return this.#sweeper.isSweeper;
  }

  start(): void {
    this.#isRunning = true;
    for (const poller of this.#pollers) poller.start();
    this.#callbacks.start();
    this.#sweeper.start();
    this.#log.info({ pollers: this.#pollers.length }, 'engine.pollers_started');
  }

  /**
   * Stops intake (the steps' and the callback queue's pollers; the sweeps, whose lease is then
   * released for another replica), lets in-flight steps and callbacks finish until `deadline`
   * aborts (by default after shutdownGraceMs), then aborts what is left: each aborted step or
   * callback makes its message visible again at once for another engine (a callback stays pending
   * until then). Idempotent: the first call's deadline holds.
   */
  close(deadline: AbortSignal = AbortSignal.timeout(this.#shutdownGraceInMs)): Promise<void> {
    this.#closing ??= this.#close(deadline);
    return this.#closing;
  }

  async #close(deadline: AbortSignal): Promise<void> {
    this.#isRunning = false;
    // Alongside the drain: the sweep finishes its row (cut off at the deadline), then the lease is released.
    const sweeperStopped = this.#sweeper.close(deadline).catch((err: unknown) => this.#log.error({ err }, 'engine.sweep_stop_failed'));
    const pollers = [...this.#pollers, this.#callbacks];
    await Promise.all(pollers.map((p) => p.close().catch((err: unknown) => this.#log.error({ err }, 'engine.poller_stop_failed'))));
    this.#log.info({ inFlight: this.#inFlight() }, 'engine.draining');
    // Steps settling now still queue their callbacks: whichever engine polls next delivers them.
    const drained = Promise.all([...this.#steps.map((s) => s.pool.whenIdle()), this.#callbacks.pool.whenIdle()]);
    if (!(await whenSettledOrAborted([drained], deadline))) {
      this.#log.warn({ inFlight: this.#inFlight() }, 'engine.drain_timed_out');
      this.#work.abort(new EngineError('AE_SHUTDOWN', 'the shutdown deadline passed'));
      await drained;
    }
    await sweeperStopped;
    this.#log.info({}, 'engine.drained');
  }

  /** Steps and callback deliveries at work. */
  #inFlight(): number {
    return this.#steps.reduce((n, s) => n + s.pool.inFlight, 0) + this.#callbacks.pool.inFlight;
  }
}
