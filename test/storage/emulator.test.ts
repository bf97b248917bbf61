import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isEngineError } from '../../src/errors.js';
import { Emulator } from '../../src/storage/azurite.js';
import { provisionStorage } from '../../src/storage/provision.js';
import { occupyPort } from '../support/ports.js';
import { clientsFor, uniqueQueueName, uniqueStorageNames } from '../support/azurite.js';
import { validDocument } from '../support/config-docs.js';
import { configOf } from '../support/engine.js';
import { createLogger } from '../../src/observability/log.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { Runtime } from '../../src/runtime.js';

describe('the embedded emulator', () => {
  it('keeps its data in its workspace folder across a restart', async () => {
    const location = await mkdtemp(path.join(os.tmpdir(), 'ae-azurite-'));
    const names = uniqueStorageNames();
    const queueNames = [uniqueQueueName()];
    try {
      const first = await Emulator.start({ location, ports: { blob: 0, queue: 0, table: 0 }, startTimeoutInMs: 60_000 });
      const created = await provisionStorage(clientsFor(first, names), { queueNames, abortSignal: AbortSignal.timeout(30_000) });
      assert.equal(created.created.length, 5, 'a queue, two tables, the container and its lock blob');
      await first.close();
      assert.ok((await readdir(location)).some((f) => f.startsWith('__azurite_db_queue')), 'Azurite wrote its workspace');

      const second = await Emulator.start({ location, ports: { blob: 0, queue: 0, table: 0 }, startTimeoutInMs: 60_000 });
      try {
        const again = await provisionStorage(clientsFor(second, names), { queueNames, abortSignal: AbortSignal.timeout(30_000) });
        assert.deepEqual(again.created, [], 'queues, tables and container survived the restart');
      } finally {
        await second.close();
      }
    } finally {
      await rm(location, { recursive: true, force: true });
    }
  });

  it('names a busy port and the key that changes it', async () => {
    const { port, release } = await occupyPort();
    try {
      await assert.rejects(Emulator.start({ location: null, ports: { blob: 0, queue: port, table: 0 }, startTimeoutInMs: 60_000 }), (err) => {
        assert.ok(isEngineError(err, 'AE_EMULATOR_PORT_IN_USE'), String(err));
        assert.match(err.message, new RegExp(`port ${port} \\(embedded Azurite queue service\\) is already in use`));
        assert.match(err.message, /azure\.storage\.config\.emulatorQueuePort/);
        assert.match(err.message, /"connectionString": "UseDevelopmentStorage=true"/, 'says how to use an Azurite already running');
        return true;
      });
    } finally {
      release();
    }
  });

  it('close() is idempotent and resolves once the emulator process has exited', async () => {
    const emulator = await Emulator.start({ location: null, ports: { blob: 0, queue: 0, table: 0 }, startTimeoutInMs: 60_000 });
    const closing = emulator.close();
    assert.equal(emulator.close(), closing);
    await closing;
    await assert.rejects(clientsFor(emulator).queues.getQueueClient(uniqueQueueName()).create({ abortSignal: AbortSignal.timeout(20_000) }));
  });

  it('is stopped again when the engine fails to start after starting it', async () => {
    const location = await mkdtemp(path.join(os.tmpdir(), 'ae-azurite-'));
    const ingress = await occupyPort();
    const emulatorPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const free = await occupyPort();
      free.release();
      emulatorPorts.push(free.port);
    }
    const [blob, queue, table] = emulatorPorts as [number, number, number];
    try {
      const config = configOf(
        validDocument({
          'azure.storage.config': { emulator: 'embedded', emulatorLocation: location, emulatorBlobPort: blob, emulatorQueuePort: queue, emulatorTablePort: table },
          'server.config': { auth: 'none', port: ingress.port },
        }),
      );
      const log = createLogger({ level: 'silent' });
      await assert.rejects(Runtime.start(config, { log, abortSignal: AbortSignal.timeout(60_000), storageCalls: new StorageCallCounter() }), { code: 'EADDRINUSE' });
      for (const port of emulatorPorts) {
        const reclaimed = await occupyPort(port);
        reclaimed.release();
      }
    } finally {
      ingress.release();
      await rm(location, { recursive: true, force: true });
    }
  });
});
