import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TableClient } from '@azure/data-tables';
import { ContainerClient } from '@azure/storage-blob';
import { Completions } from '../../src/engine/completions.js';
import type { Flow } from '../../src/engine/flows.js';
import { DueRules } from '../../src/engine/due-rules.js';
import { ReplayJobs } from '../../src/engine/replay-jobs.js';
import { RequestIndex } from '../../src/engine/request-index.js';
import { Admission } from '../../src/ingress/admission.js';
import { createApiRouters, type IngressDeps, type ServedRoutes } from '../../src/ingress/app.js';
import { createOpenApiDocument } from '../../src/ingress/openapi.js';
import { createLogger } from '../../src/observability/log.js';
import { Throughput } from '../../src/observability/throughput.js';
import { DlqTable } from '../../src/storage/dlq-table.js';
import { DueIndexTable } from '../../src/storage/due-index.js';
import { IdempotencyKeys } from '../../src/storage/idempotency-keys.js';
import { IndexCommitter } from '../../src/storage/index-committer.js';
import { PayloadStore } from '../../src/storage/payloads.js';
import { ReplayJobTable } from '../../src/storage/replay-jobs.js';
import { StatusTable } from '../../src/storage/status-table.js';
import { REPO_ROOT } from '../support/cli.js';
import { engineSuite, flowDocument } from '../support/engine.js';

type Json = Record<string, unknown>;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function recordAt(value: unknown, what: string): Json {
  assert.ok(isRecord(value), `${what} is an object`);
  return value;
}

/** Resolves a local `$ref` ("#/components/..."), or returns undefined when it points nowhere. */
function resolvePointer(document: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = document;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (!isRecord(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/** Follows a Reference Object to what it names. */
function deref(document: Json, value: unknown): unknown {
  return isRecord(value) && typeof value['$ref'] === 'string' ? resolvePointer(document, value['$ref']) : value;
}

interface DocumentedOperation {
  key: string;
  path: string;
  pathItem: Json;
  operation: Json;
}

function operationsOf(document: Json): DocumentedOperation[] {
  const operations: DocumentedOperation[] = [];
  for (const [path, item] of Object.entries(recordAt(document['paths'], 'paths'))) {
    const pathItem = recordAt(item, path);
    for (const method of HTTP_METHODS) {
      if (pathItem[method] !== undefined) {
        operations.push({ key: `${method.toUpperCase()} ${path}`, path, pathItem, operation: recordAt(pathItem[method], `${method} ${path}`) });
      }
    }
  }
  return operations;
}

/**
 * Real dependencies that touch nothing: the SDK clients connect only when called, and no route is
 * invoked here; the routers only keep `deps` in their closures.
 */
function idleDeps(served: ServedRoutes): IngressDeps {
  const table = new TableClient('http://127.0.0.1:9/devstoreaccount1', 'Unused');
  const payloads = new PayloadStore({ container: new ContainerClient('http://127.0.0.1:9/devstoreaccount1/unused'), inlineLimitBytes: 32_768 });
  const statusTable = new StatusTable(table);
  const flows = new Map<string, Flow>();
  const dlqTable = new DlqTable(table);
  const log = createLogger({ level: 'silent', destination: { write: () => undefined } });
  const index = new RequestIndex({ committer: new IndexCommitter(new DueIndexTable(table)), rules: new DueRules({ flows, retention: { completedInMs: null, deadLetteredInMs: null, idempotencyInMs: null } }) });
  return {
    served,
    flows,
    statusTable,
    dlqTable,
    payloads,
    maxBodyBytes: 1024,
    requestTimeoutInMs: 30_000,
    ownership: { ownRequestsOnly: false, adminRoles: [] },
    admission: new Admission({ maxPoolSize: 1, maxQueueSize: 0 }),
    idempotency: new IdempotencyKeys(table, 1000),
    index,
    allowedCallbackHosts: [],
    ownAddresses: () => [],
    completions: new Completions(),
    maxWaitInSeconds: 30,
    shuttingDown: new AbortController().signal,
    publicRouters: [],
    isLive: () => true,
    isReady: () => Promise.resolve(true),
    trustProxy: false,
    trustedProxies: [],
    auth: null,
    health: () => Promise.resolve({ status: 'UP', components: {} }),
    refreshGauges: () => Promise.resolve(),
    replayJobs: new ReplayJobs({ flows, statusTable, dlqTable, index, jobTable: new ReplayJobTable(table), closing: new AbortController().signal, log }),
    info: () => ({}),
    throughput: new Throughput({ flows: [] }),
    role: 'all',
    ui: { auth: 'none' },
    log,
  };
}

/** "METHOD /path/{param}" of every route of the API's routers (HEAD is the router's own, for GET). */
function routesOfRouters(served: ServedRoutes): Set<string> {
  const routes = new Set<string>();
  for (const router of createApiRouters(idleDeps(served))) {
    for (const layer of router.stack) {
      assert.equal(typeof layer.path, 'string', `route ${String(layer.path)} has a plain path`);
      const path = String(layer.path).replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      for (const method of layer.methods) {
        if (method !== 'HEAD') routes.add(`${method} ${path}`);
      }
    }
  }
  return routes;
}

/** The servers that serve the API: with /actuator/*, and without it while a management port serves it. */
const LAYOUTS: ReadonlyArray<[name: string, served: ServedRoutes]> = [
  ['the ingress', { hasApi: true, hasActuator: true }],
  ['the ingress beside a management port', { hasApi: true, hasActuator: false }],
];

describe('the OpenAPI document', () => {
  const suite = engineSuite();

  it('is served at GET /openapi.json, as OpenAPI 3.1.0 with the package version', async () => {
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    const response = await fetch(`${e.url}/openapi.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const served: unknown = await response.json();
    const openApiDocument = createOpenApiDocument({ hasActuator: true });
    assert.deepEqual(served, openApiDocument);
    assert.equal(openApiDocument['openapi'], '3.1.0');
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(recordAt(openApiDocument['info'], 'info')['version'], version);
  });

  it('leaves /actuator/* out while a management port serves it, and is not served there', async () => {
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }], extra: { 'server.config': { managementPort: 0 } } }));
    const served = recordAt(await (await fetch(`${e.url}/openapi.json`)).json(), 'the document');
    assert.deepEqual(served, createOpenApiDocument({ hasActuator: false }));
    assert.deepEqual(Object.keys(recordAt(served['paths'], 'paths')).filter((path) => path.startsWith('/actuator')), []);
    assert.equal((await fetch(`${e.managementUrl}/openapi.json`)).status, 404);
  });

  for (const [name, served] of LAYOUTS) {
    it(`describes exactly the routes of the routers of ${name}`, () => {
      const routes = routesOfRouters(served);
      const documented = new Set(operationsOf(createOpenApiDocument(served)).map((o) => o.key));
      assert.ok(routes.size > 0);
      assert.deepEqual([...routes].filter((r) => !documented.has(r)).sort(), [], 'routes missing from the document');
      assert.deepEqual([...documented].filter((r) => !routes.has(r)).sort(), [], 'documented operations no router has');
    });
  }

  it('gives every operation an id, a summary, a 2xx answer and a declaration of each path parameter', () => {
    const openApiDocument = createOpenApiDocument({ hasActuator: true });
    const ids = new Set<string>();
    for (const { key, path, pathItem, operation } of operationsOf(openApiDocument)) {
      const id = operation['operationId'];
      assert.ok(typeof id === 'string' && id !== '', `${key} has an operationId`);
      assert.ok(!ids.has(id), `${key}: operationId ${id} is unique`);
      ids.add(id);
      assert.ok(typeof operation['summary'] === 'string' && operation['summary'] !== '', `${key} has a summary`);

      const statuses = Object.keys(recordAt(operation['responses'], `${key} responses`));
      assert.ok(statuses.some((s) => /^2(\d\d|XX)$/.test(s)), `${key} has a 2xx response`);

      const declared = [...((pathItem['parameters'] as unknown[] | undefined) ?? []), ...((operation['parameters'] as unknown[] | undefined) ?? [])]
        .map((p) => recordAt(deref(openApiDocument, p), `a parameter of ${key}`))
        .filter((p) => p['in'] === 'path');
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      assert.deepEqual(declared.map((p) => p['name']).sort(), [...templated].sort(), `${key} declares its path parameters`);
      for (const p of declared) assert.equal(p['required'], true, `${key}: path parameter ${String(p['name'])} is required`);
    }
  });

  it('resolves every $ref within the document', () => {
    const openApiDocument = createOpenApiDocument({ hasActuator: true });
    const refs: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) walk(item);
      } else if (isRecord(node)) {
        for (const [key, value] of Object.entries(node)) {
          if (key === '$ref' && typeof value === 'string') refs.push(value);
          else walk(value);
        }
      }
    };
    walk(openApiDocument);
    assert.ok(refs.length > 0);
    for (const ref of refs) assert.notEqual(resolvePointer(openApiDocument, ref), undefined, `${ref} resolves`);
  });
});
