/**
 * Cross-checks between keys, reported with JSON paths. They run on the merged document even when
 * some values failed their own checks, so every error is reported at once; a value of the wrong
 * type is skipped here (its own check already reported it).
 */
import { isPrivateAddress } from '../common/addresses.js';
import { callbackQueueName } from './callback-queue.js';
import { isDemoPath, isPlainObject } from './checks.js';
import { readHttpStatus } from './http-status.js';
import type { ConfigIssue } from './issues.js';

type Props = Record<string, unknown>;

const at = (node: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((n, key) => (isPlainObject(n) ? n[key] : undefined), node);
const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
/** The objects of a list with their indexes in it (other entries were reported by their own checks). */
const objects = (value: unknown): Array<[Props, number]> =>
  Array.isArray(value) ? value.flatMap((v: unknown, i) => (isPlainObject(v) ? [[v, i] as [Props, number]] : [])) : [];

export function crossCheck(props: Props): ConfigIssue[] {
  return [
    ...checkStorage(props),
    ...checkQueues(props),
    ...checkCallbackQueue(props),
    ...checkFlows(props),
    ...checkRedelivery(props),
    ...checkLimits(props),
    ...checkManagement(props),
    ...checkAuth(props),
    ...checkRbac(props),
  ];
}

function checkStorage(props: Props): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const section = 'azure.storage.config';
  const s = at(props, section);
  const isSet = (key: string): boolean => at(s, key) != null;
  const byEntraId = at(s, 'credential') === 'default';
  const ways = [
    isSet('emulator') && 'emulator',
    isSet('connectionString') && 'connectionString (or AZURE_STORAGE_CONNECTION_STRING)',
    byEntraId && 'credential "default"',
    !byEntraId && (isSet('accountName') || isSet('accountKey')) && 'accountName/accountKey (or AZURE_STORAGE_ACCOUNT_KEY)',
  ].filter((w): w is string => typeof w === 'string');
  if (ways.length === 0) {
    issues.push({
      path: section,
      message:
        'must say how to reach storage: accountName with credential "default" (Microsoft Entra ID: managed identity, workload identity, Azure CLI), ' +
        'accountName and accountKey, connectionString, or emulator: "embedded" (for development)',
    });
  } else if (ways.length > 1) {
    issues.push({ path: section, message: `must set only one way to reach storage, but sets ${ways.join(' and ')}` });
  } else if (byEntraId) {
    if (!isSet('accountName')) issues.push({ path: `${section}.accountName`, message: 'is required with credential "default": it names the storage account' });
    if (isSet('accountKey')) {
      issues.push({ path: `${section}.accountKey`, message: 'is not used with credential "default": remove it (or AZURE_STORAGE_ACCOUNT_KEY), or set credential "key"' });
    }
  } else if (ways[0]?.startsWith('accountName')) {
    if (!isSet('accountName')) issues.push({ path: `${section}.accountName`, message: 'is required with accountKey' });
    if (!isSet('accountKey')) issues.push({ path: `${section}.accountKey`, message: 'is required with accountName (or set AZURE_STORAGE_ACCOUNT_KEY, or credential "default" for Microsoft Entra ID)' });
  }
  if (at(s, 'credential') === 'key' && (isSet('emulator') || (!isSet('accountKey') && !isSet('connectionString')))) {
    issues.push({ path: `${section}.credential`, message: '"key" needs accountName and accountKey, or connectionString', value: 'key' });
  }
  if (isSet('managedIdentityClientId') && !byEntraId) {
    issues.push({ path: `${section}.managedIdentityClientId`, message: 'is used only with credential "default"', value: at(s, 'managedIdentityClientId') });
  }
  for (const service of ['blob', 'queue', 'table']) {
    const url = str(at(s, `endpoints.${service}`));
    if (url === undefined) continue;
    const path = `${section}.endpoints.${service}`;
    if (isSet('connectionString') || isSet('emulator')) {
      issues.push({ path, message: `is not used with ${isSet('emulator') ? 'the emulator' : 'a connection string, which names its own endpoints'}`, value: url });
    } else if (byEntraId && URL.canParse(url) && new URL(url).protocol === 'http:') {
      issues.push({ path, message: 'must be an https URL: storage accepts Microsoft Entra ID tokens only over https', value: url });
    }
  }
  if (isSet('emulator')) {
    const ports = ['emulatorBlobPort', 'emulatorQueuePort', 'emulatorTablePort'];
    ports.forEach((key, i) => {
      const port = at(s, key);
      const earlier = ports.slice(0, i).find((k) => port !== 0 && at(s, k) === port);
      if (earlier) issues.push({ path: `${section}.${key}`, message: `is also ${earlier}; each service needs its own port`, value: port });
    });
  }
  return issues;
}

function checkQueues(props: Props): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  objects(at(props, 'queue.config')).forEach(([queue, i]) => {
    const name = str(queue['name']);
    if (name === undefined) return;
    const first = seen.get(name);
    if (first !== undefined) issues.push({ path: `queue.config[${i}].name`, message: `is declared twice (also queue.config[${first}])`, value: name });
    else seen.set(name, i);
  });
  return issues;
}

/** The engine's own callback queue is named after the status table; no declared queue may take its name. */
function checkCallbackQueue(props: Props): ConfigIssue[] {
  const statusTable = str(at(props, 'table.config.statusTable'));
  // An invalid table name was reported by its own check.
  if (statusTable === undefined || !/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(statusTable)) return [];
  const own = callbackQueueName(statusTable);
  return objects(at(props, 'queue.config')).flatMap(([queue, i]) =>
    queue['name'] === own
      ? [{ path: `queue.config[${i}].name`, message: `is the engine's own callback queue (named after table.config.statusTable "${statusTable}"): choose another name`, value: own }]
      : [],
  );
}

function checkFlows(props: Props): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const declared = new Set(objects(at(props, 'queue.config')).map(([q]) => str(q['name'])));
  const hasPlatformUrl = at(props, 'openapi.url') != null;
  const flowNames = new Map<string, number>();
  const sources = new Map<string, string>();

  objects(at(props, 'flow.config')).forEach(([flow, i]) => {
    const flowPath = `flow.config[${i}]`;
    const flowName = str(flow['flowName']);
    if (flowName !== undefined) {
      const first = flowNames.get(flowName);
      if (first !== undefined) issues.push({ path: `${flowPath}.flowName`, message: `is declared twice (also flow.config[${first}])`, value: flowName });
      else flowNames.set(flowName, i);
    }
    if (!Array.isArray(flow['queueMappings'])) return;
    const steps = flow['queueMappings'] as unknown[];
    if (steps.length === 0) {
      issues.push({ path: `${flowPath}.queueMappings`, message: 'must have at least one step' });
      return;
    }

    steps.forEach((step, j) => {
      if (!isPlainObject(step)) return;
      const stepPath = `${flowPath}.queueMappings[${j}]`;
      for (const key of ['sourceQueueName', 'targetQueueName']) {
        const queue = str(step[key]);
        if (queue !== undefined && !declared.has(queue)) {
          issues.push({ path: `${stepPath}.${key}`, message: 'is not declared in queue.config', value: queue });
        }
      }
      const source = str(step['sourceQueueName']);
      if (source !== undefined) {
        const owner = sources.get(source);
        if (owner !== undefined) issues.push({ path: `${stepPath}.sourceQueueName`, message: `is already the source of ${owner}`, value: source });
        else sources.set(source, stepPath);
      }
      if (step['endpointName'] == null && step['endpointUrl'] == null) {
        issues.push({ path: stepPath, message: 'has no endpoint: set endpointUrl or endpointName' });
      }
      if (step['endpointName'] != null && !hasPlatformUrl) {
        issues.push({ path: `${stepPath}.endpointName`, message: 'needs openapi.url to resolve against', value: step['endpointName'] });
      }
      const url = str(step['endpointUrl']);
      // A path that is no demo path was reported by its own check.
      if (step['endpointName'] == null && url !== undefined && isDemoPath(url) && at(props, 'server.config.demoEndpoints') !== true) {
        issues.push({ path: `${stepPath}.endpointUrl`, message: "is a path of the engine's demo endpoints, which only server.config.demoEndpoints: true serves", value: url });
      }
      const endpointName = str(step['endpointName']);
      const escaping = endpointName === undefined ? null : platformPathEscape(endpointName);
      if (escaping !== null) issues.push({ path: `${stepPath}.endpointName`, message: `must be a path below openapi.url: ${escaping}`, value: endpointName });
    });

    issues.push(...checkChain(flowPath, flowName ?? `#${i}`, steps));
  });
  return issues;
}

/** Exactly one initial step, and the steps form one chain by targetQueueName -> sourceQueueName. */
/**
 * Why `endpointName` could leave openapi.url (the resolved URL receives the platform token), or
 * null when it cannot: it must be a relative path without `..` segments, backslashes or a scheme.
 */
function platformPathEscape(name: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(name)) return 'it is an absolute URL';
  if (name.startsWith('//') || name.includes('\\')) return 'it names another host';
  const path = name.split(/[?#]/)[0] ?? '';
  const decode = (segment: string): string => {
    try {
      return decodeURIComponent(segment);
    } catch {
      return segment;
    }
  };
  const isEscape = (segment: string): boolean => segment === '.' || segment === '..' || /[/\\]/.test(segment);
  if (path.split('/').map(decode).some(isEscape)) return 'it contains a ".", ".." or encoded slash segment';
  return null;
}

function checkChain(flowPath: string, flowName: string, steps: unknown[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const stepPath = (j: number): string => `${flowPath}.queueMappings[${j}]`;
  const initial = steps.flatMap((step, j) => (isPlainObject(step) && step['initial'] === true ? [j] : []));
  const [first, ...others] = initial;
  if (first === undefined) {
    issues.push({ path: `${flowPath}.queueMappings`, message: 'has no step with "initial": true' });
    return issues;
  }
  for (const j of others) {
    issues.push({ path: `${stepPath(j)}.initial`, message: `marks a second initial step (the first is ${stepPath(first)})` });
  }
  const bySource = new Map<string, number>();
  steps.forEach((step, j) => {
    const source = isPlainObject(step) ? str(step['sourceQueueName']) : undefined;
    if (source !== undefined && !bySource.has(source)) bySource.set(source, j);
  });

  const visited = new Set<number>();
  let current: number | undefined = initial[0];
  let isChainWhole = true;
  while (current !== undefined) {
    visited.add(current);
    const step = steps[current];
    const target = isPlainObject(step) ? str(step['targetQueueName']) : undefined;
    if (target === undefined) break;
    const next = bySource.get(target);
    if (next === undefined) {
      issues.push({ path: `${stepPath(current)}.targetQueueName`, message: `is not the sourceQueueName of any step of flow "${flowName}"`, value: target });
      isChainWhole = false;
      break;
    }
    if (visited.has(next)) {
      issues.push({ path: `${stepPath(current)}.targetQueueName`, message: `leads back to ${stepPath(next)}: the steps form a cycle`, value: target });
      isChainWhole = false;
      break;
    }
    current = next;
  }
  if (isChainWhole) {
    steps.forEach((_, j) => {
      if (!visited.has(j)) issues.push({ path: stepPath(j), message: 'is not reachable from the initial step by targetQueueName' });
    });
  }
  return issues;
}

/**
 * One rule per status range: the most specific rule wins (an exact status is a range of one, a
 * class a range of 100), so two overlapping ranges of one width, duplicates included, would leave
 * the winner to the order of the list. No rule may cover only successes, and no maxDelay may cap a
 * rule below its own delay.
 */
function checkRedelivery(props: Props): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const list = 'redelivery.config.additional';
  const earlier: Array<{ k: number; fromStatus: number; toStatus: number }> = [];
  objects(at(props, list)).forEach(([rule, k]) => {
    const status = rule['httpStatus'];
    const read = readHttpStatus(status);
    if (read.kind === 'invalid') return;
    const { fromStatus, toStatus } = read;
    const path = `${list}[${k}].httpStatus`;
    if (fromStatus >= 200 && toStatus < 300) issues.push({ path, message: 'is a success, which is never redelivered', value: status });
    const width = toStatus - fromStatus;
    const clash = earlier.find((e) => e.toStatus - e.fromStatus === width && e.fromStatus <= toStatus && fromStatus <= e.toStatus);
    if (clash?.fromStatus === fromStatus) {
      issues.push({ path, message: `has a second rule (the first is ${list}[${clash.k}])`, value: status });
    } else if (clash !== undefined) {
      issues.push({ path, message: `overlaps ${list}[${clash.k}], a range as wide: neither is more specific`, value: status });
    }
    earlier.push({ k, fromStatus, toStatus });
  });
  const rules: Array<[rule: unknown, path: string]> = [
    [at(props, 'redelivery.config.default'), 'redelivery.config.default'],
    ...objects(at(props, list)).map(([rule, k]): [unknown, string] => [rule, `${list}[${k}]`]),
  ];
  for (const [rule, path] of rules) {
    const delay = at(rule, 'delay');
    const maxDelay = at(rule, 'maxDelay');
    if (typeof delay === 'number' && typeof maxDelay === 'number' && maxDelay < delay) {
      issues.push({ path: `${path}.maxDelay`, message: `must be at least delay (${delay})`, value: maxDelay });
    }
  }
  return issues;
}

function checkLimits(props: Props): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const notAbove = (section: string, small: string, large: string): void => {
    const a = at(props, `${section}.${small}`);
    const b = at(props, `${section}.${large}`);
    // A bound below 1 failed its own check already.
    if (typeof a === 'number' && typeof b === 'number' && b >= 1 && a > b) {
      issues.push({ path: `${section}.${small}`, message: `must not exceed ${large} (${b})`, value: a });
    }
  };
  notAbove('http.connection.config', 'routeConnections', 'totalConnections');
  notAbove('threadpool.config', 'poolSize', 'maxPoolSize');
  // Node refuses a headers time-out longer than the whole request's.
  notAbove('server.config', 'headersTimeoutMs', 'requestTimeoutMs');
  const status = str(at(props, 'table.config.statusTable'));
  const dlq = str(at(props, 'table.config.dlqTable'));
  // Table names are case-insensitive in Azure Storage.
  if (status !== undefined && status.toLowerCase() === dlq?.toLowerCase()) {
    issues.push({ path: 'table.config.dlqTable', message: 'must differ from statusTable', value: dlq });
  }
  return issues;
}

function checkManagement(props: Props): ConfigIssue[] {
  const port = at(props, 'server.config.port');
  const managementPort = at(props, 'server.config.managementPort');
  // Two listeners on one port cannot both bind; 0 asks the OS for a free port each time.
  if (typeof managementPort === 'number' && managementPort !== 0 && managementPort === port) {
    return [{ path: 'server.config.managementPort', message: `must differ from port (${port})`, value: managementPort }];
  }
  return [];
}

function checkAuth(props: Props): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const isOidc = at(props, 'server.config.auth') === 'oidc';
  const usesPlatform = objects(at(props, 'flow.config')).some(([flow]) => objects(flow['queueMappings']).some(([step]) => step['endpointName'] != null));
  if (isOidc || usesPlatform) {
    const why = isOidc ? 'while server.config.auth is "oidc" (the default)' : 'for endpointName steps (the engine obtains its platform token there)';
    for (const key of ['realm', 'auth-server-url', 'resource']) {
      if (at(props, `openid.config.${key}`) == null) issues.push({ path: `openid.config.${key}`, message: `is required ${why}` });
    }
  }
  if (usesPlatform) {
    if (at(props, 'openapi.username') == null) issues.push({ path: 'openapi.username', message: 'is required for endpointName steps (the engine\'s platform token)' });
    if (at(props, 'openapi.password') == null) issues.push({ path: 'openapi.password', message: 'is required for endpointName steps (or set OPENAPI_PASSWORD)' });
  }
  // Keycloak's ssl-required applies to the provider too: https, except loopback and private hosts under "external".
  const url = str(at(props, 'openid.config.auth-server-url'));
  const sslRequired = at(props, 'openid.config.ssl-required');
  if (url !== undefined && URL.canParse(url) && (isOidc || usesPlatform)) {
    const { protocol, hostname } = new URL(url);
    const isExempt = sslRequired === 'none' || (sslRequired === 'external' && isPrivateAddress(hostname));
    if (protocol === 'http:' && !isExempt) {
      issues.push({ path: 'openid.config.auth-server-url', message: `must be https while openid.config.ssl-required is ${JSON.stringify(sslRequired)}`, value: url });
    }
  }
  return issues;
}

function checkRbac(props: Props): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (at(props, 'rbac.config.ownRequestsOnly') === true && at(props, 'server.config.auth') !== 'oidc') {
    issues.push({ path: 'rbac.config.ownRequestsOnly', message: 'needs server.config.auth "oidc": without tokens no request has an owner' });
  }
  return [...issues, ...checkRoleLists(props)];
}

function checkRoleLists(props: Props): ConfigIssue[] {
  return ['apiMappings', 'applicationMappings'].flatMap((list) =>
    objects(at(props, `rbac.config.${list}`)).flatMap(([mapping, k]) =>
      Array.isArray(mapping['roles']) && mapping['roles'].length === 0
        ? [{ path: `rbac.config.${list}[${k}].roles`, message: 'must name at least one role' }]
        : [],
    ),
  );
}

/**
 * Settings that are valid but likely to bite later: `config check` prints them, `start` logs them.
 * They run on a document that passed validation.
 */
export function configWarnings(props: Props): ConfigIssue[] {
  const warnings: ConfigIssue[] = [];
  const total = at(props, 'http.connection.config.totalConnections');
  const callTimeout = at(props, 'http.connection.config.callTimeout');
  const socketTimeout = at(props, 'http.connection.config.socketTimeout');
  for (const [flow, i] of objects(at(props, 'flow.config'))) {
    const steps = objects(flow['queueMappings']);
    const threads = steps.reduce((n, [step]) => n + (typeof step['maxThreads'] === 'number' ? step['maxThreads'] : 0), 0);
    if (typeof total === 'number' && threads > total) {
      warnings.push({
        path: `flow.config[${i}].queueMappings`,
        message: `have ${threads} maxThreads in all, more than http.connection.config.totalConnections (${total}): calls will wait for connections`,
      });
    }
    for (const [step, j] of steps) {
      const stepTimeout = step['callTimeout'] ?? callTimeout;
      if (stepTimeout === 0 && socketTimeout === 0) {
        warnings.push({
          path: step['callTimeout'] === 0 ? `flow.config[${i}].queueMappings[${j}].callTimeout` : 'http.connection.config.callTimeout',
          message: 'is 0 while socketTimeout is 0 too: an endpoint that never answers holds a worker slot for ever',
        });
      }
    }
  }
  const idempotencyMs = at(props, 'retention.config.idempotencyMs');
  const completedMs = at(props, 'retention.config.completedMs');
  if (typeof completedMs === 'number' && (idempotencyMs === null || (typeof idempotencyMs === 'number' && idempotencyMs > completedMs))) {
    warnings.push({
      path: 'retention.config.idempotencyMs',
      message: `keeps keys longer than completedMs (${completedMs}): a submission that repeats a key after its request was deleted is answered with that request's id, which then answers 404`,
    });
  }
  if (at(props, 'server.config.managementHost') != null && at(props, 'server.config.managementPort') == null) {
    warnings.push({ path: 'server.config.managementHost', message: 'has no effect without managementPort: /actuator/* is served on port' });
  }
  return warnings;
}
