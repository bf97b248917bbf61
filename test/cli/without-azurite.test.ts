/**
 * A production install has no azurite (a development dependency): the engine copied into a temp
 * folder as the package ships it (dist/src and package.json), with a node_modules of links to every
 * installed package but azurite, run as users run it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAzurite } from '../support/azurite.js';
import { cleanEnv, REPO_ROOT, RunningCli, type CliResult } from '../support/cli.js';
import { validDocument, writeConfigFile } from '../support/config-docs.js';

let install: string;

/** Links every package of the real node_modules (`@scope/name` ones one level down) except azurite. */
async function linkPackagesExceptAzurite(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (entry.name === 'azurite' || entry.name.startsWith('.')) continue;
    if (entry.name.startsWith('@')) {
      await linkPackagesExceptAzurite(path.join(from, entry.name), path.join(to, entry.name));
    } else {
      await symlink(path.join(from, entry.name), path.join(to, entry.name));
    }
  }
}

before(async () => {
  install = await mkdtemp(path.join(os.tmpdir(), 'ae-no-azurite-'));
  await cp(path.join(REPO_ROOT, 'dist', 'src'), path.join(install, 'dist', 'src'), { recursive: true });
  await cp(path.join(REPO_ROOT, 'package.json'), path.join(install, 'package.json'));
  await linkPackagesExceptAzurite(path.join(REPO_ROOT, 'node_modules'), path.join(install, 'node_modules'));
});
after(() => rm(install, { recursive: true, force: true }));

function spawnInstalled(args: string[]): RunningCli {
  const env = cleanEnv();
  delete env['NODE_PATH'];
  return new RunningCli(spawn(process.execPath, [path.join(install, 'dist', 'src', 'main.js'), ...args], { cwd: install, env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

async function runInstalled(args: string[]): Promise<CliResult> {
  const cli = spawnInstalled(args);
  try {
    return await cli.exited;
  } finally {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  }
}

describe('an install without azurite', () => {
  const embedded = (location: string): Record<string, unknown> =>
    validDocument({
      'azure.storage.config': { emulator: 'embedded', emulatorLocation: location, emulatorBlobPort: 0, emulatorQueuePort: 0, emulatorTablePort: 0 },
      'server.config': { auth: 'none', port: 0 },
    });

  it('has no azurite to resolve (the test install is what it claims)', () => {
    assert.ok(existsSync(path.join(install, 'node_modules', '@azure', 'storage-queue')), 'scoped packages are linked');
    assert.ok(!existsSync(path.join(install, 'node_modules', 'azurite')));
  });

  it('start with emulator "embedded" exits 1 before starting anything, naming the commands that install azurite and the alternatives', async () => {
    const location = path.join(install, 'azurite-workspace');
    const file = await writeConfigFile(embedded(location), install, 'embedded.json');
    const { code, stderr } = await runInstalled(['start', '--config', file]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^async-engine: azure\.storage\.config\.emulator is "embedded", but the azurite package is not installed/m);
    assert.match(stderr, /`npm install --save-dev azurite` \(or `npm install azurite`\)/);
    assert.match(stderr, /accountName and accountKey\) or a connectionString/);
    assert.doesNotMatch(stderr, /unexpected failure|exited .* before it was ready/);
    assert.ok(!existsSync(location), 'no emulator workspace was created');
  });

  it('config check on the same configuration exits 0: validating needs no azurite', async () => {
    const file = await writeConfigFile(embedded(path.join(install, 'azurite-workspace')), install, 'embedded-check.json');
    const { code, stderr } = await runInstalled(['config', 'check', '--config', file]);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /is valid/);
  });

  it('start with a connection string runs and stops as usual: nothing else needs azurite', async () => {
    const azurite = await startAzurite();
    const file = await writeConfigFile(
      validDocument({ 'azure.storage.config': { connectionString: azurite.connectionString }, 'server.config': { auth: 'none', port: 0 } }),
      install,
      'account.json',
    );
    const cli = spawnInstalled(['start', '--config', file]);
    try {
      const url = await cli.startedUrl(120_000);
      const res = await fetch(`${url}/actuator/health/readiness`);
      assert.equal(res.status, 200);
      cli.child.kill('SIGTERM');
      const { code, stderr } = await cli.exited;
      assert.equal(code, 0, stderr);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      await azurite.close();
    }
  });
});
