/**
 * Microsoft Entra ID for storage, for real: Azurite over https with `--oauth basic` (a certificate
 * made here, trusted through NODE_EXTRA_CA_CERTS), and a managed identity endpoint on 127.0.0.1
 * speaking the App Service / Container Apps protocol, so that DefaultAzureCredential inside the
 * engine does exactly what it does on Azure. The engine runs as the CLI, with no key anywhere.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Emulator } from '../../src/storage/azurite.js';
import { cleanEnv, runCli, spawnCli } from '../support/cli.js';
import { EndpointServer } from '../support/endpoints.js';
import { flowDocument, submit, waitForStatus } from '../support/engine.js';
import { ManagedIdentityEndpoint } from '../support/managed-identity.js';
import { type TestCertificate, writeSelfSignedCertificate } from '../support/tls.js';

describe('credential "default" against Azurite with OAuth over https', () => {
  let folder: string;
  let certificate: TestCertificate;
  let azurite: Emulator;
  let endpoint: EndpointServer;

  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'ae-entra-'));
    certificate = await writeSelfSignedCertificate(folder);
    azurite = await Emulator.start({ location: null, ports: { blob: 0, queue: 0, table: 0 }, startTimeoutInMs: 60_000, https: certificate });
    endpoint = await EndpointServer.start();
  });
  after(async () => {
    await endpoint?.close();
    await azurite?.close();
    await rm(folder, { recursive: true, force: true });
  });

  /** A 3-step flow on the https Azurite, reached by account name and service URLs with no key. */
  async function writeConfig(name: string, storage: Record<string, unknown> = {}): Promise<string> {
    const document = flowDocument(azurite, { steps: [{ url: endpoint.url('/one') }, { url: endpoint.url('/two') }, { url: endpoint.url('/three') }] });
    document['azure.storage.config'] = { accountName: 'devstoreaccount1', credential: 'default', endpoints: azurite.urls, ...storage };
    const file = path.join(folder, `${name}.json`);
    await writeFile(file, JSON.stringify(document));
    return file;
  }

  const engineEnv = (identity: ManagedIdentityEndpoint): NodeJS.ProcessEnv => cleanEnv({ ...identity.env, NODE_EXTRA_CA_CERTS: certificate.certPath });

  it('completes a request through a 3-step flow with tokens from the managed identity endpoint', async () => {
    const identity = await ManagedIdentityEndpoint.start();
    const engine = spawnCli(['start', '--config', await writeConfig('good')], { env: engineEnv(identity) });
    try {
      const url = await engine.startedUrl();
      const id = await submit({ url }, 'flow', JSON.stringify({ hello: 'entra' }));
      const status = await waitForStatus({ url }, id, 'completed', 60_000);
      assert.equal(status['step'], 2);
      assert.deepEqual(endpoint.calls.slice(-3).map((c) => c.path), ['/one', '/two', '/three']);

      assert.ok(identity.requests.length > 0, 'the engine asked the managed identity endpoint for a token');
      for (const request of identity.requests) {
        assert.equal(request.isAuthorized, true, 'every token request carried IDENTITY_HEADER');
        assert.equal(request.resource, 'https://storage.azure.com');
        assert.equal(request.clientId, null, 'a system-assigned identity names no client id');
      }
      // Tokens are cached: not one token request per storage call.
      assert.ok(identity.requests.length <= 4, `${identity.requests.length} token requests`);
    } finally {
      engine.child.kill('SIGTERM');
      await engine.exited;
      await identity.close();
    }
    const { code } = await engine.exited;
    assert.equal(code, 0, engine.stderr);
  });

  it('refuses to start, saying what the identity needs, when storage refuses the token (wrong audience)', async () => {
    const identity = await ManagedIdentityEndpoint.start({ audience: 'https://vault.azure.net' });
    try {
      const result = await runCli(['start', '--config', await writeConfig('wrong-audience', { managedIdentityClientId: 'c0ffee00-0000-4000-8000-000000000001' })], {
        env: engineEnv(identity),
      });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /storage refused the credentials \(HTTP 40[13] AuthenticationFailed/);
      assert.match(result.stderr, /https:\/\/storage\.azure\.com/);
      assert.match(result.stderr, /Storage Queue Data Contributor, Storage Table Data Contributor, Storage Blob Data Contributor/);
      assert.match(result.stderr, /devstoreaccount1/);
      assert.ok(identity.requests.length > 0);
      assert.ok(identity.requests.every((r) => r.clientId === 'c0ffee00-0000-4000-8000-000000000001'), 'the user-assigned identity is asked for by its client id');
    } finally {
      await identity.close();
    }
  });

  it('refuses to start, saying no token could be had, when no identity is available', async () => {
    // IDENTITY_HEADER wrong: the endpoint refuses every token request.
    const identity = await ManagedIdentityEndpoint.start();
    try {
      const env = { ...engineEnv(identity), IDENTITY_HEADER: 'not-the-header', AZURE_CONFIG_DIR: folder, PATH: '/nonexistent' };
      const result = await runCli(['start', '--config', await writeConfig('no-identity')], { env });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /no Microsoft Entra ID token for storage/);
      assert.match(result.stderr, /Storage Blob Data Contributor/);
      assert.ok(identity.requests.some((r) => !r.isAuthorized));
    } finally {
      await identity.close();
    }
  });
});
