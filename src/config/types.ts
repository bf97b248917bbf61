/**
 * The resolved configuration that the rest of src imports: validated, defaults applied, units in
 * the names. Built by `load.ts` from the document; nothing here is optional unless it may be unset.
 */

/** The service URLs of a storage account: azure.storage.config.endpoints, else built from accountName and suffix. */
export interface StorageServiceUrls {
  blob: string;
  queue: string;
  table: string;
}

/** The scope of the tokens that storage accepts (credential "default"). */
export const STORAGE_SCOPE = 'https://storage.azure.com/.default';
/** The built-in roles an identity needs on the account for everything the engine does. */
export const STORAGE_ROLES = ['Storage Queue Data Contributor', 'Storage Table Data Contributor', 'Storage Blob Data Contributor'] as const;

export type StorageTarget =
  /** Shared key: the account key signs every request. */
  | { kind: 'account'; accountName: string; accountKey: string; urls: StorageServiceUrls }
  /** Microsoft Entra ID: DefaultAzureCredential's tokens (credential "default"). */
  | { kind: 'entra-id'; accountName: string; managedIdentityClientId: string | null; urls: StorageServiceUrls }
  | { kind: 'connection-string'; connectionString: string }
  | {
      kind: 'embedded-emulator';
      location: string;
      blobPort: number;
      queuePort: number;
      tablePort: number;
    };

export interface QueueOptions {
  name: string;
  maxMessages: number;
  pollDelayInMs: number;
  /** The idle back-off's ceiling; never below pollDelayInMs. */
  maxIdleDelayInMs: number;
  greedy: boolean;
  /** null = messages never expire. */
  timeToLiveInMs: number | null;
  visibilityTimeoutInMs: number;
  maxDequeueCount: number;
}

export type Endpoint =
  /** A platform endpoint: `url` is `name` resolved against openapi.url; calls carry the platform token. */
  | { kind: 'platform'; name: string; url: string }
  | { kind: 'url'; url: string }
  /**
   * A path of the engine's own demo endpoints (server.config.demoEndpoints), called on the port the
   * engine's ingress listens on, whatever it is (`port: 0` included).
   */
  | { kind: 'demo'; path: string };

export interface FlowStep {
  /** 0-based position in the chain from the initial step. */
  index: number;
  sourceQueueName: string;
  /** null on the last step. */
  targetQueueName: string | null;
  endpoint: Endpoint;
  maxThreads: number;
  /** The whole endpoint call's limit: the step's callTimeout, else http.connection.config's; 0 = none. */
  callTimeoutInMs: number;
  /** Endpoint calls a second per replica; null = no limit. */
  maxRatePerSecond: number | null;
}

export interface FlowDefinition {
  name: string;
  /** In chain order: steps[0] is the initial step. */
  steps: readonly FlowStep[];
  /** Submissions are refused while the initial queue holds this many messages; null = no limit. */
  maxBacklog: number | null;
}

export interface RedeliveryRule {
  count: number;
  /** The wait before every redelivery ("fixed"), or before the first, doubling after ("exponential"). */
  delayInMs: number;
  backoff: 'fixed' | 'exponential';
  /** The longest computed wait: maxDelay, else 7 days (Azure's longest visibility timeout). */
  maxDelayInMs: number;
  /** Full jitter: a random wait between 0 and the computed one. */
  hasJitter: boolean;
}

/** A rule of redelivery.config.additional: the statuses from `fromStatus` to `toStatus`, inclusive (one for an exact status). */
export interface StatusRule {
  fromStatus: number;
  toStatus: number;
  rule: RedeliveryRule;
}

export interface RedeliveryOptions {
  default: RedeliveryRule;
  /**
   * In the order of redelivery.config.additional. The narrowest range that holds a status is its
   * rule (an exact status is a range of one); validation leaves no two overlapping ranges of one width.
   */
  statusRules: readonly StatusRule[];
}

export interface HttpConnectionOptions {
  routeConnections: number;
  totalConnections: number;
  /** null = connections live forever. */
  connectionTimeToLiveInMs: number | null;
  /** For each: 0 = infinite, negative = system default. */
  requestTimeoutInMs: number;
  connectionTimeoutInMs: number;
  socketTimeoutInMs: number;
  /** The whole call, connection held to the last byte; 0 = none. Steps may override it. */
  callTimeoutInMs: number;
}

export interface AdmissionOptions {
  poolSize: number;
  maxPoolSize: number;
  /** -1 = unbounded. */
  maxQueueSize: number;
}

export interface OpenIdOptions {
  realm: string;
  authServerUrl: string;
  resource: string;
  clientSecret: string | null;
  useResourceRoleMappings: boolean;
  sslRequired: 'all' | 'external' | 'none';
  principalAttribute: string;
}

/**
 * How the ingress authenticates callers (server.config.auth with openid.config). Under "none" the
 * provider may still be configured, for the engine's platform token.
 */
export type AuthOptions = { mode: 'oidc'; openid: OpenIdOptions } | { mode: 'none'; openid: OpenIdOptions | null };

/** openapi.url, openapi.username and openapi.password as configured. */
export interface PlatformOptions {
  url: string | null;
  username: string | null;
  password: string | null;
}

/** What the engine's own token for endpointName steps needs; validation guarantees every field. */
export interface PlatformTokenOptions {
  openid: OpenIdOptions;
  username: string;
  password: string;
}

export interface RoleMapping {
  urlPrefix: string;
  roles: readonly string[];
}

export interface EngineConfig {
  storage: StorageTarget;
  queues: ReadonlyMap<string, QueueOptions>;
  flows: readonly FlowDefinition[];
  tables: { statusTable: string; dlqTable: string };
  redelivery: RedeliveryOptions;
  http: HttpConnectionOptions;
  admission: AdmissionOptions;
  auth: AuthOptions;
  rbac: {
    apiMappings: readonly RoleMapping[];
    applicationMappings: readonly RoleMapping[];
    /** Under oidc: a token reads only its principal's requests unless it holds one of adminRoles. */
    ownRequestsOnly: boolean;
    adminRoles: readonly string[];
  };
  platform: PlatformOptions;
  /** null when no step names an endpointName. */
  platformToken: PlatformTokenOptions | null;
  server: {
    host: string;
    port: number;
    maxBodyBytes: number;
    shutdownGraceInMs: number;
    trustProxy: boolean;
    /** With trustProxy: addresses and CIDR ranges of the proxies; empty = the nearest hop only. */
    trustedProxies: readonly string[];
    maxConnections: number;
    headersTimeoutInMs: number;
    requestTimeoutInMs: number;
    demoEndpoints: boolean;
    expirySweepInMs: number;
    /** The cap on a submission's "Prefer: wait=N". */
    maxWaitInSeconds: number;
    /** Where every /actuator/* route is served without authentication; null = on `port`, as the API. */
    managementPort: number | null;
    /** The management server's interface (server.config.managementHost, else host). */
    managementHost: string;
  };
  callback: { allowedHosts: readonly string[]; timeoutInMs: number; retries: number };
  payload: { inlineLimitBytes: number; container: string; maxResponseBytes: number };
  /** The dashboard (GET /ui): its public OIDC client under auth "oidc"; null = none configured. */
  ui: { clientId: string | null };
  retention: RetentionOptions;
}

/** retention.config: how long finished things are kept, in milliseconds; null = for ever. */
export interface RetentionOptions {
  /** A completed request's status row, result and payload blobs, counted from its completion. */
  completedInMs: number | null;
  /** A dead-lettered request's status row (not its DLQ entry), counted from the dead-lettering. */
  deadLetteredInMs: number | null;
  /** An idempotency record, counted from its claim. */
  idempotencyInMs: number | null;
}
