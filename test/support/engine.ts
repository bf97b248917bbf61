/**
 * Whole engines for tests: configuration documents on a test Azurite with unique queue and table
 * names, and runtimes started in-process with their log lines and storage calls captured.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../src/config/load.js';
import type { EngineConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/observability/log.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { Runtime, type RuntimeRole, type RuntimeTimings } from '../../src/runtime.js';
import { after, before } from 'node:test';
import { startAzurite, uniqueQueueName, uniqueTableName, type TestAzurite } from './azurite.js';
import { EndpointServer, echo, type Handler } from './endpoints.js';
import { eventually } from './eventually.js';

export interface StepSpec {
  url: string;
  maxThreads?: number;
}

export interface QueueSpec {
  maxMessages?: number;
  delay?: number;
  maxIdleDelay?: number;
  greedy?: boolean;
  timeToLive?: number;
  visibilityTimeout?: number;
  maxDequeueCount?: number;
}

export interface FlowDocOptions {
  steps: StepSpec[];
  /** Applied to every queue; `perQueue[i]` to the queue of step i. */
  queue?: QueueSpec;
  perQueue?: QueueSpec[];
  flowName?: string;
  /** Extra top-level keys (server.config is merged over the test defaults). */
  extra?: Record<string, unknown>;
}

/** A one-flow document on the test Azurite, with fresh queue, table and container names. */
export function flowDocument(azurite: TestAzurite, { steps, queue = {}, perQueue = [], flowName = 'flow', extra = {} }: FlowDocOptions): Record<string, unknown> {
  const names = steps.map(() => uniqueQueueName('step'));
  const { ['server.config']: server, ...rest } = extra;
  return {
    'azure.storage.config': { connectionString: azurite.connectionString },
    // A short idle back-off: work a test puts in a queue from outside this engine (another engine, a
    // message written straight to the queue) is found soon; the back-off's own tests set their own.
    'queue.config': names.map((name, i) => ({ name, delay: 50, maxIdleDelay: 200, greedy: true, maxMessages: 8, ...queue, ...perQueue[i] })),
    'flow.config': [
      {
        flowName,
        queueMappings: steps.map((step, i) => ({
          initial: i === 0,
          sourceQueueName: names[i],
          endpointUrl: step.url,
          ...(i + 1 < names.length ? { targetQueueName: names[i + 1] } : {}),
          maxThreads: step.maxThreads ?? 8,
        })),
      },
    ],
    'table.config': { statusTable: uniqueTableName('Status'), dlqTable: uniqueTableName('Dlq') },
    'payload.config': { container: `payloads-${randomBytes(4).toString('hex')}` },
    'server.config': { auth: 'none', port: 0, shutdownGraceMs: 10_000, ...(server as object | undefined) },
    ...rest,
  };
}

/** One document holding the flows and queues of all `documents`, the rest as the first has it. */
export function withFlowsOf(...documents: Array<Record<string, unknown>>): Record<string, unknown> {
  const all = (key: string): unknown[] => documents.flatMap((d) => d[key] as unknown[]);
  return { ...documents[0], 'queue.config': all('queue.config'), 'flow.config': all('flow.config') };
}

export function configOf(document: Record<string, unknown>): EngineConfig {
  return parseConfig(document, { source: 'test', env: {} }).config;
}

export interface TestEngine {
  runtime: Runtime;
  /** The ingress's URL; throws for a worker with a management port, which opens no main port. */
  readonly url: string;
  /** The management server's URL; null without server.config.managementPort. */
  readonly managementUrl: string | null;
  storageCalls: StorageCallCounter;
  logs: Array<Record<string, unknown>>;
  /** Log lines whose message is `msg`. */
  logged(msg: string): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** `timings` shortens the runtime's internal intervals (health cache, JWKS cool-down) for a test; `role` is `all` by default. */
export async function startEngine(config: EngineConfig, timings: Partial<RuntimeTimings> = {}, role: RuntimeRole = 'all'): Promise<TestEngine> {
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: 'debug',
    destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const storageCalls = new StorageCallCounter();
  const runtime = await Runtime.start(config, { log, abortSignal: AbortSignal.timeout(60_000), storageCalls, timings, role });
  const { url } = runtime;
  return {
    runtime,
    get url() {
      if (url === null) throw new Error('this engine opens no main port (a worker with a management port)');
      return url;
    },
    managementUrl: runtime.managementUrl,
    storageCalls,
    logs,
    logged: (msg) => logs.filter((l) => l['msg'] === msg),
    close: () => runtime.close(),
  };
}

/** POSTs a body to a flow and returns the accepted request's id. */
export async function submit(engine: { url: string }, flow: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${engine.url}/api/flows/${flow}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

export async function getStatus(engine: { url: string }, id: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${engine.url}/api/requests/${id}`);
  if (response.status !== 200) throw new Error(`status answered ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

/** Waits until request `id` has status `expected` (30 s by default) and returns its status JSON. */
export async function waitForStatus(engine: { url: string }, id: string, expected: string, timeoutInMs = 30_000): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      const status = await getStatus(engine, id);
      assert.equal(status['status'], expected);
      return status;
    },
    { timeoutInMs },
  );
}

export interface EngineSuite {
  /** The suite's Azurite, started before its first test. */
  readonly azurite: TestAzurite;
  /** An endpoint server closed after the suite. */
  endpoint(handler?: Handler): Promise<EndpointServer>;
  /** An engine started from `document` in `role` (default `all`), closed after the suite. */
  engine(document: Record<string, unknown>, timings?: Partial<RuntimeTimings>, role?: RuntimeRole): Promise<TestEngine>;
  /** Runs `close` after the suite (in reverse order of registration). */
  onClose(close: () => Promise<unknown>): void;
}

/**
 * Registers before/after hooks in the current describe block: one Azurite for the suite, and
 * everything the tests start closed when it ends.
 */
export function engineSuite(): EngineSuite {
  const closers: Array<() => Promise<unknown>> = [];
  let azurite: TestAzurite | undefined;
  before(async () => {
    azurite = await startAzurite();
  });
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await azurite?.close();
  });
  return {
    get azurite() {
      if (!azurite) throw new Error('the suite has not started yet');
      return azurite;
    },
    async endpoint(handler = echo) {
      const server = await EndpointServer.start(handler);
      closers.push(() => server.close());
      return server;
    },
    async engine(document, timings, role) {
      const started = await startEngine(configOf(document), timings, role);
      closers.push(() => started.close());
      return started;
    },
    onClose(close) {
      closers.push(close);
    },
  };
}
