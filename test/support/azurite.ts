/**
 * Azurite for tests: in memory, on ports the OS picks, in its own process (so suites can run side by
 * side), started through the same code the engine uses for its embedded emulator. Give every test its
 * own queue and table names with {@link uniqueQueueName} and {@link uniqueTableName}.
 */
import { randomBytes } from 'node:crypto';
import { Emulator } from '../../src/storage/azurite.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { createStorageClients, type StorageClients, type StorageNames } from '../../src/storage/clients.js';

export type TestAzurite = Emulator;

export function startAzurite(): Promise<TestAzurite> {
  return Emulator.start({ location: null, ports: { blob: 0, queue: 0, table: 0 }, startTimeoutInMs: 60_000 });
}

const suffix = (): string => randomBytes(4).toString('hex');

/** A queue or container name no other test uses: lowercase, digits and hyphens. */
export function uniqueQueueName(prefix = 'q'): string {
  return `${prefix}-${suffix()}`;
}

/** A table name no other test uses: letters and digits only. */
export function uniqueTableName(prefix = 'T'): string {
  return `${prefix}${suffix()}`;
}

export function uniqueStorageNames(): StorageNames {
  return { statusTable: uniqueTableName('Status'), dlqTable: uniqueTableName('Dlq'), container: uniqueQueueName('payloads') };
}

export function clientsFor(azurite: TestAzurite, names: StorageNames = uniqueStorageNames(), counter = new StorageCallCounter()): StorageClients {
  return createStorageClients(azurite.connection, names, counter);
}
