/**
 * The running service, built from a validated configuration: storage (and the embedded emulator),
 * the engine's pollers and workers, the outbound Agent and the HTTP ingress. The CLI's `start`
 * runs one; tests start several side by side. Components are constructed here, in engine.ts and in
 * ingress/app.ts only.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EngineConfig, QueueOptions } from './config/types.js';
import { isPrivateAddress } from './common/addresses.js';
import { OidcIssuer } from './auth/oidc-issuer.js';
import { TokenVerifier } from './auth/token-verifier.js';
import { createDemoRoutes } from './demo/endpoints.js';
import { Engine } from './engine/engine.js';
import { createOutboundHttp, type OutboundHttp } from './http/agent.js';
import { PlatformToken } from './http/platform-token.js';
import { Admission } from './ingress/admission.js';
import { createIngressApp } from './ingress/app.js';
import type { HealthReport } from './ingress/routes/actuator.js';
import type { Logger } from './observability/log.js';
import { inFlightSteps, queueDepth, storageOperationsTotal } from './observability/metrics.js';
import type { StorageCallCounter } from './observability/storage-calls.js';
import { DlqTable } from './storage/dlq-table.js';
import { IdempotencyKeys } from './storage/idempotency-keys.js';
import { PayloadStore } from './storage/payloads.js';
import { createStepQueue, type StepQueue } from './storage/queues.js';
import { StatusTable } from './storage/status-table.js';
import { Storage } from './storage/storage.js';
import { translateStorageError } from './storage/storage-error.js';
import { VERSION } from './version.js';

export interface RuntimeOptions {
  log: Logger;
  /** Counts the storage calls of this runtime. */
  storageCalls: StorageCallCounter;
  /** Aborts start-up (a signal while storage is being set up). */
  abortSignal: AbortSignal;
}

/** The shortest time between two JWKS fetches for unknown key ids. */
const JWKS_COOLDOWN_IN_MS = 5000;

/** How long an Idempotency-Key is remembered. */
const IDEMPOTENCY_RETENTION_IN_MS = 24 * 3600 * 1000;

/** How long a health answer is reused, so probes cannot hammer storage. */
const HEALTH_CACHE_IN_MS = 1000;
const HEALTH_TIMEOUT_IN_MS = 3000;

export class Runtime {
  readonly engine: Engine;
  readonly storage: Storage;
  readonly #server: Server;
  readonly #http: OutboundHttp;
  readonly #log: Logger;
  readonly #issuer: OidcIssuer | null;
  #closing: Promise<void> | undefined;

  private constructor(parts: { engine: Engine; storage: Storage; server: Server; http: OutboundHttp; issuer: OidcIssuer | null; log: Logger }) {
    this.engine = parts.engine;
    this.storage = parts.storage;
    this.#server = parts.server;
    this.#http = parts.http;
    this.#log = parts.log;
    this.#issuer = parts.issuer;
  }

  static async start(config: EngineConfig, { log, abortSignal, storageCalls }: RuntimeOptions): Promise<Runtime> {
    const startedAt = new Date();
    storageCalls.onCall((kind) => storageOperationsTotal.inc({ kind }));
    const storage = await Storage.open(config, { log, abortSignal, counter: storageCalls });
    // Whatever fails from here on, nothing started is left running (the embedded emulator above all).
    const undo: Array<() => Promise<unknown> | void> = [() => storage.close()];
    try {
      const { clients } = storage;
      const queues = new Map<string, StepQueue>([...config.queues.keys()].map((name) => [name, createStepQueue(clients.queues.getQueueClient(name))]));
      const statusTable = new StatusTable(clients.statusTable);
      const dlqTable = new DlqTable(clients.dlqTable);
      const payloads = new PayloadStore({ container: clients.payloads, inlineLimitBytes: config.payload.inlineLimitBytes });
      const http = createOutboundHttp(config.http);
      undo.push(() => http.agent.close());
      const issuer = config.openid && (config.server.auth === 'oidc' || usesPlatformEndpoints(config)) ? new OidcIssuer(config.openid, log) : null;
      issuer?.start();
      if (issuer) undo.push(() => issuer.close());
      const auth =
        config.server.auth === 'oidc'
          ? {
              verifier: new TokenVerifier({ issuer: issuer!, openid: config.openid!, jwksCooldownInMs: JWKS_COOLDOWN_IN_MS }),
              openid: config.openid!,
              roleMappings: [...config.rbac.apiMappings, ...config.rbac.applicationMappings],
              log,
            }
          : null;
      if (config.server.auth === 'none' && !isPrivateAddress(config.server.host)) {
        log.warn({ host: config.server.host }, 'SECURITY: server.config.auth is "none" on a non-loopback interface: anyone who can reach it may submit, read and replay requests');
      }
      const platformToken =
        issuer && usesPlatformEndpoints(config) ? new PlatformToken({ issuer, username: config.platform.username!, password: config.platform.password!, log }) : null;
      const engine = new Engine({ config, queues, statusTable, dlqTable, payloads, http, platformToken, log });

      const queuesWithOptions = new Map([...queues].map(([name, queue]) => [name, { queue, options: config.queues.get(name)! }]));
      const entryQueues = new Map<string, { queue: StepQueue; options: QueueOptions }>(
        config.flows.map((flow) => [flow.name, queuesWithOptions.get(flow.steps[0]!.sourceQueueName)!]),
      );
      const app = createIngressApp({
        flows: new Map(config.flows.map((f) => [f.name, f])),
        statusTable,
        dlqTable,
        payloads,
        entryQueues,
        queues: queuesWithOptions,
        maxBodyBytes: config.server.maxBodyBytes,
        admission: new Admission(config.admission),
        idempotency: new IdempotencyKeys(clients.statusTable, IDEMPOTENCY_RETENTION_IN_MS),
        allowedCallbackHosts: config.callback.allowedHosts,
        // The demo service stands in for external endpoints, which the engine calls without a token.
        publicRouters: config.server.demoEndpoints ? [createDemoRoutes(config.server.maxBodyBytes)] : [],
        trustProxy: config.server.trustProxy,
        auth,
        health: cachedHealth(async () => withAuth(withPollers(await storageHealth(storage), engine), issuer)),
        refreshGauges: () => refreshGauges(engine, queues),
        inFlight: (flow, step) => engine.steps.find((s) => s.flow === flow && s.step.index === step)?.pool.inFlight ?? 0,
        info: () => ({
          version: VERSION,
          startedAt: startedAt.toISOString(),
          uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
          flows: config.flows.map((f) => ({ name: f.name, steps: f.steps.length })),
        }),
        log,
      });
      const server = app.listen(config.server.port, config.server.host);
      undo.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
      engine.start();
      const runtime = new Runtime({ engine, storage, server, http, issuer, log });
      log.info({ url: runtime.url }, 'ingress.listening');
      return runtime;
    } catch (err) {
      await Promise.allSettled(undo.reverse().map(async (close) => close()));
      throw err;
    }
  }

  /** The ingress's base URL, e.g. http://127.0.0.1:8080. */
  get url(): string {
    const address = this.#server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /**
   * Stops accepting requests, drains the engine (see Engine.close), then closes the Agent and
   * storage. Every step runs even if one fails. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const steps: Array<[string, () => Promise<unknown>]> = [
        ['ingress', () => new Promise<void>((resolve) => this.#server.close(() => resolve()))],
        ['engine', () => this.engine.close()],
        ['auth', async () => this.#issuer?.close()],
        ['agent', () => this.#http.agent.close()],
        ['storage', () => this.storage.close()],
      ];
      // Idle keep-alive connections would hold server.close() open; in-flight requests still finish.
      this.#server.closeIdleConnections();
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          this.#log.error({ err, component: name }, 'runtime.close_failed');
        }
      }
    })();
    return this.#closing;
  }
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

function usesPlatformEndpoints(config: EngineConfig): boolean {
  return config.flows.some((flow) => flow.steps.some((step) => step.endpoint.kind === 'platform'));
}

function withPollers(report: HealthReport, engine: Engine): HealthReport {
  const pollers = engine.isRunning ? ({ status: 'UP' } as const) : ({ status: 'DOWN', detail: 'the engine is not polling' } as const);
  return { status: report.status === 'UP' && pollers.status === 'UP' ? 'UP' : 'DOWN', components: { ...report.components, pollers } };
}

/** Sets the gauges from the engine's pools and the queues' approximate counts (one call per queue). */
async function refreshGauges(engine: Engine, queues: ReadonlyMap<string, StepQueue>): Promise<void> {
  await Promise.all(
    engine.steps.map(async ({ flow, step, pool }) => {
      const labels = { flow, step: String(step.index) };
      inFlightSteps.set(labels, pool.inFlight);
      try {
        queueDepth.set(labels, await queues.get(step.sourceQueueName)!.approximateMessageCount(AbortSignal.timeout(HEALTH_TIMEOUT_IN_MS)));
      } catch {
        // A scrape must not fail because storage is slow: the gauge keeps its last value.
      }
    }),
  );
}

function cachedHealth(check: () => Promise<HealthReport>): () => Promise<HealthReport> {
  let last: { at: number; report: Promise<HealthReport> } | undefined;
  return () => {
    if (!last || Date.now() - last.at > HEALTH_CACHE_IN_MS) last = { at: Date.now(), report: check() };
    return last.report;
  };
}
