import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { openIdSection, validDocument } from '../support/config-docs.js';
import { onlyIssue, parse } from './issues-helpers.js';

const ACCOUNT = { accountName: 'myaccount', accountKey: 'file-account-key' };

describe('secrets from the environment', () => {
  it('fills accountKey from AZURE_STORAGE_ACCOUNT_KEY when the file has only the account name', () => {
    const doc = validDocument({ 'azure.storage.config': { accountName: 'myaccount' } });
    const { config } = parse(doc, { AZURE_STORAGE_ACCOUNT_KEY: 'env-account-key' });
    assert.equal(config.storage.kind === 'account' && config.storage.accountKey, 'env-account-key');
  });

  it('fills connectionString from AZURE_STORAGE_CONNECTION_STRING when the file sets no storage', () => {
    const doc = validDocument({ 'azure.storage.config': undefined });
    const { config } = parse(doc, { AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true;' });
    assert.deepEqual(config.storage, { kind: 'connection-string', connectionString: 'UseDevelopmentStorage=true;' });
  });

  it('fills openapi.password from OPENAPI_PASSWORD', () => {
    const doc = validDocument({ 'openapi.url': 'https://platform.example/', 'openapi.username': 'host' });
    const { config } = parse(doc, { OPENAPI_PASSWORD: 'env-password' });
    assert.deepEqual(config.platform, { url: 'https://platform.example/', username: 'host', password: 'env-password' });
  });

  it('fills openid.config.credentials.secret from OIDC_CLIENT_SECRET', () => {
    const doc = validDocument({ 'server.config': undefined, 'openid.config': openIdSection() });
    const { config } = parse(doc, { OIDC_CLIENT_SECRET: 'env-client-secret' });
    assert.equal(config.auth.openid?.clientSecret, 'env-client-secret');
  });

  it('lets every environment secret win over the file', () => {
    const doc = validDocument({
      'azure.storage.config': ACCOUNT,
      'openapi.url': 'https://platform.example/',
      'openapi.password': 'file-password',
      'server.config': undefined,
      'openid.config': openIdSection({ credentials: { secret: 'file-client-secret' } }),
    });
    const env = { AZURE_STORAGE_ACCOUNT_KEY: 'env-account-key', OPENAPI_PASSWORD: 'env-password', OIDC_CLIENT_SECRET: 'env-client-secret' };
    const { config } = parse(doc, env);
    assert.equal(config.storage.kind === 'account' && config.storage.accountKey, 'env-account-key');
    assert.equal(config.platform.password, 'env-password');
    assert.equal(config.auth.openid?.clientSecret, 'env-client-secret');
  });

  it('lets AZURE_STORAGE_CONNECTION_STRING win over a connectionString in the file', () => {
    const doc = validDocument({ 'azure.storage.config': { connectionString: 'file-connection-string' } });
    const { config } = parse(doc, { AZURE_STORAGE_CONNECTION_STRING: 'env-connection-string' });
    assert.deepEqual(config.storage, { kind: 'connection-string', connectionString: 'env-connection-string' });
  });

  it('keeps the file\'s secrets when the environment has none', () => {
    const doc = validDocument({ 'azure.storage.config': ACCOUNT, 'openapi.password': 'file-password' });
    const { config } = parse(doc, { PATH: '/usr/bin', HOME: '/root' });
    assert.equal(config.storage.kind === 'account' && config.storage.accountKey, 'file-account-key');
    assert.equal(config.platform.password, 'file-password');
  });

  it('reads only the environment it is given, not process.env', () => {
    // A child process whose own environment has the key; parseConfig is given an empty one.
    const load = new URL('../../src/config/load.js', import.meta.url).href;
    const doc = validDocument({ 'azure.storage.config': { accountName: 'myaccount' } });
    const script = `
      const { parseConfig } = await import(${JSON.stringify(load)});
      try { parseConfig(${JSON.stringify(doc)}, { source: 'child', env: {} }); console.log('[]'); }
      catch (err) { console.log(JSON.stringify(err.issues.map((i) => i.path))); }`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, AZURE_STORAGE_ACCOUNT_KEY: 'from-process-env' },
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(out), ['azure.storage.config.accountKey']);
  });

  it('counts a connection string from the environment as a second way to reach storage next to an account in the file', () => {
    const doc = validDocument({ 'azure.storage.config': ACCOUNT });
    onlyIssue(doc, 'azure.storage.config', { message: /only one way.*AZURE_STORAGE_CONNECTION_STRING/ }, { AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' });
  });
});
