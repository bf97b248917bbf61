/**
 * The one schema of the configuration document: every key with its format, default, environment
 * variable and meaning. Defaults live here and nowhere else.
 *
 * The document's top-level keys contain dots (`azure.storage.config`), as the Async Engine's
 * key-value store names them; convict reads dots as nesting, so `azure.storage.config.suffix` is the
 * leaf `suffix` of the section `azure.storage.config`. {@link SECTION_KEYS} lists the top-level keys.
 */
import {
  boolean,
  containerName,
  httpStatusOrRange,
  endpointUrl,
  httpUrl,
  integer,
  ipOrCidr,
  integerOrSpecial,
  listOf,
  listOfObjects,
  nonEmptyString,
  objectOf,
  oneOf,
  positiveNumber,
  positiveNumberOr,
  queueName,
  tableName,
  urlPath,
  matching,
  type Check,
  type Fields,
} from './checks.js';

/** A convict leaf as this project writes it: the format is always one of our checks. */
export interface Leaf {
  doc: string;
  format: Check;
  default: unknown;
  nullable?: boolean;
  sensitive?: boolean;
  env?: string;
}
export interface Group {
  [key: string]: Leaf | Group;
}

export function isLeaf(node: Leaf | Group): node is Leaf {
  return 'default' in node;
}

/** Azure's longest visibility timeout, and so the longest wait before a redelivery. */
export const SEVEN_DAYS_IN_MS = 7 * 24 * 3600 * 1000;
const SEVEN_DAYS_IN_SECONDS = 7 * 24 * 3600;

export const queueFields: Fields = {
  name: { doc: 'Queue name (Azure rules: 3-63 lowercase letters, digits, single hyphens).', format: queueName },
  maxMessages: { doc: 'Most messages fetched by one poll (1..32).', format: integer(1, 32), default: 1 },
  delay: { doc: 'Milliseconds between polls.', format: integer(0), default: 500 },
  maxIdleDelay: {
    doc: 'Most milliseconds between polls of an idle queue: the wait doubles from delay after each empty poll up to this (never below delay; equal to delay = fixed polling).',
    format: integer(0),
    default: 5000,
  },
  greedy: { doc: 'Poll again at once, ignoring delay, when the last poll returned messages.', format: boolean, default: false },
  timeToLive: {
    doc: 'Hours a message stays in the queue; -1 = never expires. Fractions allowed (0.5 = 30 minutes).',
    format: positiveNumberOr(-1, 'a number of hours greater than 0, or -1 for no expiry'),
    default: 1,
  },
  visibilityTimeout: {
    doc: 'Seconds a received message stays hidden; renewed while its endpoint call runs (1..604800).',
    format: integer(1, SEVEN_DAYS_IN_SECONDS),
    default: 30,
  },
  maxDequeueCount: {
    doc: 'A message received more often than this is poison and goes to the DLQ.',
    format: integer(1, 1000),
    default: 5,
  },
};

export const stepFields: Fields = {
  initial: { doc: 'Marks the first step of the flow.', format: boolean, default: false },
  sourceQueueName: { doc: 'Queue holding the inputs of this step; must be declared in queue.config.', format: nonEmptyString },
  endpointName: {
    doc: 'Platform endpoint name, resolved against openapi.url; wins over endpointUrl.',
    format: nonEmptyString,
    default: null,
    nullable: true,
  },
  endpointUrl: {
    doc: "Absolute http(s) URL of the endpoint, or a path under /demo/ naming the engine's own demo endpoints (server.config.demoEndpoints), called wherever the engine listens.",
    format: endpointUrl,
    default: null,
    nullable: true,
  },
  targetQueueName: {
    doc: 'Queue receiving the endpoint answer, the next step\'s sourceQueueName; absent on the last step.',
    format: nonEmptyString,
    default: null,
    nullable: true,
  },
  maxThreads: { doc: 'Concurrent endpoint calls of this step (1..1000).', format: integer(1, 1000), default: 10 },
  maxRatePerSecond: {
    doc: 'Most endpoint calls of this step a second, per replica (fractions allowed); unset = no limit.',
    format: positiveNumber('a number of calls a second greater than 0'),
    default: null,
    nullable: true,
  },
  callTimeout: {
    doc: 'Milliseconds the whole endpoint call of this step may take (0 = no limit); unset = http.connection.config.callTimeout.',
    format: integer(0),
    default: null,
    nullable: true,
  },
};

export const flowFields: Fields = {
  flowName: {
    doc: 'Name of the flow, used in POST /api/flows/{flowName}.',
    format: matching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'a flow name has 1-100 letters, digits, "_", "." or "-", starting with a letter or digit'),
  },
  queueMappings: { doc: 'The steps of the flow.', format: listOfObjects(stepFields) },
  maxBacklog: {
    doc: "Most messages the initial step's queue may hold before submissions are refused with 429; unset = no limit.",
    format: integer(1),
    default: null,
    nullable: true,
  },
};

/** How a rule's waits grow; the same keys in `default` and in every `additional` rule. */
const backoffFields: Fields = {
  backoff: {
    doc: '"fixed": every redelivery waits delay; "exponential": redelivery n waits delay * 2^(n-1).',
    format: oneOf(['fixed', 'exponential']),
    default: 'fixed',
  },
  maxDelay: {
    doc: 'Most milliseconds a computed wait may reach (at least delay, at most 7 days); unset = 7 days.',
    format: integer(0, SEVEN_DAYS_IN_MS),
    default: null,
    nullable: true,
  },
  jitter: {
    doc: 'Full jitter: wait a random time between 0 and the computed wait; unset = true for exponential, false for fixed.',
    format: boolean,
    default: null,
    nullable: true,
  },
};

const redeliveryRule: Fields = {
  count: { doc: 'Redeliveries after the first attempt.', format: integer(0, 1000), default: 3 },
  delay: { doc: 'Milliseconds before each redelivery, or before the first with exponential backoff (at most 7 days).', format: integer(0, SEVEN_DAYS_IN_MS), default: 1000 },
  ...backoffFields,
};

const statusRule: Fields = {
  httpStatus: {
    doc: 'HTTP status the rule applies to (503), or a range ("500-599") or class ("5xx") of them; the most specific rule wins.',
    format: httpStatusOrRange,
  },
  count: { doc: 'Redeliveries after the first attempt.', format: integer(0, 1000) },
  delay: { doc: 'Milliseconds before each redelivery, or before the first with exponential backoff (at most 7 days).', format: integer(0, SEVEN_DAYS_IN_MS) },
  ...backoffFields,
};

const redeliveryFields: Fields = {
  default: { doc: 'Rule for statuses without their own rule, transport errors and time-outs.', format: objectOf(redeliveryRule), default: {} },
  additional: { doc: 'Rules for specific HTTP statuses.', format: listOfObjects(statusRule), default: [] },
};

const roleMapping: Fields = {
  url: { doc: 'URL path prefix.', format: urlPath },
  roles: { doc: 'Roles of which the token needs at least one.', format: listOf(nonEmptyString) },
};

const timeoutDoc = '0 = infinite, negative = system default.';
/** A retention period in milliseconds; null (allowed by `nullable`) keeps for ever. */
const keptForEverOr = integer(0, Number.MAX_SAFE_INTEGER, 'or null to keep for ever');

export const schema = {
  azure: {
    storage: {
      config: {
        accountName: { doc: 'Storage account name.', format: nonEmptyString, default: null, nullable: true },
        accountKey: {
          doc: 'Storage account key (secret).',
          format: nonEmptyString,
          default: null,
          nullable: true,
          sensitive: true,
          env: 'AZURE_STORAGE_ACCOUNT_KEY',
        },
        suffix: { doc: 'Endpoint suffix: https://{account}.queue.{suffix}.', format: nonEmptyString, default: 'core.windows.net' },
        credential: {
          doc: '"key": accountKey or connectionString (the default when either is set); "default": Microsoft Entra ID through DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI).',
          format: oneOf(['key', 'default']),
          default: null,
          nullable: true,
        },
        managedIdentityClientId: {
          doc: 'Client id of a user-assigned managed identity, with credential "default".',
          format: nonEmptyString,
          default: null,
          nullable: true,
        },
        endpoints: {
          blob: { doc: 'Blob service URL, instead of https://{accountName}.blob.{suffix}.', format: httpUrl, default: null, nullable: true },
          queue: { doc: 'Queue service URL, instead of https://{accountName}.queue.{suffix}.', format: httpUrl, default: null, nullable: true },
          table: { doc: 'Table service URL, instead of https://{accountName}.table.{suffix}.', format: httpUrl, default: null, nullable: true },
        },
        connectionString: {
          doc: 'Storage connection string (secret), instead of accountName/accountKey.',
          format: nonEmptyString,
          default: null,
          nullable: true,
          sensitive: true,
          env: 'AZURE_STORAGE_CONNECTION_STRING',
        },
        emulator: {
          doc: '"embedded": start Azurite inside the engine, instead of a storage account.',
          format: oneOf(['embedded']),
          default: null,
          nullable: true,
        },
        emulatorLocation: {
          doc: 'Workspace folder of the embedded Azurite, relative to the working directory.',
          format: nonEmptyString,
          default: 'azurite',
        },
        emulatorBlobPort: { doc: 'Blob port of the embedded Azurite (0 = any free port).', format: integer(0, 65535), default: 10000 },
        emulatorQueuePort: { doc: 'Queue port of the embedded Azurite (0 = any free port).', format: integer(0, 65535), default: 10001 },
        emulatorTablePort: { doc: 'Table port of the embedded Azurite (0 = any free port).', format: integer(0, 65535), default: 10002 },
      },
    },
  },
  queue: {
    config: { doc: 'The queues.', format: listOfObjects(queueFields), default: [] },
  },
  flow: {
    config: { doc: 'The flows.', format: listOfObjects(flowFields), default: [] },
  },
  table: {
    config: {
      statusTable: { doc: 'Table of request statuses.', format: tableName, default: 'AsyncEngineStatus' },
      dlqTable: { doc: 'Table of dead-lettered requests.', format: tableName, default: 'AsyncEngineDlq' },
    },
  },
  redelivery: {
    // A leaf rather than a group: convict takes any node with a child named `default` for a leaf.
    config: { doc: 'Redelivery rules.', format: objectOf(redeliveryFields), default: {} },
  },
  http: {
    connection: {
      config: {
        routeConnections: { doc: 'Most connections per endpoint origin.', format: integer(1), default: 20 },
        totalConnections: { doc: 'Most connections across all origins.', format: integer(1), default: 200 },
        connectionTimeToLive: {
          doc: 'Milliseconds a connection may live; unset = forever.',
          format: integer(1),
          default: null,
          nullable: true,
        },
        requestTimeout: { doc: `Milliseconds to wait for a free connection. ${timeoutDoc}`, format: integer(), default: -1 },
        connectionTimeout: { doc: `Milliseconds to establish a connection. ${timeoutDoc}`, format: integer(), default: -1 },
        socketTimeout: { doc: `Most milliseconds of inactivity between two packets. ${timeoutDoc}`, format: integer(), default: -1 },
        callTimeout: {
          doc: 'Most milliseconds a whole endpoint call may take, from holding a connection to the last byte of the answer (0 = no limit).',
          format: integer(0),
          default: 60_000,
        },
      },
    },
  },
  threadpool: {
    config: {
      poolSize: { doc: 'Submissions written to storage at once, kept warm.', format: integer(1), default: 10 },
      maxPoolSize: { doc: 'Most submissions written to storage at once.', format: integer(1), default: 20 },
      maxQueueSize: {
        doc: 'Most submissions waiting for the pool; -1 = unbounded.',
        format: integerOrSpecial([-1], 0, 'an integer of at least 0, or -1 for unbounded'),
        default: 1000,
      },
    },
  },
  openid: {
    config: {
      realm: { doc: 'Keycloak realm.', format: nonEmptyString, default: null, nullable: true },
      'auth-server-url': { doc: 'Keycloak base URL; the issuer is {auth-server-url}/realms/{realm}.', format: httpUrl, default: null, nullable: true },
      resource: { doc: 'Client id: the audience tokens must carry.', format: nonEmptyString, default: null, nullable: true },
      credentials: {
        secret: {
          doc: 'Client secret (secret), for the engine\'s own platform token.',
          format: nonEmptyString,
          default: null,
          nullable: true,
          sensitive: true,
          env: 'OIDC_CLIENT_SECRET',
        },
      },
      'use-resource-role-mappings': {
        doc: 'Take roles from resource_access[resource].roles instead of realm_access.roles.',
        format: boolean,
        default: false,
      },
      'ssl-required': { doc: 'Where https is required: all, external (non-private clients) or none.', format: oneOf(['all', 'external', 'none']), default: 'external' },
      'principal-attribute': { doc: 'Token claim logged as the principal.', format: nonEmptyString, default: 'sub' },
      'autodetect-bearer-only': {
        doc: 'Accepted for compatibility; the engine is an API and always answers 401, never a redirect.',
        format: boolean,
        default: false,
      },
    },
  },
  rbac: {
    config: {
      apiMappings: { doc: 'URL prefixes under /api and the roles they need.', format: listOfObjects(roleMapping), default: [] },
      applicationMappings: { doc: 'Other URL prefixes (/actuator, /openapi.json) and their roles.', format: listOfObjects(roleMapping), default: [] },
      ownRequestsOnly: {
        doc: 'Under oidc: a token reads only the requests its principal submitted, unless it holds one of adminRoles.',
        format: boolean,
        default: false,
      },
      adminRoles: { doc: 'Roles that read every request while ownRequestsOnly is on.', format: listOf(nonEmptyString), default: [] },
    },
  },
  openapi: {
    url: { doc: 'Base URL that endpointName is resolved against.', format: httpUrl, default: null, nullable: true },
    username: { doc: 'User the engine obtains its platform token as.', format: nonEmptyString, default: null, nullable: true },
    password: {
      doc: 'Password of openapi.username (secret).',
      format: nonEmptyString,
      default: null,
      nullable: true,
      sensitive: true,
      env: 'OPENAPI_PASSWORD',
    },
  },
  server: {
    config: {
      host: { doc: 'Interface the HTTP ingress listens on.', format: nonEmptyString, default: '127.0.0.1' },
      port: { doc: 'Port of the HTTP ingress (0 = any free port).', format: integer(0, 65535), default: 8080 },
      maxBodyBytes: { doc: 'Largest request body accepted (413 beyond).', format: integer(1), default: 1048576 },
      shutdownGraceMs: { doc: 'Milliseconds in-flight work may take to finish at shutdown.', format: integer(0), default: 30000 },
      auth: { doc: '"oidc" (bearer tokens) or "none" (no authentication; set explicitly).', format: oneOf(['oidc', 'none']), default: 'oidc' },
      trustProxy: { doc: 'Honour X-Forwarded-* headers.', format: boolean, default: false },
      trustedProxies: {
        doc: 'With trustProxy: addresses or CIDR ranges of the proxies in front of the engine; empty = trust the nearest hop only.',
        format: listOf(ipOrCidr),
        default: [],
      },
      maxConnections: { doc: 'Most inbound connections at once; more are refused at once.', format: integer(1), default: 1024 },
      headersTimeoutMs: { doc: 'Milliseconds a client may take to send a request\'s headers.', format: integer(1), default: 10_000 },
      requestTimeoutMs: { doc: 'Milliseconds a client may take to send a whole request, body included (408 beyond).', format: integer(1), default: 30_000 },
      expirySweepMs: {
        doc: 'Milliseconds between sweeps (at least 1000): requests whose message expired unprocessed, and what retention.config deletes.',
        format: integer(1000),
        default: 300_000,
      },
      demoEndpoints: { doc: 'Serve the built-in demo endpoints under /demo (for config/local.json).', format: boolean, default: false },
      maxWaitSeconds: { doc: 'Most seconds a submission with "Prefer: wait=N" is held for its result (larger N are capped to it).', format: integer(1, 3600), default: 30 },
      managementPort: {
        doc: 'Port of the management server: every /actuator/* route, without authentication, and none of them on port (0 = any free port; unset = /actuator/* on port).',
        format: integer(0, 65535),
        default: null,
        nullable: true,
      },
      managementHost: { doc: 'Interface the management server listens on; unset = host.', format: nonEmptyString, default: null, nullable: true },
    },
  },
  callback: {
    config: {
      allowedHosts: {
        doc: 'Hosts (host or host:port) an X-Callback-Url may point at.',
        format: listOf(matching(/^[a-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-f:.]+\](?::\d{1,5})?$/, 'a lowercase host name or host:port')),
        default: [],
      },
      timeout: { doc: 'Milliseconds a callback may take.', format: integer(1), default: 10000 },
      retries: { doc: 'Retries of a failed callback.', format: integer(0, 100), default: 3 },
    },
  },
  retention: {
    config: {
      completedMs: {
        doc: 'Milliseconds after completion when a completed request\'s status row, result and payload blobs are deleted; null = kept for ever.',
        format: keptForEverOr,
        default: 604_800_000,
        nullable: true,
      },
      deadLetteredMs: {
        doc: 'Milliseconds after dead-lettering when a dead-lettered request\'s status row is deleted (its DLQ entry stays until replayed or deleted); null = kept for ever.',
        format: keptForEverOr,
        default: 2_592_000_000,
        nullable: true,
      },
      idempotencyMs: {
        doc: 'Milliseconds an Idempotency-Key is remembered; its record is deleted after that; null = remembered for ever.',
        format: keptForEverOr,
        default: 86_400_000,
        nullable: true,
      },
    },
  },
  payload: {
    config: {
      inlineLimitBytes: {
        // 32 KiB base64-encoded, inside a JSON envelope, base64-encoded again, stays under Azure's 64 KiB per message.
        doc: 'Largest body carried inside a queue message (0..32768); larger bodies go to a blob.',
        format: integer(0, 32768),
        default: 32768,
      },
      container: { doc: 'Blob container of large bodies.', format: containerName, default: 'async-engine-payloads' },
      maxResponseBytes: {
        doc: 'Largest 2xx answer body read from an endpoint; a larger one fails the attempt and is never buffered beyond this.',
        format: integer(1),
        default: 10_485_760,
      },
    },
  },
  ui: {
    config: {
      clientId: {
        doc: "The dashboard's public OIDC client (authorization code with PKCE, no secret) under auth \"oidc\"; its tokens must carry openid.config.resource as audience.",
        format: nonEmptyString,
        default: null,
        nullable: true,
      },
    },
  },
} satisfies Group;

/** The top-level keys of the document, as users write them. */
export const SECTION_KEYS = [
  'azure.storage.config',
  'queue.config',
  'flow.config',
  'table.config',
  'redelivery.config',
  'http.connection.config',
  'threadpool.config',
  'openid.config',
  'rbac.config',
  'openapi.url',
  'openapi.username',
  'openapi.password',
  'server.config',
  'callback.config',
  'payload.config',
  'ui.config',
  'retention.config',
] as const;
export type SectionKey = (typeof SECTION_KEYS)[number];

/** The schema node at a dotted path, or undefined. */
export function nodeAt(path: string): Leaf | Group | undefined {
  let node: Leaf | Group | undefined = schema;
  for (const key of path.split('.')) {
    if (node === undefined || isLeaf(node)) return undefined;
    node = node[key];
  }
  return node;
}

/** Every leaf of the schema with its dotted path. */
export function leaves(group: Group = schema, prefix = ''): Array<[string, Leaf]> {
  return Object.entries(group).flatMap(([key, node]): Array<[string, Leaf]> => {
    const path = prefix ? `${prefix}.${key}` : key;
    return isLeaf(node) ? [[path, node]] : leaves(node, path);
  });
}
