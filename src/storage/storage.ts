/**
 * The engine's storage for its lifetime: starts the embedded emulator when configured, builds the
 * clients and provisions the queues (the steps' and the callback queue), tables and the payload
 * container.
 */
import { DefaultAzureCredential } from '@azure/identity';
import { callbackQueueName } from '../config/callback-queue.js';
import { STORAGE_ROLES, STORAGE_SCOPE } from '../config/types.js';
import type { EngineConfig } from '../config/types.js';
import { EngineError, isEngineError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { StorageCallCounter } from '../observability/storage-calls.js';
import { Emulator } from './azurite.js';
import { createStorageClients, type StorageClients, type StorageConnection } from './clients.js';
import { provisionStorage } from './provision.js';

export interface OpenStorageOptions {
  log: Logger;
  abortSignal: AbortSignal;
  /** Counts every storage call the clients make. */
  counter: StorageCallCounter;
}

const EMULATOR_START_TIMEOUT_IN_MS = 60_000;

export class Storage {
  readonly clients: StorageClients;
  /** Set when the engine runs its own Azurite. */
  readonly emulator: Emulator | null;
  #closing: Promise<void> | undefined;

  private constructor(clients: StorageClients, emulator: Emulator | null) {
    this.clients = clients;
    this.emulator = emulator;
  }

  static async open(config: EngineConfig, { log, abortSignal, counter }: OpenStorageOptions): Promise<Storage> {
    const target = config.storage;
    let emulator: Emulator | null = null;
    let connection: StorageConnection;
    switch (target.kind) {
      case 'embedded-emulator':
        emulator = await Emulator.start({
          location: target.location,
          ports: { blob: target.blobPort, queue: target.queuePort, table: target.tablePort },
          startTimeoutInMs: EMULATOR_START_TIMEOUT_IN_MS,
        });
        log.info({ ports: emulator.ports, location: target.location }, 'storage.emulator_started');
        connection = emulator.connection;
        break;
      case 'connection-string':
        connection = { kind: 'connection-string', connectionString: target.connectionString };
        break;
      case 'account':
        connection = { kind: 'account', accountName: target.accountName, accountKey: target.accountKey, queueUrl: target.urls.queue, tableUrl: target.urls.table, blobUrl: target.urls.blob };
        break;
      case 'entra-id': {
        const credential = new DefaultAzureCredential(target.managedIdentityClientId === null ? {} : { managedIdentityClientId: target.managedIdentityClientId });
        connection = { kind: 'token', accountName: target.accountName, credential, queueUrl: target.urls.queue, tableUrl: target.urls.table, blobUrl: target.urls.blob };
        break;
      }
      default:
        throw new Error(`unhandled storage target ${(target satisfies never as { kind: string }).kind}`);
    }
    const clients = createStorageClients(connection, { ...config.tables, container: config.payload.container }, counter);
    try {
      // The step queues and the engine's own callback queue (validation keeps their names apart).
      const queueNames = [...config.queues.keys(), callbackQueueName(config.tables.statusTable)];
      const { created } = await provisionStorage(clients, { queueNames, abortSignal });
      log.info({ created, queues: queueNames.length }, 'storage.provisioned');
    } catch (err) {
      await emulator?.close();
      throw target.kind === 'entra-id' ? withEntraIdHint(err, target.accountName) : err;
    }
    return new Storage(clients, emulator);
  }

  /** Stops the embedded emulator, if any. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.emulator?.close() ?? Promise.resolve();
    return this.#closing;
  }
}

/** What a refused or missing token needs, said once at start-up where it is most likely. */
function withEntraIdHint(err: unknown, accountName: string): unknown {
  if (!isEngineError(err) || err.code !== 'AE_STORAGE_UNAVAILABLE' || /unreachable/.test(err.message)) return err;
  return new EngineError(
    err.code,
    `${err.message}. With credential "default" the engine asks DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI) ` +
      `for a token for ${STORAGE_SCOPE}; its identity needs the roles ${STORAGE_ROLES.join(', ')} on the storage account ${accountName}`,
    { cause: err },
  );
}
