/**
 * The engine's storage for its lifetime: starts the embedded emulator when configured, builds the
 * clients and provisions the queues (the steps' and the callback queue), tables and the payload
 * container.
 */
import { DefaultAzureCredential } from '@azure/identity';
import { callbackQueueName } from '../config/callback-queue.js';
import { STORAGE_ROLES, STORAGE_SCOPE } from '../config/types.js';
import type { EngineConfig, StorageTarget } from '../config/types.js';
import { EngineError, isEngineError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { isTracingOn } from '../observability/spans.js';
import type { StorageCallCounter } from '../observability/storage-calls.js';
import { Emulator } from './azurite.js';
import { createStorageClients, isProxyConfigured, removeIdlePolicies, type StorageClients, type StorageConnection, type StorageNames } from './clients.js';
import { provisionStorage } from './provision.js';

export interface OpenStorageOptions {
  log: Logger;
  abortSignal: AbortSignal;
  /** Counts every storage call the clients make. */
  counter: StorageCallCounter;
}

const EMULATOR_START_TIMEOUT_IN_MS = 60_000;
/** How long a port of the embedded emulator may take to accept a connection before it counts as free. */
const EMULATOR_PROBE_TIMEOUT_IN_MS = 1000;

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
    if (target.kind === 'embedded-emulator') {
      emulator = await Emulator.start({
        location: target.location,
        ports: { blob: target.blobPort, queue: target.queuePort, table: target.tablePort },
        startTimeoutInMs: EMULATOR_START_TIMEOUT_IN_MS,
      });
      log.info({ ports: emulator.ports, location: target.location }, 'storage.emulator_started');
      connection = emulator.connection;
    } else {
      connection = connectionOf(target);
    }
    const clients = createStorageClients(connection, storageNames(config), counter);
    removeIdlePolicies(clients, { isTracingOn: isTracingOn(), isSdkLogOn: (process.env['AZURE_LOG_LEVEL'] ?? '') !== '', isProxyOn: isProxyConfigured() });
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

  /**
   * Storage for the operator commands (`async-engine flows`, `requests`, `dlq`): the engine's
   * clients with its credentials, but nothing is provisioned (a command creates nothing; on storage
   * no engine ever ran, it reports the missing table or queue). With the embedded emulator it
   * reaches the one that listens on the configured ports (an engine's, `npm start` in another
   * terminal), and only when none of the three ports answers starts one of its own there, on the
   * same workspace, for the command's duration: so it works while no engine runs, and never runs a
   * second emulator on a workspace in use. Ports configured as 0 cannot be found: AE_INVALID_CONFIG.
   */
  static async attach(config: EngineConfig, { log, counter }: Omit<OpenStorageOptions, 'abortSignal'>): Promise<Storage> {
    const target = config.storage;
    if (target.kind !== 'embedded-emulator') return new Storage(createStorageClients(connectionOf(target), storageNames(config), counter), null);
    const ports = { blob: target.blobPort, queue: target.queuePort, table: target.tablePort };
    if (Object.values(ports).includes(0)) {
      throw new EngineError(
        'AE_INVALID_CONFIG',
        'azure.storage.config sets an emulator port to 0 (any free port): the operator commands cannot find where an engine runs that emulator. ' +
          'Set emulatorBlobPort, emulatorQueuePort and emulatorTablePort to fixed ports, or reach storage through a connectionString',
      );
    }
    if (await Emulator.isAnyListening(ports, EMULATOR_PROBE_TIMEOUT_IN_MS)) {
      return new Storage(createStorageClients(Emulator.connectionOn(ports), storageNames(config), counter), null);
    }
    const emulator = await Emulator.start({ location: target.location, ports, startTimeoutInMs: EMULATOR_START_TIMEOUT_IN_MS });
    log.info({ ports: emulator.ports, location: target.location }, 'storage.emulator_started');
    return new Storage(createStorageClients(emulator.connection, storageNames(config), counter), emulator);
  }

  /** Stops the embedded emulator, if any. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.emulator?.close() ?? Promise.resolve();
    return this.#closing;
  }
}

/** How to reach storage that is not the embedded emulator. */
function connectionOf(target: Exclude<StorageTarget, { kind: 'embedded-emulator' }>): StorageConnection {
  switch (target.kind) {
    case 'connection-string':
      return { kind: 'connection-string', connectionString: target.connectionString };
    case 'account':
      return { kind: 'account', accountName: target.accountName, accountKey: target.accountKey, queueUrl: target.urls.queue, tableUrl: target.urls.table, blobUrl: target.urls.blob };
    case 'entra-id': {
      const credential = new DefaultAzureCredential(target.managedIdentityClientId === null ? {} : { managedIdentityClientId: target.managedIdentityClientId });
      return { kind: 'token', accountName: target.accountName, credential, queueUrl: target.urls.queue, tableUrl: target.urls.table, blobUrl: target.urls.blob };
    }
    default:
      throw new Error(`unhandled storage target ${(target satisfies never as { kind: string }).kind}`);
  }
}

function storageNames(config: EngineConfig): StorageNames {
  return { ...config.tables, container: config.payload.container };
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
