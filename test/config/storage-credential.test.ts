import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { describeStorage } from '../../src/config/storage-credential.js';
import { cleanEnv, runCli } from '../support/cli.js';
import { validDocument } from '../support/config-docs.js';
import { issuePaths, onlyIssue, parse } from './issues-helpers.js';

const storage = (settings: Record<string, unknown>): Record<string, unknown> => validDocument({ 'azure.storage.config': settings });
const SECTION = 'azure.storage.config';

describe('azure.storage.config credential, managedIdentityClientId and endpoints', () => {
  it('builds the service URLs from accountName and suffix for credential "default"', () => {
    const { config } = parse(storage({ accountName: 'acct', credential: 'default' }));
    assert.deepEqual(config.storage, {
      kind: 'entra-id',
      accountName: 'acct',
      managedIdentityClientId: null,
      urls: { blob: 'https://acct.blob.core.windows.net', queue: 'https://acct.queue.core.windows.net', table: 'https://acct.table.core.windows.net' },
    });
  });

  it('takes explicit endpoints over the built URLs, one service at a time, for either credential', () => {
    const endpoints = { queue: 'https://acct-queue.privatelink.example/', table: 'https://tables.example:8443/acct' };
    const byToken = parse(storage({ accountName: 'acct', credential: 'default', managedIdentityClientId: 'abc', suffix: 'core.usgovcloudapi.net', endpoints })).config.storage;
    assert.deepEqual(byToken.kind === 'entra-id' && byToken.urls, { ...endpoints, blob: 'https://acct.blob.core.usgovcloudapi.net' });
    assert.equal(byToken.kind === 'entra-id' && byToken.managedIdentityClientId, 'abc');
    const byKey = parse(storage({ accountName: 'acct', accountKey: 'a2V5', credential: 'key', endpoints: { blob: 'http://10.0.0.5:10000/acct' } })).config.storage;
    assert.equal(byKey.kind === 'account' && byKey.urls.blob, 'http://10.0.0.5:10000/acct');
  });

  it('keeps the key as the default whenever a key or a connection string is given', () => {
    assert.equal(parse(storage({ accountName: 'acct', accountKey: 'a2V5' })).config.storage.kind, 'account');
    assert.equal(parse(storage({ connectionString: 'UseDevelopmentStorage=true', credential: 'key' })).config.storage.kind, 'connection-string');
  });

  const rejected: Array<[name: string, settings: Record<string, unknown>, paths: string[], message: RegExp]> = [
    ['nothing at all', {}, [SECTION], /credential "default".*accountName and accountKey, connectionString, or emulator/],
    ['credential "default" without accountName', { credential: 'default' }, [`${SECTION}.accountName`], /names the storage account/],
    ['credential "default" with a key as well', { credential: 'default', accountName: 'acct', accountKey: 'a2V5' }, [`${SECTION}.accountKey`], /not used with credential "default"/],
    ['credential "default" with a connection string', { credential: 'default', connectionString: 'UseDevelopmentStorage=true' }, [SECTION], /only one way/],
    ['credential "default" with the emulator', { credential: 'default', accountName: 'acct', emulator: 'embedded' }, [SECTION], /only one way/],
    ['credential "key" without a key', { credential: 'key', accountName: 'acct' }, [`${SECTION}.accountKey`, `${SECTION}.credential`], /accountKey|"key" needs/],
    ['an unknown credential', { credential: 'Default', accountName: 'acct' }, [`${SECTION}.credential`, `${SECTION}.accountKey`], /one of "key", "default"|accountKey/],
    ['managedIdentityClientId with a key', { accountName: 'acct', accountKey: 'a2V5', managedIdentityClientId: 'abc' }, [`${SECTION}.managedIdentityClientId`], /only with credential "default"/],
    ['an empty managedIdentityClientId', { credential: 'default', accountName: 'acct', managedIdentityClientId: ' ' }, [`${SECTION}.managedIdentityClientId`], /non-empty/],
    ['a plain-http endpoint for tokens', { credential: 'default', accountName: 'acct', endpoints: { table: 'http://127.0.0.1:10002/acct' } }, [`${SECTION}.endpoints.table`], /https/],
    ['an endpoint that is no URL', { credential: 'default', accountName: 'acct', endpoints: { queue: 'acct.queue' } }, [`${SECTION}.endpoints.queue`], /not a valid URL/],
    ['an endpoint of another scheme', { credential: 'default', accountName: 'acct', endpoints: { blob: 'ftp://blob.example/acct' } }, [`${SECTION}.endpoints.blob`], /http or https/],
    ['an unknown endpoint service', { credential: 'default', accountName: 'acct', endpoints: { file: 'https://f.example' } }, [`${SECTION}.endpoints.file`], /not a known key/],
    ['endpoints with a connection string', { connectionString: 'UseDevelopmentStorage=true', endpoints: { queue: 'https://q.example' } }, [`${SECTION}.endpoints.queue`], /connection string/],
    ['endpoints with the emulator', { emulator: 'embedded', endpoints: { queue: 'https://q.example' } }, [`${SECTION}.endpoints.queue`], /emulator/],
  ];
  for (const [name, settings, paths, message] of rejected) {
    it(`refuses ${name}`, () => {
      const issues = issuePaths(storage(settings), paths);
      assert.ok(issues.some((i) => message.test(i.message)), issues.map((i) => i.message).join('\n'));
    });
  }

  it('reads managedIdentityClientId as text, not as a key that must stay secret', () => {
    const { document } = parse(storage({ credential: 'default', accountName: 'acct', managedIdentityClientId: 'c0ffee' }));
    assert.equal((document[SECTION] as Record<string, unknown>)['managedIdentityClientId'], 'c0ffee');
  });

  it('wants the credential in lower case, as written in the README', () => {
    onlyIssue(storage({ credential: 'DEFAULT', accountName: 'acct', accountKey: 'a2V5' }), `${SECTION}.credential`, { value: 'DEFAULT', message: /one of "key", "default"/ });
  });
});

describe('what config check says about the storage credential', () => {
  const entraId = parse(storage({ credential: 'default', accountName: 'acct' })).config.storage;
  const said = (env: NodeJS.ProcessEnv, target = entraId): string => describeStorage(target, env).join('\n');

  it('names the scope, the roles and the URLs for credential "default"', () => {
    const text = said({});
    assert.match(text, /Microsoft Entra ID for account acct/);
    assert.match(text, /https:\/\/storage\.azure\.com\/\.default/);
    assert.match(text, /Storage Queue Data Contributor, Storage Table Data Contributor, Storage Blob Data Contributor/);
    assert.match(text, /https:\/\/acct\.queue\.core\.windows\.net/);
    assert.match(text, /instance metadata service.*Azure CLI/);
  });

  it('says which source DefaultAzureCredential will take in this environment', () => {
    assert.match(said({ AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: 'c', AZURE_CLIENT_SECRET: 's' }), /service principal from the environment/);
    assert.match(said({ AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/token', AZURE_CLIENT_ID: 'c1', AZURE_TENANT_ID: 't' }), /workload identity .* for client c1/);
    assert.match(said({ IDENTITY_ENDPOINT: 'http://localhost:42356/msi/token', IDENTITY_HEADER: 'h' }), /system-assigned managed identity from App Service \/ Container Apps/);
    const userAssigned = parse(storage({ credential: 'default', accountName: 'acct', managedIdentityClientId: 'c0ffee' })).config.storage;
    assert.match(said({ IDENTITY_ENDPOINT: 'http://localhost:42356/msi/token', IDENTITY_HEADER: 'h' }, userAssigned), /user-assigned managed identity c0ffee/);
  });

  it('never repeats a secret, whatever the credential', () => {
    const key = 'c2VjcmV0LWtleS12YWx1ZQ==';
    const text = [
      said({ AZURE_CLIENT_SECRET: 'client-secret-value', AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: 'c' }),
      said({}, parse(storage({ accountName: 'acct', accountKey: key })).config.storage),
      said({}, parse(storage({ connectionString: `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${key}` })).config.storage),
      said({}, parse(storage({ emulator: 'embedded' })).config.storage),
    ].join('\n');
    assert.ok(!text.includes(key) && !text.includes('client-secret-value'), text);
    assert.match(text, /shared key of account acct/);
    assert.match(text, /embedded Azurite \(development only\)/);
  });
});

describe('async-engine config check with credential "default"', () => {
  it('prints the explanation on stderr and leaves stdout the normalised document', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ae-credential-'));
    try {
      const file = path.join(folder, 'config.json');
      await writeFile(file, JSON.stringify(storage({ credential: 'default', accountName: 'acct', managedIdentityClientId: 'c0ffee' })));
      const { code, stdout, stderr } = await runCli(['config', 'check', '--config', file], {
        env: cleanEnv({ IDENTITY_ENDPOINT: 'http://127.0.0.1:1/msi/token', IDENTITY_HEADER: 'h' }),
      });
      assert.equal(code, 0, stderr);
      assert.equal((JSON.parse(stdout) as Record<string, Record<string, unknown>>)[SECTION]?.['credential'], 'default');
      assert.match(stderr, /^storage: in this environment it will use the user-assigned managed identity c0ffee from App Service \/ Container Apps/m);
      assert.match(stderr, /^storage: the identity needs these roles on the account: Storage Queue Data Contributor/m);
      assert.match(stderr, /is valid/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
