import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../support/eventually.js';
import { occupyPort } from '../support/ports.js';
import { cleanEnv, REPO_ROOT, runCli, spawnCli } from '../support/cli.js';
import { validDocument, writeConfigFile } from '../support/config-docs.js';

let tmp: string;
let written = 0;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ae-cli-'));
});
after(() => rm(tmp, { recursive: true, force: true }));
/** Writes a config file into this suite's temp folder, removed after the suite. */
const configFile = (doc: unknown): Promise<string> => writeConfigFile(doc, tmp, `config-${++written}.json`);

const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('async-engine --help, --version and usage errors', () => {
  it('--help prints the commands and exits 0', async () => {
    const { code, stdout } = await runCli(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /async-engine <command>/);
    assert.match(stdout, /config check/);
    assert.match(stdout, /start/);
  });

  it('--version prints the package version and exits 0', async () => {
    const { code, stdout } = await runCli(['--version']);
    assert.equal(code, 0);
    assert.equal(stdout.trim(), version);
  });

  for (const [args, pattern] of [
    [[], /no command given/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['config', 'chek'], /unknown command "config chek"/],
    [['start', '--bogus'], /Unknown option '--bogus'/],
  ] as const) {
    it(`"${args.join(' ')}" is a usage error: exit 64 with a message and the help`, async () => {
      const { code, stderr } = await runCli([...args]);
      assert.equal(code, 64);
      assert.match(stderr, pattern);
      assert.match(stderr, /Usage: async-engine/);
    });
  }
});

describe('async-engine config check', () => {
  it('on config/example.json exits 0 and prints the normalised config with its secrets redacted', async () => {
    const { code, stdout, stderr } = await runCli(['config', 'check', '--config', 'config/example.json']);
    assert.equal(code, 0, stderr);
    const printed = JSON.parse(stdout) as Record<string, Record<string, unknown>>;
    assert.equal(printed['azure.storage.config']?.['accountKey'], '[redacted]');
    assert.equal(printed['openapi.password'] as unknown, '[redacted]');
    assert.deepEqual(printed['openid.config']?.['credentials'], { secret: '[redacted]' });
    assert.equal(printed['queue.config']?.length, 3);
    for (const secret of ['myAccountKey', 'myPassword', 'mySecret']) assert.ok(!stdout.includes(secret) && !stderr.includes(secret), secret);
  });

  it("on the seed's example verbatim exits 2 and names exactly its two mistyped URLs", async () => {
    const { code, stdout, stderr } = await runCli(['config', 'check', '--config', 'test/fixtures/seed-example.json']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    const issues = stderr.split('\n').filter((line) => line.startsWith('  '));
    assert.deepEqual(issues.map((line) => line.trim().split(':')[0]), [
      'flow.config[0].queueMappings[0].endpointUrl',
      'openid.config.auth-server-url',
    ]);
    assert.match(stderr, /"https: \/\/google\.com" is not a valid URL/);
    assert.match(stderr, /2 errors/);
  });

  it('prints warnings for settings that are valid but likely to bite, and still exits 0', async () => {
    const file = await configFile(validDocument({ 'http.connection.config': { totalConnections: 25, routeConnections: 20, callTimeout: 0, socketTimeout: 0 } }));
    const { code, stdout, stderr } = await runCli(['config', 'check', '--config', file]);
    assert.equal(code, 0, stderr);
    assert.ok(JSON.parse(stdout));
    assert.match(stderr, /^warning: flow\.config\[0\]\.queueMappings: have 30 maxThreads in all, more than http\.connection\.config\.totalConnections \(25\)/m);
    assert.match(stderr, /^warning: http\.connection\.config\.callTimeout: is 0 while socketTimeout is 0 too/m);
    assert.match(stderr, /is valid \(4 warnings\)/);
  });

  it('refuses a LOG_LEVEL that is no level with exit 2 and the levels it takes, not a stack trace', async () => {
    for (const args of [['config', 'check', '--config', 'config/example.json'], ['start', '--config', 'config/example.json']]) {
      const { code, stdout, stderr } = await runCli(args, { env: cleanEnv({ LOG_LEVEL: 'verbose' }) });
      assert.equal(code, 2, args.join(' '));
      assert.equal(stdout, '');
      assert.equal(stderr.trim(), 'LOG_LEVEL "verbose" is not a log level; use one of trace, debug, info, warn, error, fatal, silent');
    }
    const help = await runCli(['--help'], { env: cleanEnv({ LOG_LEVEL: 'verbose' }) });
    assert.equal(help.code, 0, '--help works whatever LOG_LEVEL says');
  });

  it('exits 2 naming the path of a __proto__ key, where it used to fail with a TypeError', async () => {
    const text = JSON.stringify(validDocument()).replace('"queue.config":[{', '"queue.config":[{"__proto__":{"maxMessages":"x"},');
    const file = await configFile(JSON.parse(text));
    const { code, stdout, stderr } = await runCli(['config', 'check', '--config', file]);
    assert.equal(code, 2, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, /queue\.config\[0\]\.__proto__: is a reserved name, not a configuration key/);
    assert.doesNotMatch(stderr, /TypeError|at .*\.js:\d+/);
  });

  it('lists every error of an invalid file at once', async () => {
    const doc = validDocument({ 'queue.confg': [], 'threadpool.config': { poolSize: 0, maxQueueSize: -5 } });
    const file = await configFile(doc);
    const { code, stderr } = await runCli(['config', 'check', '--config', file]);
    assert.equal(code, 2);
    assert.match(stderr, /queue\.confg: is not a known key; did you mean "queue\.config"\?/);
    assert.match(stderr, /threadpool\.config\.poolSize: 0 must be an integer of at least 1/);
    assert.match(stderr, /threadpool\.config\.maxQueueSize: -5 must be/);
    assert.match(stderr, /3 errors/);
  });

  it('takes the file from ASYNC_ENGINE_CONFIG, then from ASYNC_ENGINE_ENV', async () => {
    const byPath = await runCli(['config', 'check'], { env: cleanEnv({ ASYNC_ENGINE_CONFIG: 'test/fixtures/seed-example.json', ASYNC_ENGINE_ENV: 'example' }) });
    assert.equal(byPath.code, 2, 'ASYNC_ENGINE_CONFIG wins over ASYNC_ENGINE_ENV');
    const byEnv = await runCli(['config', 'check'], { env: cleanEnv({ ASYNC_ENGINE_ENV: 'example' }) });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    assert.match(byEnv.stderr, /config\/example\.json is valid/);
    const byDefault = await runCli(['config', 'check']);
    assert.equal(byDefault.code, 0, byDefault.stderr);
    assert.match(byDefault.stderr, /config\/local\.json is valid/);
  });

  it('exits 2 with a readable message when the file is missing or not JSON', async () => {
    const missing = await runCli(['config', 'check', '--config', 'no/such/file.json']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no\/such\/file\.json does not exist/);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'ae-cli-'));
    const file = path.join(dir, 'bad.json');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, '{ "openapi.password": "hunter2-secret", oops }');
    const broken = await runCli(['config', 'check', '--config', file]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /is not valid JSON/);
    assert.ok(!broken.stderr.includes('hunter2-secret'), 'the file content is not echoed');
    await rm(dir, { recursive: true, force: true });
  });

  it('takes secrets from the environment and never prints them', async () => {
    const doc = validDocument({ 'azure.storage.config': { accountName: 'acct' }, 'openapi.url': 'http://127.0.0.1:9/' });
    const file = await configFile(doc);
    const env = cleanEnv({ AZURE_STORAGE_ACCOUNT_KEY: 'ZW52LWtleS1zZWNyZXQ=', OPENAPI_PASSWORD: 'env-password-secret', OIDC_CLIENT_SECRET: 'env-oidc-secret' });
    const { code, stdout, stderr } = await runCli(['config', 'check', '--config', file], { env });
    assert.equal(code, 0, stderr);
    const printed = JSON.parse(stdout) as Record<string, Record<string, unknown>>;
    assert.equal(printed['azure.storage.config']?.['accountKey'], '[redacted]');
    assert.equal(printed['openapi.password'] as unknown, '[redacted]');
    for (const secret of ['ZW52LWtleS1zZWNyZXQ=', 'env-password-secret', 'env-oidc-secret']) assert.ok(!(stdout + stderr).includes(secret), secret);
  });
});

describe('async-engine start', () => {
  async function embeddedDocument(location: string, extra: Record<string, unknown> = {}): Promise<string> {
    return configFile(
      validDocument({
        'azure.storage.config': { emulator: 'embedded', emulatorLocation: location, emulatorBlobPort: 0, emulatorQueuePort: 0, emulatorTablePort: 0 },
        'openapi.password': 'planted-password-secret',
        'openid.config': { credentials: { secret: 'planted-oidc-secret' } },
        ...extra,
      }),
    );
  }

  it('brings up the embedded Azurite, provisions the flow\'s storage, and exits 0 on SIGTERM', async () => {
    const location = await mkdtemp(path.join(os.tmpdir(), 'ae-start-'));
    const engine = spawnCli(['start', '--config', await embeddedDocument(location)]);
    try {
      const provisioned = await eventually(
        () => {
          const line = engine.logLines().find((l) => l['msg'] === 'storage.provisioned');
          assert.ok(line, `not provisioned yet: ${engine.stdout}${engine.stderr}`);
          return line;
        },
        { timeoutInMs: 60_000 },
      );
      assert.deepEqual(provisioned['created'], [
        'blob async-engine-payloads/locks/sweeper',
        'container async-engine-payloads',
        'queue asyncenginestatus-callbacks',
        'queue demo-first',
        'queue demo-second',
        'queue demo-third',
        'table AsyncEngineDlq',
        'table AsyncEngineStatus',
      ]);
      assert.ok((await readdir(location)).length > 0, 'the emulator works in the configured folder');
      // Started, not only provisioned: a SIGTERM during start-up ends it without a drain to log.
      await engine.startedUrl();
      engine.child.kill('SIGTERM');
      const { code, stdout, stderr } = await engine.exited;
      assert.equal(code, 0, stderr);
      assert.ok(engine.logLines().some((l) => l['msg'] === 'engine.stopped'));
      for (const secret of ['planted-password-secret', 'planted-oidc-secret']) assert.ok(!(stdout + stderr).includes(secret), secret);
    } finally {
      engine.child.kill('SIGKILL');
      await rm(location, { recursive: true, force: true });
    }
  });

  it('exits 1 naming the port and the key to change when an emulator port is taken', async () => {
    const { port, release } = await occupyPort();
    const location = await mkdtemp(path.join(os.tmpdir(), 'ae-start-'));
    try {
      const file = await configFile(
        validDocument({ 'azure.storage.config': { emulator: 'embedded', emulatorLocation: location, emulatorBlobPort: port, emulatorQueuePort: 0, emulatorTablePort: 0 } }),
      );
      const { code, stderr } = await runCli(['start', '--config', file]);
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`port ${port} \\(embedded Azurite blob service\\) is already in use`));
      assert.match(stderr, /azure\.storage\.config\.emulatorBlobPort/);
    } finally {
      release();
      await rm(location, { recursive: true, force: true });
    }
  });

  it('exits 1 with a clear message when storage is unreachable', async () => {
    const file = await configFile(
      validDocument({
        'azure.storage.config': {
          connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${Buffer.from('k').toString('base64')};QueueEndpoint=http://127.0.0.1:9/a;TableEndpoint=http://127.0.0.1:9/a;BlobEndpoint=http://127.0.0.1:9/a`,
        },
      }),
    );
    const { code, stderr } = await runCli(['start', '--config', file]);
    assert.equal(code, 1);
    assert.match(stderr, /storage is unreachable/);
  });

  it('exits 2 without starting anything when the configuration is invalid', async () => {
    const file = await configFile(validDocument({ 'queue.config': [{ name: 'Bad_Name' }] }));
    const { code, stdout, stderr } = await runCli(['start', '--config', file]);
    assert.equal(code, 2);
    assert.match(stderr, /queue\.config\[0\]\.name: "Bad_Name" is not valid/);
    assert.ok(!stdout.includes('storage.provisioned'));
  });
});
