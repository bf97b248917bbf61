/**
 * The operator commands with `emulator: "embedded"`, as a developer meets them: with `npm start` in
 * another terminal they use that engine's emulator; with no engine running they start one of their
 * own on the configured ports and workspace for the command, and leave nothing behind.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cleanEnv, runCli, spawnCli } from '../support/cli.js';
import { validDocument, writeConfigFile } from '../support/config-docs.js';
import { eventually } from '../support/eventually.js';
import { freePorts, isPortFree } from '../support/ports.js';

const STARTED_OWN = /started the embedded Azurite there for this command/;

describe('the operator commands with the embedded emulator', () => {
  it('use the emulator of the engine that runs on the configured ports, and once it has stopped start one of their own on its workspace', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'ae-operators-emulator-'));
    const [ingress, blob, queue, table] = (await freePorts(4)) as [number, number, number, number];
    const file = await writeConfigFile(
      validDocument({
        'azure.storage.config': { emulator: 'embedded', emulatorLocation: path.join(folder, 'azurite'), emulatorBlobPort: blob, emulatorQueuePort: queue, emulatorTablePort: table },
        'server.config': { auth: 'none', port: ingress },
      }),
      folder,
    );
    const engine = spawnCli(['start', '--config', file]);
    try {
      const url = await engine.startedUrl(120_000);
      const submitted = await fetch(`${url}/api/flows/demo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
      assert.equal(submitted.status, 202);
      const { id } = (await submitted.json()) as { id: string };

      const whileRunning = await runCli(['requests', 'get', id, '--json', '--config', file]);
      assert.equal(whileRunning.code, 0, whileRunning.stderr);
      assert.equal((JSON.parse(whileRunning.stdout) as { id: string }).id, id);
      assert.doesNotMatch(whileRunning.stderr, STARTED_OWN, 'the engine\'s emulator answered');
      assert.ok(!(await isPortFree(blob)), 'the engine\'s emulator is still up');

      engine.child.kill('SIGTERM');
      assert.equal((await engine.exited).code, 0, engine.stderr);
      await eventually(async () => assert.ok(await isPortFree(queue)), { timeoutInMs: 30_000 });

      // No engine now: the command starts the emulator on the same workspace and finds the request there.
      const afterwards = await runCli(['requests', 'get', id, '--json', '--config', file], { env: cleanEnv() });
      assert.equal(afterwards.code, 0, afterwards.stderr);
      assert.equal((JSON.parse(afterwards.stdout) as { id: string }).id, id, 'read from the workspace the engine left');
      assert.match(afterwards.stderr, STARTED_OWN);
      await eventually(
        async () => {
          for (const port of [blob, queue, table]) assert.ok(await isPortFree(port), `port ${port} was given back`);
        },
        { timeoutInMs: 30_000 },
      );
    } finally {
      if (engine.child.exitCode === null) engine.child.kill('SIGKILL');
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuse emulator ports of 0 with exit 2: where an engine runs that emulator cannot be found', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'ae-operators-emulator-'));
    try {
      const file = await writeConfigFile(
        validDocument({ 'azure.storage.config': { emulator: 'embedded', emulatorLocation: path.join(folder, 'azurite'), emulatorBlobPort: 0, emulatorQueuePort: 0, emulatorTablePort: 0 } }),
        folder,
      );
      const result = await runCli(['flows', '--config', file]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /emulator port to 0 \(any free port\): the operator commands cannot find/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
