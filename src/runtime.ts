/**
 * The running service, built from a validated configuration: storage (and the embedded emulator),
 * the flows resolved against their queues, the engine's pollers and workers, the outbound Agent,
 * the HTTP ingress and, with server.config.managementPort, the management server. Its role says
 * which of them run. The CLI's `start` runs one; tests start several side by side. Components are
 * constructed here, in engine.ts and in ingress/app.ts only.
 */
import { once } from 'node:events';
import type Koa from 'koa';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLoopbackAddress } from './common/addresses.js';
import { callbackQueueName } from './config/callback-queue.js';
import { type OwnAddress, ownAddressOf } from './common/own-address.js';
import { whenSettledOrAborted } from './common/pause.js';
import { issuerOf, OidcIssuer } from './auth/oidc-issuer.js';
import { TokenVerifier } from './auth/token-verifier.js';
import type { EngineConfig, OpenIdOptions } from './config/types.js';
import { createDemoRoutes } from './demo/endpoints.js';
import { callbackConcurrency } from './engine/callbacks.js';
import { Completions } from './engine/completions.js';
import { DueRules } from './engine/due-rules.js';
import { Engine } from './engine/engine.js';
import { ReplayJobs } from './engine/replay-jobs.js';
import { RequestIndex } from './engine/request-index.js';
import { allSteps, createFlows, endpointLabel, type Flows } from './engine/flows.js';
import { EngineError } from './errors.js';
import { createOutboundHttp, type OutboundHttp } from './http/agent.js';
import { PlatformToken, platformTokenRetryDelayInMs } from './http/platform-token.js';
import { Admission } from './ingress/admission.js';
import { createIngressApp, type IngressDeps } from './ingress/app.js';
import { createIngressServer } from './ingress/server.js';
import type { AuthDeps } from './ingress/auth.js';
import type { IngressState } from './ingress/state.js';
import type { HealthReport } from './ingress/routes/actuator.js';
import type { Logger } from './observability/log.js';
import { inFlightSteps, queueDepth, storageErrorsTotal, storageOperationsTotal } from './observability/metrics.js';
import type { StorageCallCounter } from './observability/storage-calls.js';
import { Throughput } from './observability/throughput.js';
import type { Tracing } from './observability/tracing.js';
import { DlqTable } from './storage/dlq-table.js';
import { DueIndexTable } from './storage/due-index.js';
import { IdempotencyKeys } from './storage/idempotency-keys.js';
import { IndexCommitter } from './storage/index-committer.js';
import { IndexMetaTable } from './storage/index-meta.js';
import { LockBlob, SWEEPER_LOCK_BLOB } from './storage/lock-blob.js';
import { PayloadStore } from './storage/payloads.js';
import { ReplayJobTable } from './storage/replay-jobs.js';
import { createStepQueue } from './storage/queues.js';
import { StatusTable } from './storage/status-table.js';
import { Storage } from './storage/storage.js';
import { translateStorageError } from './storage/storage-error.js';
import { VERSION } from './version.js';

/** Intervals inside the runtime that are not configuration; tests shorten them. */
export interface RuntimeTimings {
  /** How long a health answer is reused, so probes cannot hammer storage. */
  healthCacheInMs: number;
  /** The shortest time between two JWKS fetches for unknown key ids. */
  jwksCooldownInMs: number;
  /** How long the sweeper's blob lease lasts unless renewed: 15 to 60 whole seconds (Azure's bounds). */
  sweeperLeaseInMs: number;
  /** How often a replica that is not the sweeper asks for the lease. */
  sweeperAcquireIntervalInMs: number;
  /**
   * How long after the first engine of this version started against a table its one-off index pass
   * waits: the rolling upgrade's allowance, while replicas of the earlier version still write rows
   * without index rows (engine/index-migration.ts).
   */
  indexMigrationDelayInMs: number;
  /** Rows the index pass reads a page at a time (at most 1,000). */
  indexMigrationPageSize: number;
}

export const DEFAULT_RUNTIME_TIMINGS: Readonly<RuntimeTimings> = {
  healthCacheInMs: 1000,
  jwksCooldownInMs: 5000,
  // The longest lease Azure grants, and a standby asks every third of it: the election costs the
  // sweeper one renew and each standby one acquire every 20 s (4,320 small blob calls a day each, a
  // fixed cost beside a sweep's 33 calls or more), and a sweeper that dies
  // unannounced is replaced within 80 s at most, which sweeps every expirySweepMs (5 minutes by
  // default) hardly notice. One that stops cleanly is replaced at the next ask.
  sweeperLeaseInMs: 60_000,
  sweeperAcquireIntervalInMs: 20_000,
  indexMigrationDelayInMs: 3_600_000,
  indexMigrationPageSize: 1000,
};

/**
 * What one process runs. Any mix of roles on one storage account works together: storage is the
 * only coordination, and the pollers of every worker are competing consumers.
 * - `all`: everything below, in one process;
 * - `ingress`: the HTTP API (and its background DLQ replay jobs); no pollers, no sweeps;
 * - `worker`: the pollers, the sweeps and the callbacks; over HTTP only `/actuator/*`.
 */
export type RuntimeRole = 'all' | 'ingress' | 'worker';
export const RUNTIME_ROLES: readonly RuntimeRole[] = ['all', 'ingress', 'worker'];

export interface RuntimeOptions {
  log: Logger;
  /** Counts the storage calls of this runtime. */
  storageCalls: StorageCallCounter;
  /** Aborts start-up (a signal while storage is being set up). */
  abortSignal: AbortSignal;
  /** Overrides of {@link DEFAULT_RUNTIME_TIMINGS}. */
  timings?: Partial<RuntimeTimings>;
  /** Default `all`. */
  role?: RuntimeRole;
  /** The running tracing SDK (main.ts starts it when OTEL_* asks); close() flushes its spans. */
  tracing?: Tracing | null;
}

const HEALTH_TIMEOUT_IN_MS = 3000;
/**
 * The part of the shutdown grace period kept for what follows the drain: releasing the messages
 * of aborted steps (each release waits at most a second) and closing connections and storage.
 */
const CLOSE_RESERVE_IN_MS = 1000;

interface RuntimeParts {
  flows: Flows;
  admission: Admission;
  engine: Engine;
  replayJobs: ReplayJobs;
  indexCommitter: IndexCommitter;
  storage: Storage;
  /** null for a worker with a management port: it serves nothing else. */
  server: Server | null;
  /** null without server.config.managementPort. */
  managementServer: Server | null;
  http: OutboundHttp;
  issuer: OidcIssuer | null;
  /** Aborted at the drain deadline: route handlers still running stop. */
  closing: AbortController;
  /** Aborted as the shutdown begins: submissions waiting for their result (Prefer: wait) answer 202. */
  shuttingDown: AbortController;
  shutdownGraceInMs: number;
  tracing: Tracing | null;
  log: Logger;
}

export class Runtime {
  /** The configured flows, resolved against their queues. */
  readonly flows: Flows;
  /** The ingress's admission control (threadpool.config). */
  readonly admission: Admission;
  readonly engine: Engine;
  readonly storage: Storage;
  /** The ingress's base URL, e.g. http://127.0.0.1:8080; null for a worker with a management port, which opens no main port. */
  readonly url: string | null;
  /** The management server's base URL (server.config.managementPort); null without one. */
  readonly managementUrl: string | null;
  readonly #replayJobs: ReplayJobs;
  readonly #indexCommitter: IndexCommitter;
  readonly #server: Server | null;
  readonly #managementServer: Server | null;
  readonly #http: OutboundHttp;
  readonly #issuer: OidcIssuer | null;
  readonly #closingRoutes: AbortController;
  readonly #shuttingDown: AbortController;
  readonly #shutdownGraceInMs: number;
  readonly #tracing: Tracing | null;
  readonly #log: Logger;
  #closing: Promise<void> | undefined;

  private constructor({ flows, admission, engine, replayJobs, indexCommitter, storage, server, managementServer, http, issuer, closing, shuttingDown, shutdownGraceInMs, tracing, log }: RuntimeParts) {
    this.flows = flows;
    this.admission = admission;
    this.engine = engine;
    this.storage = storage;
    this.#replayJobs = replayJobs;
    this.#indexCommitter = indexCommitter;
    this.#server = server;
    this.#managementServer = managementServer;
    // Kept from the start: a closed server has no address any more.
    this.url = server === null ? null : urlOf(server);
    this.managementUrl = managementServer === null ? null : urlOf(managementServer);
    this.#http = http;
    this.#issuer = issuer;
    this.#closingRoutes = closing;
    this.#shuttingDown = shuttingDown;
    this.#shutdownGraceInMs = shutdownGraceInMs;
    this.#tracing = tracing;
    this.#log = log;
  }

  static async start(config: EngineConfig, { log, abortSignal, storageCalls, timings: overrides = {}, role = 'all', tracing = null }: RuntimeOptions): Promise<Runtime> {
    const timings: RuntimeTimings = { ...DEFAULT_RUNTIME_TIMINGS, ...overrides };
    const startedAt = new Date();
    const demoStep = config.flows.flatMap((f) => f.steps.map((s) => ({ flow: f.name, step: s }))).find(({ step }) => step.endpoint.kind === 'demo');
    if (role === 'worker' && demoStep) {
      // A worker serves no demo endpoints, and where an ingress serves them is not its to know.
      throw new EngineError(
        'AE_INVALID_CONFIG',
        `step ${demoStep.step.index} of flow "${demoStep.flow}" names the demo endpoints by path (${endpointLabel(demoStep.step.endpoint)}), which a worker does not serve: ` +
          'run it with --role all, or give the step the absolute endpointUrl of an ingress that serves them',
      );
    }
    storageCalls.onCall((kind) => storageOperationsTotal.inc({ kind }));
    storageCalls.onFailure((kind, failure) => storageErrorsTotal.inc({ kind, status_class: failure }));
    const storage = await Storage.open(config, { log, abortSignal, counter: storageCalls });
    // Whatever fails from here on, nothing started is left running (the embedded emulator above all).
    const undo: Array<() => Promise<unknown> | undefined> = [() => storage.close()];
    try {
      const { clients } = storage;
      const flows = createFlows(config.flows, config.queues, (name) => createStepQueue(clients.queues.getQueueClient(name)));
      const statusTable = new StatusTable(clients.statusTable);
      const dlqTable = new DlqTable(clients.dlqTable);
      const payloads = new PayloadStore({ container: clients.payloads, inlineLimitBytes: config.payload.inlineLimitBytes });
      // Before anything writes an index row: the meta row's first watermark is before all of them.
      const indexMeta = new IndexMetaTable(clients.statusTable);
      const { migration } = await indexMeta.open(startedAt, timings.indexMigrationDelayInMs, abortSignal);
      const dueIndex = new DueIndexTable(clients.statusTable);
      const indexCommitter = new IndexCommitter(dueIndex);
      undo.push(() => indexCommitter.close());
      const dueRules = new DueRules({ flows, retention: config.retention });
      const requestIndex = new RequestIndex({ committer: indexCommitter, rules: dueRules });
      const idempotency = new IdempotencyKeys(clients.statusTable, config.retention.idempotencyInMs);
      const replayJobTable = new ReplayJobTable(clients.statusTable);
      const http = createOutboundHttp(config.http, config.payload.maxResponseBytes);
      undo.push(() => http.agent.close());

      // One provider for both the ingress's tokens and the engine's own platform token.
      const openid: OpenIdOptions | null = config.auth.mode === 'oidc' ? config.auth.openid : (config.platformToken?.openid ?? null);
      const issuer = openid ? new OidcIssuer(openid, log) : null;
      issuer?.start();
      if (issuer) undo.push(() => issuer.close());
      let auth: AuthDeps | null = null;
      // Under "oidc" the issuer exists: `openid` above is the auth provider.
      if (config.auth.mode === 'oidc' && issuer) {
        const verifier = new TokenVerifier({ issuer, openid: config.auth.openid, jwksCooldownInMs: timings.jwksCooldownInMs });
        auth = { verifier, openid: config.auth.openid, roleMappings: [...config.rbac.apiMappings, ...config.rbac.applicationMappings], log };
      }
      const { managementPort, managementHost } = config.server;
      const hasPollers = role !== 'ingress';
      const hasApi = role !== 'worker';
      // A worker with a management port has nothing left for the main port to serve.
      const hasMainPort = hasApi || managementPort === null;
      if (config.auth.mode === 'none' && hasMainPort && !isLoopbackAddress(config.server.host)) {
        const exposed = hasApi ? 'submit, read and replay requests' : 'read health, metrics and information';
        log.warn({ host: config.server.host }, `SECURITY: server.config.auth is "none" on a non-loopback interface: anyone who can reach it may ${exposed}`);
      }
      if (config.auth.mode === 'none' && managementPort !== null && !isLoopbackAddress(managementHost)) {
        log.warn({ host: managementHost }, 'SECURITY: server.config.auth is "none" and managementHost is a non-loopback interface: anyone who can reach the management port may read health, metrics and information');
      }
      const { platformToken: credentials } = config;
      const platformToken = issuer && credentials ? new PlatformToken({ issuer, username: credentials.username, password: credentials.password, retryDelayInMs: platformTokenRetryDelayInMs, log }) : null;

      // Where the HTTP servers listen, once they do: no callback may point there.
      const ownAddresses: OwnAddress[] = [];
      // Where this process serves the demo endpoints, once it listens: demo steps follow the real port.
      let demoBaseUrl: string | null = null;
      const completions = new Completions();
      const throughput = new Throughput({ flows: config.flows });
      const engine = new Engine({
        flows,
        statusTable,
        dlqTable,
        payloads,
        http,
        platformToken,
        redelivery: config.redelivery,
        callback: {
          timeoutInMs: config.callback.timeoutInMs,
          retries: config.callback.retries,
          allowedHosts: config.callback.allowedHosts,
          ownAddresses: () => ownAddresses,
          queue: createStepQueue(clients.queues.getQueueClient(callbackQueueName(config.tables.statusTable))),
          concurrency: callbackConcurrency(config.http.routeConnections),
        },
        completions,
        throughput,
        inlineLimitBytes: config.payload.inlineLimitBytes,
        expirySweepInMs: config.server.expirySweepInMs,
        idempotency,
        replayJobs: replayJobTable,
        index: { table: dueIndex, meta: indexMeta, rules: dueRules, isMigrated: migration.state === 'done', migrationDelayInMs: timings.indexMigrationDelayInMs, migrationPageSize: timings.indexMigrationPageSize },
        sweeper: {
          lock: new LockBlob({ container: clients.payloads, blobName: SWEEPER_LOCK_BLOB, leaseDurationInMs: timings.sweeperLeaseInMs }),
          acquireIntervalInMs: timings.sweeperAcquireIntervalInMs,
        },
        shutdownGraceInMs: config.server.shutdownGraceInMs,
        demoBaseUrl: () => demoBaseUrl,
        log,
      });
      const closing = new AbortController();
      const shuttingDown = new AbortController();
      const replayJobs = new ReplayJobs({ flows, statusTable, dlqTable, index: requestIndex, jobTable: replayJobTable, closing: closing.signal, log });
      const admission = new Admission(config.admission);
      // Readiness: storage, and the provider under oidc; not the pollers (liveness covers them).
      const readiness = cachedHealth(async () => withAuth(await storageHealth(storage), issuer), timings.healthCacheInMs);
      const health = async (): Promise<HealthReport> => {
        const report = await storageHealth(storage);
        // An ingress has no pollers and runs no sweeps by design: their absence is no fault.
        return withAuth(hasPollers ? withSweeper(withPollers(report, engine), engine) : report, issuer);
      };
      const deps: IngressDeps = {
        served: { hasApi, hasActuator: managementPort === null },
        flows,
        statusTable,
        dlqTable,
        payloads,
        maxBodyBytes: config.server.maxBodyBytes,
        requestTimeoutInMs: config.server.requestTimeoutInMs,
        ownership: { ownRequestsOnly: config.rbac.ownRequestsOnly, adminRoles: config.rbac.adminRoles },
        admission,
        idempotency,
        index: requestIndex,
        allowedCallbackHosts: config.callback.allowedHosts,
        ownAddresses: () => ownAddresses,
        completions,
        maxWaitInSeconds: config.server.maxWaitInSeconds,
        shuttingDown: shuttingDown.signal,
        // The demo service stands in for external endpoints, which the engine calls without a token.
        publicRouters: hasApi && config.server.demoEndpoints ? [createDemoRoutes({ maxBytes: config.server.maxBodyBytes, timeoutInMs: config.server.requestTimeoutInMs })] : [],
        trustProxy: config.server.trustProxy,
        trustedProxies: config.server.trustedProxies,
        auth,
        health: cachedHealth(health, timings.healthCacheInMs),
        // The event loop answers this; a process with pollers is live while they run.
        isLive: hasPollers ? () => engine.isRunning : () => true,
        isReady: async () => (await readiness()).status === 'UP',
        refreshGauges: () => refreshGauges(flows),
        info: () => ({
          version: VERSION,
          role,
          startedAt: startedAt.toISOString(),
          uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
          flows: config.flows.map((f) => ({ name: f.name, steps: f.steps.length })),
        }),
        replayJobs,
        throughput,
        role,
        ui: config.auth.mode === 'oidc' ? { auth: 'oidc', issuer: issuerOf(config.auth.openid), clientId: config.ui.clientId } : { auth: 'none' },
        log,
      };
      const { maxConnections, headersTimeoutInMs, requestTimeoutInMs, maxBodyBytes } = config.server;
      const limits = { maxConnections, headersTimeoutInMs, requestTimeoutInMs, maxBodyBytes };
      const listen = async (app: Koa<IngressState>, port: number, host: string): Promise<Server> => {
        const server = createIngressServer(app.callback(), limits);
        server.listen(port, host);
        undo.push(() => closed(server));
        await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
        ownAddresses.push(ownAddressOf(host, server.address() as AddressInfo));
        return server;
      };
      const server = hasMainPort ? await listen(createIngressApp(deps), config.server.port, config.server.host) : null;
      if (server !== null && deps.publicRouters.length > 0) demoBaseUrl = loopbackUrlOf(server);
      // The management server: /actuator/* only, and no authentication (kubelet probes, in-cluster scrapes).
      const managementServer =
        managementPort === null
          ? null
          : await listen(createIngressApp({ ...deps, served: { hasApi: false, hasActuator: true }, publicRouters: [], auth: null }), managementPort, managementHost);
      if (hasPollers) engine.start();
      const runtime = new Runtime({
        flows,
        admission,
        engine,
        replayJobs,
        indexCommitter,
        storage,
        server,
        managementServer,
        http,
        issuer,
        closing,
        shuttingDown,
        shutdownGraceInMs: config.server.shutdownGraceInMs,
        tracing,
        log,
      });
      if (runtime.url !== null) log.info({ url: runtime.url }, 'ingress.listening');
      if (runtime.managementUrl !== null) log.info({ url: runtime.managementUrl }, 'management.listening');
      return runtime;
    } catch (err) {
      await Promise.allSettled(undo.reverse().map(async (close) => close()));
      throw err;
    }
  }

  /**
   * Stops within server.config.shutdownGraceMs in all: stops intake (the server accepts no new
   * connection, the pollers no new message), lets HTTP requests, steps and callbacks in flight
   * finish until the drain deadline, then closes every connection left, aborts the rest of the
   * work (its messages are released for another engine) and closes the provider, the Agent and
   * storage; last, the spans of what ran are exported, within what is left of the grace period.
   * Every step runs even if one fails. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const grace = this.#shutdownGraceInMs;
    // The whole shutdown's deadline: the spans' export may use what the steps before leave of it.
    const closeDeadline = AbortSignal.timeout(grace);
    const drainDeadline = AbortSignal.timeout(Math.max(grace - Math.min(CLOSE_RESERVE_IN_MS, grace / 4), 0));
    const server = this.#server;
    const management = this.#managementServer;
    const serverClosed = server === null ? Promise.resolve() : closed(server);
    // The management server takes no part in the drain: a scrape or probe in flight is cut at its end.
    const managementClosed = management === null ? Promise.resolve() : closed(management);
    // Submissions waiting for their result would hold the drain: they answer 202 now.
    this.#shuttingDown.abort();
    // Idle keep-alive connections would hold server.close() open; requests in flight still finish.
    server?.closeIdleConnections();
    management?.closeIdleConnections();
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['drain', () => Promise.all([this.engine.close(drainDeadline), whenSettledOrAborted([serverClosed], drainDeadline)])],
      [
        'ingress',
        async () => {
          this.#closingRoutes.abort(new EngineError('AE_SHUTDOWN', 'the shutdown deadline passed'));
          server?.closeAllConnections();
        },
      ],
      [
        'management',
        async () => {
          management?.closeAllConnections();
          await managementClosed;
        },
      ],
      ['replay-jobs', () => this.#replayJobs.close()],
      // After the drain and the replay jobs: nothing is left to write an index row.
      ['index-writer', () => this.#indexCommitter.close()],
      ['auth', async () => this.#issuer?.close()],
      // Whatever still holds a connection was aborted above; destroy does not wait for it.
      ['agent', () => (drainDeadline.aborted ? this.#http.agent.destroy() : this.#http.agent.close())],
      ['storage', () => this.storage.close()],
      ['tracing', async () => this.#tracing?.flush(closeDeadline)],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        this.#log.error({ err, component: name }, 'runtime.close_failed');
      }
    }
  }
}

/** Stops `server` listening; resolves once its last connection has closed. */
function closed(server: Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

function urlOf(server: Server): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** The server's URL as this process reaches it: a wildcard address (0.0.0.0, ::) becomes loopback. */
function loopbackUrlOf(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  if (address === '0.0.0.0') return `http://127.0.0.1:${port}`;
  if (address === '::') return `http://[::1]:${port}`;
  return urlOf(server);
}

async function storageHealth(storage: Storage): Promise<HealthReport> {
  try {
    await storage.clients.queues.getProperties({ abortSignal: AbortSignal.timeout(HEALTH_TIMEOUT_IN_MS) });
    return { status: 'UP', components: { storage: { status: 'UP' } } };
  } catch (err) {
    return { status: 'DOWN', components: { storage: { status: 'DOWN', detail: translateStorageError(err, 'checking storage').message } } };
  }
}

function withAuth(report: HealthReport, issuer: OidcIssuer | null): HealthReport {
  if (!issuer) return report;
  const problem = issuer.problem;
  const auth = problem === null ? ({ status: 'UP' } as const) : ({ status: 'DOWN', detail: `the OpenID provider is not reachable: ${problem}` } as const);
  return { status: report.status === 'UP' && auth.status === 'UP' ? 'UP' : 'DOWN', components: { ...report.components, auth } };
}

function withPollers(report: HealthReport, engine: Engine): HealthReport {
  const pollers = engine.isRunning ? ({ status: 'UP' } as const) : ({ status: 'DOWN', detail: 'the engine is not polling' } as const);
  return { status: report.status === 'UP' && pollers.status === 'UP' ? 'UP' : 'DOWN', components: { ...report.components, pollers } };
}

/** Whether this replica runs the sweeps: for operators, never a reason to be DOWN (another replica may sweep). */
function withSweeper(report: HealthReport, engine: Engine): HealthReport {
  const detail = engine.isSweeper ? 'this replica is the sweeper' : 'standing by';
  return { ...report, components: { ...report.components, sweeper: { status: 'UP', detail } } };
}

/** Sets the gauges from the steps' pools and the queues' approximate counts (one call per queue). */
async function refreshGauges(flows: Flows): Promise<void> {
  await Promise.all(
    allSteps(flows).map(async ({ flowName, index, pool, source }) => {
      const labels = { flow: flowName, step: String(index) };
      inFlightSteps.set(labels, pool.inFlight);
      try {
        queueDepth.set(labels, await source.queue.approximateMessageCount(AbortSignal.timeout(HEALTH_TIMEOUT_IN_MS)));
      } catch {
        // A scrape must not fail because storage is slow: the gauge keeps its last value.
      }
    }),
  );
}

function cachedHealth(check: () => Promise<HealthReport>, cacheInMs: number): () => Promise<HealthReport> {
  let last: { at: number; report: Promise<HealthReport> } | undefined;
  return () => {
    if (!last || performance.now() - last.at > cacheInMs) last = { at: performance.now(), report: check() };
    return last.report;
  };
}
