import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, formatIssue } from '../../src/config/issues.js';
import { loadConfigFile } from '../../src/config/load.js';
import { EngineError } from '../../src/errors.js';
import { openIdSection, queuesOf, validDocument, writeConfigFile, type ConfigDocument } from '../support/config-docs.js';
import { configError, parse } from './issues-helpers.js';

const ACCOUNT_KEY = 'S3cr3tAccountKeyZZ9==';
const CONNECTION_STRING = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=S3cr3tConnKeyQQ7==';
const PASSWORD = 'S3cr3tPasswordXX4';
const CLIENT_SECRET = 'S3cr3tClientSecretYY5';
const SECRETS = [ACCOUNT_KEY, CONNECTION_STRING, PASSWORD, CLIENT_SECRET, 'S3cr3tConnKeyQQ7'];

/** Everything a user could see of an error: message, each formatted issue, the issues as JSON. */
function visibleText(err: ConfigError | EngineError): string {
  const issues = err instanceof ConfigError ? err.issues : [];
  return [err.message, String(err), err.stack ?? '', ...issues.map(formatIssue), JSON.stringify(issues)].join('\n');
}

function assertHidden(text: string, secrets: readonly string[] = SECRETS): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `secret ${secret} leaked in:\n${text}`);
}

/** A valid document with every secret set in the file. */
function documentWithSecrets(): ConfigDocument {
  return validDocument({
    'azure.storage.config': { accountName: 'acct', accountKey: ACCOUNT_KEY },
    'openapi.url': 'https://platform.example/api/',
    'openapi.username': 'host',
    'openapi.password': PASSWORD,
    'server.config': undefined,
    'openid.config': openIdSection({ credentials: { secret: CLIENT_SECRET } }),
  });
}

describe('redaction in the printed document', () => {
  it('shows every secret set in the file as "[redacted]" while the resolved config keeps the values', () => {
    const { config, document } = parse(documentWithSecrets());
    assertHidden(JSON.stringify(document));
    assert.equal((document['azure.storage.config'] as Record<string, unknown>)['accountKey'], '[redacted]');
    assert.equal(document['openapi.password'], '[redacted]');
    assert.deepEqual((document['openid.config'] as Record<string, unknown>)['credentials'], { secret: '[redacted]' });
    assert.equal(config.storage.kind === 'account' && config.storage.accountKey, ACCOUNT_KEY);
    assert.equal(config.platform.password, PASSWORD);
    assert.equal(config.auth.openid?.clientSecret, CLIENT_SECRET);
  });

  it('shows a connectionString as "[redacted]", and unset secrets as null', () => {
    const { document } = parse(validDocument({ 'azure.storage.config': { connectionString: CONNECTION_STRING } }));
    assertHidden(JSON.stringify(document));
    const storage = document['azure.storage.config'] as Record<string, unknown>;
    assert.equal(storage['connectionString'], '[redacted]');
    assert.equal(storage['accountKey'], null);
    assert.equal(document['openapi.password'], null);
  });

  it('shows secrets that come from the environment as "[redacted]"', () => {
    const doc = validDocument({ 'azure.storage.config': { accountName: 'acct' }, 'server.config': undefined, 'openid.config': openIdSection() });
    const { document } = parse(doc, { AZURE_STORAGE_ACCOUNT_KEY: ACCOUNT_KEY, OPENAPI_PASSWORD: PASSWORD, OIDC_CLIENT_SECRET: CLIENT_SECRET });
    assertHidden(JSON.stringify(document));
    assert.equal(JSON.stringify(document).match(/\[redacted\]/g)?.length, 3);
  });

  it('does not redact the caller\'s document in place', () => {
    const doc = documentWithSecrets();
    parse(doc);
    assert.equal((doc['azure.storage.config'] as Record<string, unknown>)['accountKey'], ACCOUNT_KEY);
  });
});

describe('redaction in configuration errors', () => {
  it('hides secrets from the file and the environment when another value is invalid', () => {
    const doc = documentWithSecrets();
    queuesOf(doc)[0]!.maxMessages = 0;
    const err = configError(doc, { AZURE_STORAGE_CONNECTION_STRING: CONNECTION_STRING });
    // Both reported: the conflict is the issue that is about the secrets themselves.
    assert.deepEqual(err.issues.map((i) => i.path).sort(), ['azure.storage.config', 'queue.config[0].maxMessages']);
    assertHidden(visibleText(err));
  });

  for (const [what, accountKey] of [
    ['a number', 987654321987],
    ['an object', { key: ACCOUNT_KEY }],
    ['a list', [ACCOUNT_KEY]],
  ] as const) {
    it(`hides an accountKey given as ${what}, while naming its path`, () => {
      const doc = validDocument({ 'azure.storage.config': { accountName: 'acct', accountKey } });
      const err = configError(doc);
      assert.ok(err.issues.some((i) => i.path === 'azure.storage.config.accountKey' && i.value === '[redacted]'));
      assertHidden(visibleText(err), [...SECRETS, '987654321987']);
    });
  }

  it('hides invalid openapi.password, connectionString and client secret values', () => {
    const doc = validDocument({
      'azure.storage.config': { connectionString: { value: CONNECTION_STRING } },
      'openapi.password': [PASSWORD],
      'openid.config': { credentials: { secret: { s: CLIENT_SECRET } } },
    });
    const err = configError(doc);
    for (const path of ['azure.storage.config.connectionString', 'openapi.password', 'openid.config.credentials.secret']) {
      assert.ok(
        err.issues.some((i) => i.path === path && i.value === '[redacted]'),
        `expected a redacted issue at ${path}:\n${err.message}`,
      );
    }
    assertHidden(visibleText(err));
  });

  it('hides a storage section given as an unparseable string that contains the key', () => {
    const doc = validDocument({ 'azure.storage.config': `{"accountName": "acct", "accountKey": "${ACCOUNT_KEY}"` });
    const err = configError(doc);
    assert.ok(err.issues.some((i) => i.path === 'azure.storage.config' && i.value === '[redacted]'), err.message);
    assertHidden(visibleText(err));
  });

  it('hides a storage section given as a JSON string of the wrong kind that contains the key', () => {
    const err = configError(validDocument({ 'azure.storage.config': JSON.stringify([ACCOUNT_KEY]) }));
    assertHidden(visibleText(err));
  });

  it('hides openid.config and its credentials given as unparseable strings that contain the secret', () => {
    const whole = configError(validDocument({ 'openid.config': `{"credentials": {"secret": "${CLIENT_SECRET}"}` }));
    assertHidden(visibleText(whole));
    const credentials = configError(validDocument({ 'openid.config': { credentials: `secret=${CLIENT_SECRET}` } }));
    assert.ok(credentials.issues.some((i) => i.path === 'openid.config.credentials'), credentials.message);
    assertHidden(visibleText(credentials));
  });

  it('hides the value of a mistyped secret key', () => {
    const doc = validDocument({ 'azure.storage.config': { connectionString: 'UseDevelopmentStorage=true', acountKey: ACCOUNT_KEY } });
    doc['openapi.pasword'] = PASSWORD;
    const err = configError(doc);
    assert.ok(err.issues.some((i) => i.path === 'azure.storage.config.acountKey'));
    assert.ok(err.issues.some((i) => i.path === 'openapi.pasword'));
    assertHidden(visibleText(err));
  });

  it('hides secrets when storage is set two ways, one from the environment', () => {
    const doc = validDocument({ 'azure.storage.config': { accountName: 'acct', accountKey: ACCOUNT_KEY } });
    assertHidden(visibleText(configError(doc, { AZURE_STORAGE_CONNECTION_STRING: CONNECTION_STRING })));
  });

  it('hides the secrets of a whole configuration wrapped in a list', () => {
    const err = configError([documentWithSecrets()]);
    assert.ok(err.issues.some((i) => i.path === '$'));
    assertHidden(visibleText(err));
  });

  it('hides a connection string given as the whole document', () => {
    assertHidden(visibleText(configError(CONNECTION_STRING)));
  });

  it('hides the file content of a configuration file that is not valid JSON', async () => {
    const file = await writeConfigFile({});
    try {
      // The key without its quotes: V8's own message would quote the text around the mistake.
      await writeFile(file, `{"azure.storage.config": {"accountName": "acct", "accountKey": ${ACCOUNT_KEY.slice(0, -2)}}}`);
      const err = await loadConfigFile({ path: file, env: {}, cwd: process.cwd() }).then(
        () => assert.fail('expected AE_CONFIG_UNREADABLE'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof EngineError);
      assert.equal(err.code, 'AE_CONFIG_UNREADABLE');
      assertHidden(visibleText(err) + String(err.cause ?? ''), ['S3cr3t']);
    } finally {
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('hides secrets of an invalid configuration file', async () => {
    const doc = documentWithSecrets();
    queuesOf(doc)[0]!.name = 'BAD';
    const file = await writeConfigFile(doc);
    try {
      await assert.rejects(loadConfigFile({ path: file, env: { OIDC_CLIENT_SECRET: CLIENT_SECRET }, cwd: '/' }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assertHidden(visibleText(err));
        return true;
      });
    } finally {
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });
});
