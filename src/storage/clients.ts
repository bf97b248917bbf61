/**
 * Queue, table and blob clients from the configured storage: an account (name + key + suffix), a
 * connection string, or the embedded emulator's endpoints. Retries are the SDKs' own (one policy
 * per client); nothing here loops around a storage call.
 */
import { AzureNamedKeyCredential, TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import * as blob from '@azure/storage-blob';
import * as queue from '@azure/storage-queue';
import type { StorageCallCounter } from '../observability/storage-calls.js';

/** How to reach storage once the target is known (the emulator's ports are only known once it runs). */
export type StorageConnection =
  | { kind: 'connection-string'; connectionString: string }
  | { kind: 'account'; accountName: string; accountKey: string; queueUrl: string; tableUrl: string; blobUrl: string };

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

/** `https://{account}.{service}.{suffix}` for each service. */
export function accountConnection(accountName: string, accountKey: string, suffix: string): StorageConnection {
  const url = (service: string): string => `https://${accountName}.${service}.${suffix}`;
  return { kind: 'account', accountName, accountKey, queueUrl: url('queue'), tableUrl: url('table'), blobUrl: url('blob') };
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
  return connection.kind === 'account'
    ? connection.tableUrl.startsWith('http:')
    : /DefaultEndpointsProtocol=http;|Endpoint=http:\/\/|UseDevelopmentStorage=true/i.test(connection.connectionString);
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

/**
 * The Queue and Blob SDKs take extra policies only through an explicit pipeline of request-policy
 * factories; the credential is one of them (the SDK finds it there and signs with it).
 */
function queuePipeline(url: string, account: { name: string; key: string } | null, counter: StorageCallCounter): queue.Pipeline {
  const credential = account ? new queue.StorageSharedKeyCredential(account.name, account.key) : new queue.AnonymousCredential();
  return new queue.Pipeline([counter.requestPolicyFactory('queue', url), credential], queue.newPipeline(credential, QUEUE_AND_BLOB_OPTIONS).options);
}

function blobPipeline(url: string, account: { name: string; key: string } | null, counter: StorageCallCounter): blob.Pipeline {
  const credential = account ? new blob.StorageSharedKeyCredential(account.name, account.key) : new blob.AnonymousCredential();
  return new blob.Pipeline([counter.requestPolicyFactory('blob', url), credential], blob.newPipeline(credential, QUEUE_AND_BLOB_OPTIONS).options);
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
    const account = sharedKeyOf(connectionString);
    const queueUrl = queue.QueueServiceClient.fromConnectionString(connectionString).url;
    const blobUrl = blob.BlobServiceClient.fromConnectionString(connectionString).url;
    queues = new queue.QueueServiceClient(queueUrl, queuePipeline(queueUrl, account, counter));
    blobs = new blob.BlobServiceClient(blobUrl, blobPipeline(blobUrl, account, counter));
    statusTable = TableClient.fromConnectionString(connectionString, names.statusTable, tableOptions);
    dlqTable = TableClient.fromConnectionString(connectionString, names.dlqTable, tableOptions);
  } else {
    const account = { name: connection.accountName, key: connection.accountKey };
    const tableCredential = new AzureNamedKeyCredential(connection.accountName, connection.accountKey);
    queues = new queue.QueueServiceClient(connection.queueUrl, queuePipeline(connection.queueUrl, account, counter));
    blobs = new blob.BlobServiceClient(connection.blobUrl, blobPipeline(connection.blobUrl, account, counter));
    statusTable = new TableClient(connection.tableUrl, names.statusTable, tableCredential, tableOptions);
    dlqTable = new TableClient(connection.tableUrl, names.dlqTable, tableCredential, tableOptions);
  }
  for (const table of [statusTable, dlqTable]) table.pipeline.addPolicy(counter.corePolicy('table'));
  return { queues, statusTable, dlqTable, payloads: blobs.getContainerClient(names.container) };
}
