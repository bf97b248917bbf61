import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/issues.js';
import { loadConfigFile, resolveConfigPath } from '../../src/config/load.js';
import { EngineError } from '../../src/errors.js';
import { validDocument, writeConfigFile, type ConfigDocument } from '../support/config-docs.js';

/** The error `promise` rejects with, which must be an EngineError with code AE_CONFIG_UNREADABLE. */
async function unreadable(promise: Promise<unknown>): Promise<EngineError> {
  const err = await promise.then(
    () => assert.fail('expected AE_CONFIG_UNREADABLE'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
  assert.ok(!(err instanceof ConfigError), 'an unreadable file is not a validation error');
  assert.equal(err.code, 'AE_CONFIG_UNREADABLE');
  return err;
}

describe('choosing the configuration file', () => {
  const cwd = path.resolve('/srv/engine');

  it('takes --config first, over ASYNC_ENGINE_CONFIG and ASYNC_ENGINE_ENV', () => {
    const env = { ASYNC_ENGINE_CONFIG: '/etc/from-env.json', ASYNC_ENGINE_ENV: 'prod' };
    assert.equal(resolveConfigPath({ path: '/etc/from-flag.json', env, cwd }), path.resolve('/etc/from-flag.json'));
  });

  it('takes ASYNC_ENGINE_CONFIG over ASYNC_ENGINE_ENV when there is no --config', () => {
    const env = { ASYNC_ENGINE_CONFIG: '/etc/from-env.json', ASYNC_ENGINE_ENV: 'prod' };
    assert.equal(resolveConfigPath({ env, cwd }), path.resolve('/etc/from-env.json'));
  });

  // biome-ignore lint/suspicious/noTemplateCurlyInString: the test name spells the path pattern, it is not a template
  it('takes config/${ASYNC_ENGINE_ENV}.json under the working directory next', () => {
    assert.equal(resolveConfigPath({ env: { ASYNC_ENGINE_ENV: 'prod' }, cwd }), path.join(cwd, 'config', 'prod.json'));
  });

  it('falls back to config/local.json', () => {
    assert.equal(resolveConfigPath({ env: {}, cwd }), path.join(cwd, 'config', 'local.json'));
  });

  it('treats empty variables as unset', () => {
    assert.equal(resolveConfigPath({ env: { ASYNC_ENGINE_CONFIG: '', ASYNC_ENGINE_ENV: '' }, cwd }), path.join(cwd, 'config', 'local.json'));
  });

  it('resolves relative paths from --config and ASYNC_ENGINE_CONFIG against the working directory', () => {
    assert.equal(resolveConfigPath({ path: 'my.json', env: {}, cwd }), path.join(cwd, 'my.json'));
    assert.equal(resolveConfigPath({ env: { ASYNC_ENGINE_CONFIG: '../shared/engine.json' }, cwd }), path.resolve(cwd, '../shared/engine.json'));
  });
});

describe('loading the configuration file', () => {
  let cwd: string;

  before(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'async-engine-sources-'));
    await mkdir(path.join(cwd, 'config'));
    // Each candidate file listens on its own port, so a test can tell which one was read.
    const onPort = (port: number): ConfigDocument => validDocument({ 'server.config': { auth: 'none', port } });
    await writeConfigFile(onPort(1001), path.join(cwd, 'config'));
    await writeConfigFile(onPort(1002), path.join(cwd, 'config'), 'local.json');
    await writeConfigFile(onPort(1003), path.join(cwd, 'config'), 'prod.json');
    await writeConfigFile(onPort(1004), cwd, 'flag.json');
  });
  after(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('reads the file --config names, relative to the working directory, and reports it as the source', async () => {
    const env = { ASYNC_ENGINE_CONFIG: 'config/config.json', ASYNC_ENGINE_ENV: 'prod' };
    const loaded = await loadConfigFile({ path: 'flag.json', env, cwd });
    assert.equal(loaded.config.server.port, 1004);
    assert.equal(loaded.source, path.join(cwd, 'flag.json'));
  });

  it('reads ASYNC_ENGINE_CONFIG when there is no --config', async () => {
    const loaded = await loadConfigFile({ env: { ASYNC_ENGINE_CONFIG: 'config/config.json', ASYNC_ENGINE_ENV: 'prod' }, cwd });
    assert.equal(loaded.config.server.port, 1001);
  });

  // biome-ignore lint/suspicious/noTemplateCurlyInString: the test name spells the path pattern, it is not a template
  it('reads config/${ASYNC_ENGINE_ENV}.json, else config/local.json', async () => {
    assert.equal((await loadConfigFile({ env: { ASYNC_ENGINE_ENV: 'prod' }, cwd })).config.server.port, 1003);
    assert.equal((await loadConfigFile({ env: {}, cwd })).config.server.port, 1002);
  });

  it('applies the secrets of the environment it is given', async () => {
    const file = await writeConfigFile(validDocument({ 'azure.storage.config': { accountName: 'acct' } }), cwd);
    const loaded = await loadConfigFile({ path: file, env: { AZURE_STORAGE_ACCOUNT_KEY: 'env-key' }, cwd });
    assert.equal(loaded.config.storage.kind === 'account' && loaded.config.storage.accountKey, 'env-key');
  });

  it('names the file in a validation error', async () => {
    const file = path.join(cwd, 'invalid.json');
    await writeFile(file, JSON.stringify(validDocument({ 'threadpool.config': { poolSize: 0 } })));
    await assert.rejects(loadConfigFile({ path: file, env: {}, cwd }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.startsWith(`${file} is invalid (1 error):`), err.message);
      assert.equal(err.issues[0]?.path, 'threadpool.config.poolSize');
      return true;
    });
  });

  it('fails with AE_CONFIG_UNREADABLE naming a missing file', async () => {
    const err = await unreadable(loadConfigFile({ env: { ASYNC_ENGINE_ENV: 'staging' }, cwd }));
    assert.match(err.message, /staging\.json does not exist/);
    assert.ok(err.message.includes(path.join(cwd, 'config', 'staging.json')));
  });

  it('fails with AE_CONFIG_UNREADABLE on a folder', async () => {
    const err = await unreadable(loadConfigFile({ path: 'config', env: {}, cwd }));
    assert.match(err.message, /cannot be read/);
  });

  it('fails with AE_CONFIG_UNREADABLE on invalid JSON without quoting the content', async () => {
    const file = path.join(cwd, 'broken.json');
    // Unquoted, so that V8's own message would quote the text around the mistake.
    await writeFile(file, '{"queue.config": [ {"name": visible-content} ]}');
    const err = await unreadable(loadConfigFile({ path: file, env: {}, cwd }));
    assert.match(err.message, /is not valid JSON/);
    assert.ok(!err.message.includes('visible'), err.message);
  });

  it('fails with AE_CONFIG_UNREADABLE on an empty file', async () => {
    const file = path.join(cwd, 'empty.json');
    await writeFile(file, '');
    await unreadable(loadConfigFile({ path: file, env: {}, cwd }));
  });
});
