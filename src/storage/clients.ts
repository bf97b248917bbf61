/**
 * Queue, table and blob clients from the configured storage: an account (name + key + suffix), a
 * connection string, or the embedded emulator's endpoints. Retries are the SDKs' own (one policy
 * per client); nothing here loops around a storage call.
 */
import { AzureNamedKeyCredential, TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import { BlobServiceClient, StorageSharedKeyCredential as BlobKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { QueueServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from '@azure/storage-queue';

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
  queues: QueueServiceClient;
  statusTable: TableClient;
  dlqTable: TableClient;
  payloads: ContainerClient;
}

/** `https://{account}.{service}.{suffix}` for each service. */
export function accountConnection(accountName: string, accountKey: string, suffix: string): StorageConnection {
  const url = (service: string): string => `https://${accountName}.${service}.${suffix}`;
  return { kind: 'account', accountName, accountKey, queueUrl: url('queue'), tableUrl: url('table'), blobUrl: url('blob') };
}

// Exponential retries inside the SDKs: 4 tries, 0.5 s doubling up to 8 s. tryTimeoutInMs bounds one
// try so a stalled connection cannot hang a poller; a receive never takes long.
const QUEUE_AND_BLOB_OPTIONS: StoragePipelineOptions = {
  retryOptions: { maxTries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 8000, tryTimeoutInMs: 30_000 },
};
const TABLE_RETRY = { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 8000 };

function isPlainHttp(connection: StorageConnection): boolean {
  return connection.kind === 'account'
    ? connection.tableUrl.startsWith('http:')
    : /DefaultEndpointsProtocol=http;|Endpoint=http:\/\/|UseDevelopmentStorage=true/i.test(connection.connectionString);
}

export function createStorageClients(connection: StorageConnection, names: StorageNames): StorageClients {
  // The Tables SDK refuses to send a key over plain http unless told: that is the emulator's case.
  const tableOptions: TableServiceClientOptions = { retryOptions: TABLE_RETRY, allowInsecureConnection: isPlainHttp(connection) };
  if (connection.kind === 'connection-string') {
    const { connectionString } = connection;
    return {
      queues: QueueServiceClient.fromConnectionString(connectionString, QUEUE_AND_BLOB_OPTIONS),
      statusTable: TableClient.fromConnectionString(connectionString, names.statusTable, tableOptions),
      dlqTable: TableClient.fromConnectionString(connectionString, names.dlqTable, tableOptions),
      payloads: BlobServiceClient.fromConnectionString(connectionString, QUEUE_AND_BLOB_OPTIONS).getContainerClient(names.container),
    };
  }
  const tableCredential = new AzureNamedKeyCredential(connection.accountName, connection.accountKey);
  return {
    queues: new QueueServiceClient(connection.queueUrl, new StorageSharedKeyCredential(connection.accountName, connection.accountKey), QUEUE_AND_BLOB_OPTIONS),
    statusTable: new TableClient(connection.tableUrl, names.statusTable, tableCredential, tableOptions),
    dlqTable: new TableClient(connection.tableUrl, names.dlqTable, tableCredential, tableOptions),
    payloads: new BlobServiceClient(connection.blobUrl, new BlobKeyCredential(connection.accountName, connection.accountKey), QUEUE_AND_BLOB_OPTIONS).getContainerClient(
      names.container,
    ),
  };
}
