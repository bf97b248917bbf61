import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIssue } from '../../src/config/issues.js';
import { loadConfigFile } from '../../src/config/load.js';
import { configError, parse } from './issues-helpers.js';

// Compiled, this file runs from dist/test/config/: the repository root is three folders up.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../config/example.json', import.meta.url));
const SEED = fileURLToPath(new URL('../../../test/fixtures/seed-example.json', import.meta.url));

async function readJson(file: string): Promise<unknown> {
  return JSON.parse(await readFile(file, 'utf8')) as unknown;
}

describe('config/example.json', () => {
  it('validates cleanly, read through --config from the repository root', async () => {
    const loaded = await loadConfigFile({ path: 'config/example.json', env: {}, cwd: REPO_ROOT });
    assert.equal(loaded.source, EXAMPLE);
  });

  it('prints accountKey, openapi.password and the client secret as "[redacted]"', async () => {
    const { document } = parse(await readJson(EXAMPLE));
    const text = JSON.stringify(document);
    for (const secret of ['myAccountKey', 'myPassword', 'mySecret']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    assert.equal((document['azure.storage.config'] as Record<string, unknown>)['accountKey'], '[redacted]');
    assert.equal(document['openapi.password'], '[redacted]');
    assert.deepEqual((document['openid.config'] as Record<string, unknown>)['credentials'], { secret: '[redacted]' });
  });

  it('resolves the seed\'s settings: platform endpoints, queues, limits and oidc', async () => {
    const { config } = parse(await readJson(EXAMPLE));
    assert.deepEqual(
      config.flows.map((f) => [f.name, f.steps.map((s) => s.endpoint.kind === 'platform' && s.endpoint.name)]),
      [['test', ['ServicePipesTest_Endpoint1', 'ServicePipesTest_Endpoint2', 'ServicePipesTest_Endpoint3']]],
    );
    const { endpoint } = config.flows[0]!.steps[0]!;
    assert.equal(endpoint.kind === 'platform' && endpoint.url, 'https://myenvironment/ftosapi/automation-processors/actions/ServicePipesTest_Endpoint1');
    assert.deepEqual([...config.queues.values()].map((q) => [q.name, q.maxMessages, q.timeToLiveInMs]), [
      ['testasyncqueue1', 10, 3_600_000],
      ['testasyncqueue2', 10, 3_600_000],
      ['testasyncqueue3', 4, 3_600_000],
    ]);
    assert.deepEqual(config.tables, { statusTable: 'AsyncStatusTable', dlqTable: 'AsyncDlqTable' });
    assert.deepEqual(config.admission, { poolSize: 5, maxPoolSize: 5, maxQueueSize: 10 });
    assert.equal(config.auth.mode, 'oidc');
    assert.equal(config.auth.openid?.realm, 'fintechOSrealm');
    assert.deepEqual(
      config.redelivery.statusRules.map((r) => [r.fromStatus, r.toStatus, r.rule.count, r.rule.delayInMs, r.rule.backoff]),
      [[502, 502, 2, 1000, 'fixed']],
    );
  });
});

describe('config/local.json', () => {
  it('validates, with the embedded emulator, no authentication and a demo flow', async () => {
    const { config } = await loadConfigFile({ env: {}, cwd: REPO_ROOT });
    assert.equal(config.storage.kind, 'embedded-emulator');
    assert.equal(config.auth.mode, 'none');
    assert.equal(config.auth.openid, null);
    assert.deepEqual(config.flows.map((f) => [f.name, f.steps.length]), [['demo', 3], ['demo-failing', 2]]);
  });
});

describe('the seed example verbatim', () => {
  it('fails with exactly its two mistyped URLs', async () => {
    const err = configError(await readJson(SEED));
    assert.deepEqual(
      err.issues.map(formatIssue),
      [
        'flow.config[0].queueMappings[0].endpointUrl: "https: //google.com" is not a valid URL',
        'openid.config.auth-server-url: "https: //myEnvironment/auth" is not a valid URL',
      ],
    );
  });

  it('differs from config/example.json only in those two URLs', async () => {
    const [seed, example] = await Promise.all([readFile(SEED, 'utf8'), readFile(EXAMPLE, 'utf8')]);
    assert.deepEqual(JSON.parse(seed.replaceAll('https: //', 'https://')), JSON.parse(example));
    assert.notDeepEqual(JSON.parse(seed), JSON.parse(example));
  });
});
