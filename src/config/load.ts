/**
 * Chooses the configuration file, merges it over the schema's defaults and the environment's
 * secrets (convict), validates it, and resolves it into the frozen {@link EngineConfig}.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import convict from 'convict';
import { required } from '../common/required.js';
import { EngineError } from '../errors.js';
import { REDACTED } from './checks.js';
import { defaultAssignments, placeDocument, renderDocument } from './document.js';
import { ConfigError, type ConfigIssue } from './issues.js';
import { readHttpStatus } from './http-status.js';
import { leaves, SEVEN_DAYS_IN_MS, schema } from './schema.js';
import type { Endpoint, EngineConfig, FlowDefinition, FlowStep, OpenIdOptions, QueueOptions, RedeliveryRule, RoleMapping, StatusRule, StorageServiceUrls, StorageTarget } from './types.js';
import { configWarnings, crossCheck } from './validate.js';

export interface ConfigSource {
  /** --config PATH, when given. */
  path?: string | undefined;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface LoadedConfig {
  config: EngineConfig;
  /** The normalised document in the users' key form, secrets as "[redacted]": safe to print. */
  document: Record<string, unknown>;
  /** Where it came from, for messages. */
  source: string;
  /** Valid settings that are likely mistakes (see configWarnings). */
  warnings: readonly ConfigIssue[];
}

/** `--config PATH`, else ASYNC_ENGINE_CONFIG, else config/${ASYNC_ENGINE_ENV:-local}.json. */
export function resolveConfigPath({ path: given, env, cwd }: ConfigSource): string {
  const chosen = given ?? (env['ASYNC_ENGINE_CONFIG'] || `config/${env['ASYNC_ENGINE_ENV'] || 'local'}.json`);
  return path.resolve(cwd, chosen);
}

export async function loadConfigFile(source: ConfigSource): Promise<LoadedConfig> {
  const file = resolveConfigPath(source);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new EngineError('AE_CONFIG_UNREADABLE', `configuration file ${file} ${reason}`, { cause: err });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    // The parser's message may quote the text, and the text may hold a secret: name the position only.
    const position = /position (\d+)/.exec(String(err))?.[1];
    throw new EngineError('AE_CONFIG_UNREADABLE', `configuration file ${file} is not valid JSON${position ? ` (at character ${position})` : ''}`);
  }
  return parseConfig(document, { source: file, env: source.env });
}

/** Validates a document (already parsed from JSON) and resolves it. Throws {@link ConfigError} with every issue. */
export function parseConfig(document: unknown, { source, env }: { source: string; env: NodeJS.ProcessEnv }): LoadedConfig {
  const placement = placeDocument(document);
  // convict merges the document over the schema's defaults and imports the secrets named by `env`
  // (the environment wins over the file). Its validate() joins all errors into one string and drops
  // falsy values, so the checks run below, over the merged values, with their JSON paths.
  const merged = convict(schema as unknown as convict.Schema<Record<string, unknown>>, { env, args: [] });
  for (const [key, value] of [...defaultAssignments(), ...placement.assignments]) merged.set(key, value);
  merged.load({});
  const props = merged.getProperties();

  const issues: ConfigIssue[] = [...placement.issues];
  for (const [key, leaf] of leaves()) {
    const value = merged.get(key);
    if (value === null && leaf.nullable) continue;
    leaf.format(value, (sub, message, bad) =>
      // A check reports no value (undefined) for a missing or unknown key: the issue then has none to show.
      issues.push(bad === undefined ? { path: key + sub, message } : { path: key + sub, message, value: leaf.sensitive ? REDACTED : bad }),
    );
  }
  issues.push(...crossCheck(props));
  if (issues.length > 0) throw new ConfigError(source, issues);
  return { config: deepFreeze(resolve(props as unknown as RawConfig)), document: renderDocument(props), source, warnings: configWarnings(props) };
}

/** The merged document after validation: the shapes the schema guarantees. */
interface RawConfig {
  azure: { storage: { config: RawStorage } };
  queue: { config: RawQueue[] };
  flow: { config: Array<{ flowName: string; queueMappings: RawStep[]; maxBacklog: number | null }> };
  table: { config: { statusTable: string; dlqTable: string } };
  redelivery: { config: { default: RawRule; additional: Array<RawRule & { httpStatus: number | string }> } };
  http: {
    connection: { config: Record<'routeConnections' | 'totalConnections' | 'requestTimeout' | 'connectionTimeout' | 'socketTimeout' | 'callTimeout', number> & { connectionTimeToLive: number | null } };
  };
  threadpool: { config: { poolSize: number; maxPoolSize: number; maxQueueSize: number } };
  openid: { config: Record<'realm' | 'auth-server-url' | 'resource', string | null> & RawOpenIdFlags };
  rbac: { config: { apiMappings: RawMapping[]; applicationMappings: RawMapping[]; ownRequestsOnly: boolean; adminRoles: string[] } };
  openapi: { url: string | null; username: string | null; password: string | null };
  server: {
    config: {
      host: string;
      port: number;
      maxBodyBytes: number;
      shutdownGraceMs: number;
      auth: 'oidc' | 'none';
      trustProxy: boolean;
      trustedProxies: string[];
      maxConnections: number;
      headersTimeoutMs: number;
      requestTimeoutMs: number;
      demoEndpoints: boolean;
      expirySweepMs: number;
      maxWaitSeconds: number;
      managementPort: number | null;
      managementHost: string | null;
    };
  };
  callback: { config: { allowedHosts: string[]; timeout: number; retries: number } };
  payload: { config: { inlineLimitBytes: number; container: string; maxResponseBytes: number } };
  ui: { config: { clientId: string | null } };
  retention: { config: { completedMs: number | null; deadLetteredMs: number | null; idempotencyMs: number | null } };
}
interface RawStorage {
  accountName: string | null;
  accountKey: string | null;
  suffix: string;
  credential: 'key' | 'default' | null;
  managedIdentityClientId: string | null;
  endpoints: Record<keyof StorageServiceUrls, string | null>;
  connectionString: string | null;
  emulator: 'embedded' | null;
  emulatorLocation: string;
  emulatorBlobPort: number;
  emulatorQueuePort: number;
  emulatorTablePort: number;
}
interface RawQueue {
  name: string;
  maxMessages: number;
  delay: number;
  maxIdleDelay: number;
  greedy: boolean;
  timeToLive: number;
  visibilityTimeout: number;
  maxDequeueCount: number;
}
interface RawStep {
  initial: boolean;
  sourceQueueName: string;
  endpointName: string | null;
  endpointUrl: string | null;
  targetQueueName: string | null;
  maxThreads: number;
  callTimeout: number | null;
  maxRatePerSecond: number | null;
}
interface RawRule {
  count: number;
  delay: number;
  backoff: 'fixed' | 'exponential';
  maxDelay: number | null;
  jitter: boolean | null;
}
interface RawMapping {
  url: string;
  roles: string[];
}
interface RawOpenIdFlags {
  credentials: { secret: string | null };
  'use-resource-role-mappings': boolean;
  'ssl-required': 'all' | 'external' | 'none';
  'principal-attribute': string;
}

function resolve(raw: RawConfig): EngineConfig {
  const openid = raw.openid.config;
  const server = raw.server.config;
  const http = raw.http.connection.config;
  const pool = raw.threadpool.config;
  const openIdOptions: OpenIdOptions | null =
    openid.realm !== null && openid['auth-server-url'] !== null && openid.resource !== null
      ? {
          realm: openid.realm,
          authServerUrl: openid['auth-server-url'],
          resource: openid.resource,
          clientSecret: openid.credentials.secret,
          useResourceRoleMappings: openid['use-resource-role-mappings'],
          sslRequired: openid['ssl-required'],
          principalAttribute: openid['principal-attribute'],
        }
      : null;
  const flows = raw.flow.config.map((f) => ({ ...resolveFlow(f.flowName, f.queueMappings, raw.openapi.url, http.callTimeout), maxBacklog: f.maxBacklog }));
  return {
    storage: resolveStorage(raw.azure.storage.config),
    queues: new Map(raw.queue.config.map((q) => [q.name, resolveQueue(q)])),
    flows,
    tables: { ...raw.table.config },
    redelivery: {
      default: resolveRule(raw.redelivery.config.default),
      statusRules: raw.redelivery.config.additional.map(resolveStatusRule),
    },
    http: {
      routeConnections: http.routeConnections,
      totalConnections: http.totalConnections,
      connectionTimeToLiveInMs: http.connectionTimeToLive,
      requestTimeoutInMs: http.requestTimeout,
      connectionTimeoutInMs: http.connectionTimeout,
      socketTimeoutInMs: http.socketTimeout,
      callTimeoutInMs: http.callTimeout,
    },
    admission: { poolSize: pool.poolSize, maxPoolSize: pool.maxPoolSize, maxQueueSize: pool.maxQueueSize },
    auth: server.auth === 'oidc' ? { mode: 'oidc', openid: validated(openIdOptions, 'openid.config') } : { mode: 'none', openid: openIdOptions },
    rbac: {
      apiMappings: raw.rbac.config.apiMappings.map(toRoleMapping),
      applicationMappings: raw.rbac.config.applicationMappings.map(toRoleMapping),
      ownRequestsOnly: raw.rbac.config.ownRequestsOnly,
      adminRoles: [...raw.rbac.config.adminRoles],
    },
    platform: { url: raw.openapi.url, username: raw.openapi.username, password: raw.openapi.password },
    platformToken: flows.some((f) => f.steps.some((step) => step.endpoint.kind === 'platform'))
      ? {
          openid: validated(openIdOptions, 'openid.config'),
          username: validated(raw.openapi.username, 'openapi.username'),
          password: validated(raw.openapi.password, 'openapi.password'),
        }
      : null,
    server: {
      host: server.host,
      port: server.port,
      maxBodyBytes: server.maxBodyBytes,
      shutdownGraceInMs: server.shutdownGraceMs,
      trustProxy: server.trustProxy,
      trustedProxies: [...server.trustedProxies],
      maxConnections: server.maxConnections,
      headersTimeoutInMs: server.headersTimeoutMs,
      requestTimeoutInMs: server.requestTimeoutMs,
      demoEndpoints: server.demoEndpoints,
      expirySweepInMs: server.expirySweepMs,
      maxWaitInSeconds: server.maxWaitSeconds,
      managementPort: server.managementPort,
      managementHost: server.managementHost ?? server.host,
    },
    callback: { allowedHosts: raw.callback.config.allowedHosts, timeoutInMs: raw.callback.config.timeout, retries: raw.callback.config.retries },
    payload: { ...raw.payload.config },
    ui: { clientId: raw.ui.config.clientId },
    retention: {
      completedInMs: raw.retention.config.completedMs,
      deadLetteredInMs: raw.retention.config.deadLetteredMs,
      idempotencyInMs: raw.retention.config.idempotencyMs,
    },
  };
}

function resolveStorage(s: RawStorage): StorageTarget {
  if (s.emulator === 'embedded') {
    return { kind: 'embedded-emulator', location: s.emulatorLocation, blobPort: s.emulatorBlobPort, queuePort: s.emulatorQueuePort, tablePort: s.emulatorTablePort };
  }
  if (s.connectionString !== null) return { kind: 'connection-string', connectionString: s.connectionString };
  const accountName = validated(s.accountName, 'azure.storage.config.accountName');
  const url = (service: keyof StorageServiceUrls): string => s.endpoints[service] ?? `https://${accountName}.${service}.${s.suffix}`;
  const urls: StorageServiceUrls = { blob: url('blob'), queue: url('queue'), table: url('table') };
  if (s.credential === 'default') return { kind: 'entra-id', accountName, managedIdentityClientId: s.managedIdentityClientId, urls };
  return { kind: 'account', accountName, accountKey: validated(s.accountKey, 'azure.storage.config.accountKey'), urls };
}

function resolveQueue(q: RawQueue): QueueOptions {
  return {
    name: q.name,
    maxMessages: q.maxMessages,
    pollDelayInMs: q.delay,
    maxIdleDelayInMs: Math.max(q.maxIdleDelay, q.delay),
    greedy: q.greedy,
    // timeToLive is in hours, visibilityTimeout in seconds (as the seed defines them).
    timeToLiveInMs: q.timeToLive === -1 ? null : Math.max(1000, Math.round(q.timeToLive * 3600) * 1000),
    visibilityTimeoutInMs: q.visibilityTimeout * 1000,
    maxDequeueCount: q.maxDequeueCount,
  };
}

function resolveRule(r: RawRule): RedeliveryRule {
  return {
    count: r.count,
    delayInMs: r.delay,
    backoff: r.backoff,
    maxDelayInMs: r.maxDelay ?? SEVEN_DAYS_IN_MS,
    hasJitter: r.jitter ?? r.backoff === 'exponential',
  };
}

function resolveStatusRule(r: RawRule & { httpStatus: number | string }): StatusRule {
  const read = readHttpStatus(r.httpStatus);
  if (read.kind === 'invalid') throw new EngineError('AE_INVALID_OPTION', `redelivery.config httpStatus ${JSON.stringify(r.httpStatus)}, which validation checks, ${read.message}`);
  return { fromStatus: read.fromStatus, toStatus: read.toStatus, rule: resolveRule(r) };
}

/** Orders the steps along the chain from the initial step (validation guaranteed it is one chain). */
function resolveFlow(name: string, mappings: RawStep[], platformUrl: string | null, callTimeoutInMs: number): Omit<FlowDefinition, 'maxBacklog'> {
  const bySource = new Map(mappings.map((m) => [m.sourceQueueName, m]));
  const steps: FlowStep[] = [];
  for (let m = mappings.find((s) => s.initial); m; m = m.targetQueueName === null ? undefined : bySource.get(m.targetQueueName)) {
    steps.push({
      index: steps.length,
      sourceQueueName: m.sourceQueueName,
      targetQueueName: m.targetQueueName,
      endpoint:
        m.endpointName !== null
          ? { kind: 'platform', name: m.endpointName, url: resolvePlatformUrl(m.endpointName, validated(platformUrl, 'openapi.url')) }
          : endpointOfUrl(validated(m.endpointUrl, 'endpointUrl')),
      maxThreads: m.maxThreads,
      callTimeoutInMs: m.callTimeout ?? callTimeoutInMs,
      maxRatePerSecond: m.maxRatePerSecond,
    });
  }
  return { name, steps };
}

/** An endpointUrl as validated: a path names the demo endpoints, anything else is the URL. */
function endpointOfUrl(url: string): Endpoint {
  return url.startsWith('/') ? { kind: 'demo', path: url } : { kind: 'url', url };
}

/** `endpointName` is a path below openapi.url, whether or not the base ends with "/". */
export function resolvePlatformUrl(endpointName: string, base: string): string {
  return new URL(endpointName.replace(/^\/+/, ''), base.endsWith('/') ? base : `${base}/`).href;
}

/** A value validation has guaranteed; a null here is a bug in validate.ts. */
function validated<T>(value: T | null, path: string): T {
  return required(value, 'AE_INVALID_OPTION', `${path}, which validation requires,`);
}

function toRoleMapping(m: RawMapping): RoleMapping {
  return { urlPrefix: m.url, roles: [...m.roles] };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (value instanceof Map) for (const v of value.values()) deepFreeze(v);
    else for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
