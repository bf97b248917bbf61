/**
 * Queue, table and blob clients from the configured storage: an account's service URLs with its key
 * or with Microsoft Entra ID tokens, a connection string, or the embedded emulator's endpoints. Retries are the SDKs' own (one policy
 * per client); nothing here loops around a storage call.
 */
import { getDefaultProxySettings } from '@azure/core-rest-pipeline';
import { AzureNamedKeyCredential, TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import * as blob from '@azure/storage-blob';
import * as queue from '@azure/storage-queue';
import type { StorageCallCounter } from '../observability/storage-calls.js';

/** How to reach storage once the target is known (the emulator's ports are only known once it runs). */
export type StorageConnection =
  | { kind: 'connection-string'; connectionString: string }
  | { kind: 'account'; accountName: string; accountKey: string; queueUrl: string; tableUrl: string; blobUrl: string }
  /** Microsoft Entra ID: every request carries a bearer token from `credential` (https only). */
  | { kind: 'token'; accountName: string; credential: TokenCredential; queueUrl: string; tableUrl: string; blobUrl: string };

export interface StorageNames {
  statusTable: string;
  dlqTable: string;
  container: string;
}

export interface StorageClients {
  queues: queue.QueueServiceClient;
  statusTable: TableClient;
  dlqTable: TableClient;
  payloads: blob.ContainerClient;
}

// Exponential retries inside the SDKs: 4 tries, 0.5 s doubling up to 8 s. tryTimeoutInMs bounds one
// try so a stalled connection cannot hang a poller; a receive never takes long.
const QUEUE_AND_BLOB_OPTIONS: queue.StoragePipelineOptions & blob.StoragePipelineOptions = {
  retryOptions: { maxTries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 8000, tryTimeoutInMs: 30_000 },
};
const TABLE_RETRY = { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 8000 };
/** Azurite's well-known development account, which `UseDevelopmentStorage=true` names. */
const DEVELOPMENT_ACCOUNT = { name: 'devstoreaccount1', key: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' };

function isPlainHttp(connection: StorageConnection): boolean {
  return connection.kind === 'connection-string'
    ? /DefaultEndpointsProtocol=http;|Endpoint=http:\/\/|UseDevelopmentStorage=true/i.test(connection.connectionString)
    : connection.tableUrl.startsWith('http:');
}

/** Account name and key of a connection string, or null for a SAS connection string. */
function sharedKeyOf(connectionString: string): { name: string; key: string } | null {
  const fields = new Map(
    connectionString
      .split(';')
      .filter((part) => part.includes('='))
      .map((part) => [part.slice(0, part.indexOf('=')).trim().toLowerCase(), part.slice(part.indexOf('=') + 1).trim()]),
  );
  if (fields.get('usedevelopmentstorage') === 'true') return DEVELOPMENT_ACCOUNT;
  const name = fields.get('accountname');
  const key = fields.get('accountkey');
  return name && key ? { name, key } : null;
}

/** What signs the queue and blob requests: a shared key, a token credential, or nothing (a SAS in the URL). */
type QueueAndBlobCredential = { kind: 'shared-key'; name: string; key: string } | { kind: 'token'; credential: TokenCredential } | null;

/** Queue and blob requests are signed with the pipeline's credential. */
function queuePipeline(credential: QueueAndBlobCredential): queue.Pipeline {
  const signer =
    credential?.kind === 'shared-key' ? new queue.StorageSharedKeyCredential(credential.name, credential.key) : (credential?.credential ?? new queue.AnonymousCredential());
  return queue.newPipeline(signer, QUEUE_AND_BLOB_OPTIONS);
}

function blobPipeline(credential: QueueAndBlobCredential): blob.Pipeline {
  const signer =
    credential?.kind === 'shared-key' ? new blob.StorageSharedKeyCredential(credential.name, credential.key) : (credential?.credential ?? new blob.AnonymousCredential());
  return blob.newPipeline(signer, QUEUE_AND_BLOB_OPTIONS);
}

/** The pipeline behind the Azure clients (core-rest-pipeline's, as TableClient exposes it). */
type CorePipeline = TableClient['pipeline'];

/**
 * The core pipeline a queue or blob client runs. The storage SDKs build it from their own Pipeline
 * object when the first client is made, and keep it there (`_corePipeline`); they offer no other
 * way to add or remove a core policy. Throws when an SDK update moves it: counting must not stop,
 * nor the idle policies come back, silently (`test/storage/clients.test.ts` checks it too).
 */
function corePipelineOf(client: queue.QueueServiceClient | blob.BlobServiceClient | blob.ContainerClient): CorePipeline {
  const pipeline = (client as unknown as { pipeline?: { _corePipeline?: CorePipeline } }).pipeline?._corePipeline;
  if (pipeline === undefined) throw new Error('the storage SDK no longer keeps its core pipeline where the engine adds and removes policies (_corePipeline)');
  return pipeline;
}

/** Adds the call counter to a queue or blob client's pipeline. */
function countCalls(client: queue.QueueServiceClient | blob.BlobServiceClient, service: 'queue' | 'blob', counter: StorageCallCounter): void {
  corePipelineOf(client).addPolicy(counter.corePolicy(service, client.url));
}

export function createStorageClients(connection: StorageConnection, names: StorageNames, counter: StorageCallCounter): StorageClients {
  // The Tables SDK refuses to send a key over plain http unless told: that is the emulator's case.
  const tableOptions: TableServiceClientOptions = { retryOptions: TABLE_RETRY, allowInsecureConnection: isPlainHttp(connection) };
  let queues: queue.QueueServiceClient;
  let blobs: blob.BlobServiceClient;
  let statusTable: TableClient;
  let dlqTable: TableClient;
  if (connection.kind === 'connection-string') {
    const { connectionString } = connection;
    // The SDKs parse the endpoints (and a SAS) out of the string; the pipelines only need the key.
    const sharedKey = sharedKeyOf(connectionString);
    const credential: QueueAndBlobCredential = sharedKey ? { kind: 'shared-key', ...sharedKey } : null;
    const queueUrl = queue.QueueServiceClient.fromConnectionString(connectionString).url;
    const blobUrl = blob.BlobServiceClient.fromConnectionString(connectionString).url;
    queues = new queue.QueueServiceClient(queueUrl, queuePipeline(credential));
    blobs = new blob.BlobServiceClient(blobUrl, blobPipeline(credential));
    statusTable = TableClient.fromConnectionString(connectionString, names.statusTable, tableOptions);
    dlqTable = TableClient.fromConnectionString(connectionString, names.dlqTable, tableOptions);
  } else {
    const credential: QueueAndBlobCredential =
      connection.kind === 'account' ? { kind: 'shared-key', name: connection.accountName, key: connection.accountKey } : { kind: 'token', credential: connection.credential };
    queues = new queue.QueueServiceClient(connection.queueUrl, queuePipeline(credential));
    blobs = new blob.BlobServiceClient(connection.blobUrl, blobPipeline(credential));
    const table = (name: string): TableClient =>
      connection.kind === 'account'
        ? new TableClient(connection.tableUrl, name, new AzureNamedKeyCredential(connection.accountName, connection.accountKey), tableOptions)
        : new TableClient(connection.tableUrl, name, connection.credential, tableOptions);
    statusTable = table(names.statusTable);
    dlqTable = table(names.dlqTable);
  }
  countCalls(queues, 'queue', counter);
  countCalls(blobs, 'blob', counter);
  for (const table of [statusTable, dlqTable]) table.pipeline.addPolicy(counter.corePolicy('table'));
  return { queues, statusTable, dlqTable, payloads: blobs.getContainerClient(names.container) };
}

export interface IdlePolicyOptions {
  /** Spans are made (Tracing issue): the SDKs' tracing policy reports each request. */
  isTracingOn: boolean;
  /** AZURE_LOG_LEVEL is set: the SDKs' log policy writes each request and response. */
  isSdkLogOn: boolean;
  /**
   * HTTPS_PROXY, HTTP_PROXY or ALL_PROXY was set when the clients were made (see
   * {@link isProxyConfigured}): the SDKs' proxy policy sends the requests through it.
   */
  isProxyOn: boolean;
}

/**
 * Whether the SDKs' proxy policy has a proxy to use: it reads the environment once, when a pipeline
 * is made, and with none set it passes every request on untouched.
 */
export function isProxyConfigured(): boolean {
  return getDefaultProxySettings() !== undefined;
}

/**
 * Policies of the SDKs' pipelines that can do nothing for the engine, and still cost every storage
 * call its share (an async step each, and for tracing a sanitized URL and a span that records
 * nothing): form data and multipart bodies (none of the engine's requests has one), the storage
 * SDKs' browser policy (a no-op in Node.js), redirects (Azure Storage answers its REST calls with
 * no 3xx, and a signed request is not one to send on to wherever a Location header points: a 3xx
 * now fails the call), the wrapping of abort signals that are not Node.js's own (the engine passes
 * only Node.js's, which the policy passes on as they are), the proxy policy while no proxy is
 * configured, and tracing and logging when they are off.
 */
export function idlePolicies({ isTracingOn, isSdkLogOn, isProxyOn }: IdlePolicyOptions): string[] {
  return [
    'formDataPolicy',
    'multipartPolicy',
    'storageBrowserPolicy',
    'redirectPolicy',
    'wrapAbortSignalLikePolicy',
    ...(isProxyOn ? [] : ['proxyPolicy']),
    ...(isTracingOn ? [] : ['tracingPolicy']),
    ...(isSdkLogOn ? [] : ['logPolicy']),
  ];
}

/**
 * Takes the {@link idlePolicies} out of the engine's clients (Performance issue: measured at about
 * 8% less CPU per storage call). The queue and blob clients share one pipeline per service, which
 * the SDKs build once, at the first client, and keep on the storage Pipeline object; those are
 * reached by the field they are kept in (`_corePipeline`), and `test/storage/clients.test.ts` fails
 * when an SDK update moves it. The table clients expose theirs.
 */
export function removeIdlePolicies(clients: StorageClients, options: IdlePolicyOptions): void {
  const names = idlePolicies(options);
  const pipelines = [corePipelineOf(clients.queues), corePipelineOf(clients.payloads), clients.statusTable.pipeline, clients.dlqTable.pipeline];
  for (const pipeline of pipelines) for (const name of names) pipeline.removePolicy({ name });
}
