/**
 * Configuration documents for tests.
 *
 * - {@link validDocument}: the smallest document that validates: one flow `demo` of three steps on
 *   the declared queues {@link DEMO_QUEUES}, endpoints on 127.0.0.1, storage through the emulator's
 *   connection string, and `server.config.auth: "none"` (so no openid.config is needed).
 * - {@link queuesOf}, {@link flowsOf}, {@link stepsOf}, {@link sectionOf}: typed handles into a document, to change
 *   one value in place (`stepsOf(doc)[1]!.endpointUrl = 'nope'`).
 * - {@link writeConfigFile}: writes a document as JSON into a fresh temporary folder.
 *
 * Every call returns a new document: tests may mutate what they get.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A configuration document as users write it: top-level keys with dots (`queue.config`). */
export type ConfigDocument = Record<string, unknown>;
/** One entry of a list section (a queue, a flow, a step), or a section object. */
export type Entry = Record<string, unknown>;

export const DEMO_FLOW = 'demo';
/** The queues of the demo flow, in step order: step i reads DEMO_QUEUES[i]. */
export const DEMO_QUEUES = ['demo-first', 'demo-second', 'demo-third'] as const;
/** Where the demo steps' endpoints live (nothing listens there; validation never calls it). */
export const DEMO_ENDPOINT_BASE = 'http://127.0.0.1:9';

/**
 * A minimal valid document. `overrides` replaces whole top-level keys; a key given as `undefined`
 * is removed (`validDocument({ 'server.config': undefined })` falls back to auth "oidc").
 */
export function validDocument(overrides: ConfigDocument = {}): ConfigDocument {
  const [first, second, third] = DEMO_QUEUES;
  const doc: ConfigDocument = {
    'azure.storage.config': { connectionString: 'UseDevelopmentStorage=true' },
    'queue.config': DEMO_QUEUES.map((name) => ({ name })),
    'flow.config': [
      {
        flowName: DEMO_FLOW,
        queueMappings: [
          { initial: true, sourceQueueName: first, endpointUrl: `${DEMO_ENDPOINT_BASE}/first`, targetQueueName: second },
          { sourceQueueName: second, endpointUrl: `${DEMO_ENDPOINT_BASE}/second`, targetQueueName: third },
          { sourceQueueName: third, endpointUrl: `${DEMO_ENDPOINT_BASE}/third` },
        ],
      },
    ],
    'server.config': { auth: 'none' },
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete doc[key];
    else doc[key] = structuredClone(value);
  }
  return doc;
}

/** An openid.config section with the fields required while server.config.auth is "oidc". */
export function openIdSection(extra: Entry = {}): Entry {
  return { realm: 'engine', 'auth-server-url': 'https://keycloak.example/auth', resource: 'async-engine', ...extra };
}

/** What endpointName steps need besides openapi.url: the platform user and the OpenID provider. */
export function platformKeys(extra: ConfigDocument = {}): ConfigDocument {
  return { 'openapi.username': 'engine', 'openapi.password': 'platform-password', 'openid.config': openIdSection(), ...extra };
}

function asEntry(value: unknown, what: string): Entry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${what} is not an object`);
  return value as Entry;
}

/** The list itself (not a copy), so that push, pop and reverse change the document. */
function asEntries(value: unknown, what: string): Entry[] {
  if (!Array.isArray(value)) throw new TypeError(`${what} is not a list`);
  value.forEach((entry: unknown, i) => {
    asEntry(entry, `${what}[${i}]`);
  });
  return value as Entry[];
}

/** The list `queue.config` of the document itself: changes to it and its entries land in the document. */
export function queuesOf(doc: ConfigDocument): Entry[] {
  return asEntries(doc['queue.config'], 'queue.config');
}

/** The list `flow.config` of the document itself. */
export function flowsOf(doc: ConfigDocument): Entry[] {
  return asEntries(doc['flow.config'], 'flow.config');
}

/** The list of steps (`queueMappings`) of `flow.config[flowIndex]` itself. */
export function stepsOf(doc: ConfigDocument, flowIndex = 0): Entry[] {
  const flow = asEntry(flowsOf(doc)[flowIndex], `flow.config[${flowIndex}]`);
  return asEntries(flow['queueMappings'], `flow.config[${flowIndex}].queueMappings`);
}

/** The object at top-level `key`, created empty when absent. */
export function sectionOf(doc: ConfigDocument, key: string): Entry {
  if (doc[key] === undefined) doc[key] = {};
  return asEntry(doc[key], key);
}

/**
 * Writes `doc` as JSON to `name` in `dir`, or in a fresh folder under the system's temp folder,
 * and returns the file's absolute path. The caller removes the folder when it cares
 * (`fs.rm(path.dirname(file), { recursive: true })`).
 */
export async function writeConfigFile(doc: unknown, dir?: string, name = 'config.json'): Promise<string> {
  const folder = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'async-engine-config-')));
  const file = path.resolve(folder, name);
  await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`, 'utf8');
  return file;
}
