/**
 * Creates what the engine needs in storage: the declared queues, the status and DLQ tables and the
 * payload container. Idempotent, and safe when several replicas start at once: every call is a
 * create-if-missing that treats "already exists" as success.
 */
import { translateStorageError } from './storage-error.js';
import type { StorageClients } from './clients.js';

export interface ProvisionOptions {
  queueNames: readonly string[];
  abortSignal: AbortSignal;
}

export interface ProvisionResult {
  /** What did not exist and was created by this call. */
  created: string[];
}

export async function provisionStorage(clients: StorageClients, { queueNames, abortSignal }: ProvisionOptions): Promise<ProvisionResult> {
  const created: string[] = [];
  const attempt = async (what: string, create: () => Promise<boolean>): Promise<void> => {
    try {
      if (await create()) created.push(what);
    } catch (err) {
      throw translateStorageError(err, `creating ${what}`);
    }
  };
  await Promise.all([
    ...queueNames.map((name) =>
      attempt(`queue ${name}`, async () => (await clients.queues.getQueueClient(name).createIfNotExists({ abortSignal })).succeeded),
    ),
    ...[clients.statusTable, clients.dlqTable].map((table) =>
      attempt(`table ${table.tableName}`, async () => {
        let isNew = true;
        // createTable treats TableAlreadyExists as success; onResponse tells the two apart.
        await table.createTable({ abortSignal, onResponse: (response) => (isNew = response.status === 201 || response.status === 204) });
        return isNew;
      }),
    ),
    attempt(`container ${clients.payloads.containerName}`, async () => (await clients.payloads.createIfNotExists({ abortSignal })).succeeded),
  ]);
  return { created: created.sort() };
}
