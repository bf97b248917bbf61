import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TableServiceClient } from '@azure/data-tables';
import { isEngineError } from '../../src/errors.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { createStorageClients, type StorageClients } from '../../src/storage/clients.js';
import { SWEEPER_LOCK_BLOB } from '../../src/storage/lock-blob.js';
import { provisionStorage } from '../../src/storage/provision.js';
import { translateStorageError } from '../../src/storage/storage-error.js';
import { clientsFor, startAzurite, uniqueQueueName, uniqueStorageNames, type TestAzurite } from '../support/azurite.js';

describe('provisionStorage', () => {
  let azurite: TestAzurite;
  before(async () => {
    azurite = await startAzurite();
  });
  after(() => azurite.close());

  async function existing(clients: StorageClients, queueNames: string[]): Promise<string[]> {
    const found: string[] = [];
    for (const name of queueNames) if (await clients.queues.getQueueClient(name).exists()) found.push(`queue ${name}`);
    const tables = TableServiceClient.fromConnectionString(azurite.connectionString, { allowInsecureConnection: true });
    const tableNames = new Set<string>();
    for await (const t of tables.listTables()) tableNames.add(t.name ?? '');
    for (const table of [clients.statusTable, clients.dlqTable]) if (tableNames.has(table.tableName)) found.push(`table ${table.tableName}`);
    if (await clients.payloads.exists()) found.push(`container ${clients.payloads.containerName}`);
    if (await clients.payloads.getBlockBlobClient(SWEEPER_LOCK_BLOB).exists()) found.push(`blob ${clients.payloads.containerName}/${SWEEPER_LOCK_BLOB}`);
    return found.sort();
  }

  it('creates the queues, both tables, the payload container and the sweepers\' lock blob in it when none exist', async () => {
    const clients = clientsFor(azurite);
    const queueNames = [uniqueQueueName(), uniqueQueueName()];
    assert.deepEqual(await existing(clients, queueNames), []);

    const { created } = await provisionStorage(clients, { queueNames, abortSignal: AbortSignal.timeout(30_000) });

    const expected = [
      ...queueNames.map((q) => `queue ${q}`),
      `table ${clients.statusTable.tableName}`,
      `table ${clients.dlqTable.tableName}`,
      `container ${clients.payloads.containerName}`,
      `blob ${clients.payloads.containerName}/${SWEEPER_LOCK_BLOB}`,
    ].sort();
    assert.deepEqual(created, expected);
    assert.deepEqual(await existing(clients, queueNames), expected);
  });

  it('creates nothing and fails nothing when everything exists already', async () => {
    const clients = clientsFor(azurite);
    const queueNames = [uniqueQueueName()];
    await provisionStorage(clients, { queueNames, abortSignal: AbortSignal.timeout(30_000) });
    const second = await provisionStorage(clients, { queueNames, abortSignal: AbortSignal.timeout(30_000) });
    assert.deepEqual(second.created, []);
  });

  it('is safe when several replicas provision the same names at once: each thing is created exactly once', async () => {
    const names = uniqueStorageNames();
    const queueNames = [uniqueQueueName(), uniqueQueueName(), uniqueQueueName()];
    // Separate clients, as separate replicas would have.
    const replicas = Array.from({ length: 4 }, () => clientsFor(azurite, names));
    const results = await Promise.all(replicas.map((c) => provisionStorage(c, { queueNames, abortSignal: AbortSignal.timeout(30_000) })));

    const all = results.flatMap((r) => r.created).sort();
    assert.equal(all.length, queueNames.length + 4, `created: ${all.join(', ')}`);
    assert.equal(new Set(all).size, all.length, 'nothing was reported created twice');
    assert.deepEqual(await existing(replicas[0]!, queueNames), all);
  });

  it('reports unreachable storage as AE_STORAGE_UNAVAILABLE without hanging', async () => {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    const clients = createStorageClients(
      { kind: 'account', accountName: 'devstoreaccount1', accountKey: Buffer.from('k').toString('base64'), queueUrl: 'http://127.0.0.1:9/a', tableUrl: 'http://127.0.0.1:9/a', blobUrl: 'http://127.0.0.1:9/a' },
      uniqueStorageNames(),
      new StorageCallCounter(),
    );
    await assert.rejects(provisionStorage(clients, { queueNames: [uniqueQueueName()], abortSignal: AbortSignal.timeout(60_000) }), (err) => {
      assert.ok(isEngineError(err, 'AE_STORAGE_UNAVAILABLE'), String(err));
      assert.match(err.message, /unreachable/);
      return true;
    });
  });

  it('reports a wrong account key as AE_STORAGE_UNAVAILABLE (credentials refused)', async () => {
    const good = azurite.connection;
    assert.equal(good.kind, 'account');
    if (good.kind !== 'account') return;
    const clients = createStorageClients({ ...good, accountKey: Buffer.from('not the key').toString('base64') }, uniqueStorageNames(), new StorageCallCounter());
    await assert.rejects(provisionStorage(clients, { queueNames: [uniqueQueueName()], abortSignal: AbortSignal.timeout(60_000) }), (err) => {
      assert.ok(isEngineError(err, 'AE_STORAGE_UNAVAILABLE'), String(err));
      assert.match(err.message, /refused the credentials \(HTTP 403 (AuthenticationFailed|AuthorizationFailure)\)/);
      return true;
    });
  });

  it('names the error code of a refused table call, which the Tables SDK leaves out of its error', async () => {
    const good = azurite.connection;
    assert.equal(good.kind, 'account');
    if (good.kind !== 'account') return;
    const clients = createStorageClients({ ...good, accountKey: Buffer.from('not the key').toString('base64') }, uniqueStorageNames(), new StorageCallCounter());
    const refused = await clients.statusTable.createTable().then(
      () => assert.fail('the table was created with the wrong key'),
      (err: unknown) => err,
    );
    assert.equal((refused as { code?: unknown }).code, undefined, 'the SDK still leaves the code out; if it no longer does, the header fallback can go');
    const translated = translateStorageError(refused, 'creating table');
    assert.match(translated.message, /^creating table failed: storage refused the credentials \(HTTP 403 AuthorizationFailure\)$/);
  });
});
