/**
 * Creates what the engine needs in storage: the queues it is given (the declared ones and the
 * engine's callback queue, config/callback-queue.ts), the status and DLQ tables, the
 * payload container and in it the sweepers' lock blob (lock-blob.ts). Idempotent, and safe when several replicas start at once: every call is a
 * create-if-missing that treats "already exists" as success.
 */
import { translateStorageError } from './storage-error.js';
import type { StorageClients } from './clients.js';
import { createLockBlob, SWEEPER_LOCK_BLOB } from './lock-blob.js';

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
    (async () => {
      const container = clients.payloads;
      await attempt(`container ${container.containerName}`, async () => (await container.createIfNotExists({ abortSignal })).succeeded);
      // Here rather than at the first election: a replica's first storage calls are all made before it starts.
      await attempt(`blob ${container.containerName}/${SWEEPER_LOCK_BLOB}`, () => createLockBlob(container.getBlockBlobClient(SWEEPER_LOCK_BLOB), abortSignal));
    })(),
  ]);
  return { created: created.sort() };
}
