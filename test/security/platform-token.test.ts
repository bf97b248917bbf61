import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { echo, type EndpointServer, type Handler } from '../support/endpoints.js';
import { engineSuite, flowDocument, getStatus, submit, waitForStatus, type TestEngine } from '../support/engine.js';
import { TestIdp } from '../support/oidc.js';
import { OidcIssuer } from '../../src/auth/oidc-issuer.js';
import { isEngineError } from '../../src/errors.js';
import { PlatformToken } from '../../src/http/platform-token.js';
import { createLogger } from '../../src/observability/log.js';

const silent = createLogger({ level: 'silent' });

const CLIENT_SECRET = 'planted-client-secret-4f1c';
const PASSWORD = 'planted-platform-password-9a2e';

describe('the platform token of endpointName steps', () => {
  const suite = engineSuite();
  let idp: TestIdp;
  before(async () => {
    idp = await TestIdp.start({ realm: 'platform', clientId: 'async-engine', clientSecret: CLIENT_SECRET, users: { engine: PASSWORD } });
  });
  after(() => idp.close());

  /** An engine whose one step is the platform endpoint `step-a` of `platform`, plus the engine's captured logs. */
  async function platformEngine(platform: EndpointServer, extra: Record<string, unknown> = {}): Promise<TestEngine> {
    const doc = flowDocument(suite.azurite, {
      steps: [{ url: 'http://unused.invalid/', maxThreads: 16 }],
      queue: { maxMessages: 16 },
      extra: {
        'openapi.url': platform.url('/platform/actions'),
        'openapi.username': 'engine',
        'openapi.password': PASSWORD,
        'openid.config': { realm: 'platform', 'auth-server-url': idp.authServerUrl, resource: 'async-engine', credentials: { secret: CLIENT_SECRET } },
        ...extra,
      },
    });
    const [step] = (doc['flow.config'] as Array<{ queueMappings: Array<Record<string, unknown>> }>)[0]!.queueMappings;
    step!['endpointName'] = 'step-a';
    delete step!['endpointUrl'];
    return suite.engine(doc);
  }

  const completed = (e: TestEngine, id: string): Promise<unknown> => waitForStatus(e, id, 'completed');

  it('is requested once for 50 concurrent calls, and sent as Authorization: Bearer to the resolved endpoint', async () => {
    const before = idp.tokenRequests;
    const platform = await suite.endpoint(echo);
    const e = await platformEngine(platform);
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => submit(e, 'flow', `{"i":${i}}`)));
    for (const id of ids) await completed(e, id);
    assert.equal(idp.tokenRequests - before, 1);
    assert.equal(platform.calls.length, 50);
    assert.ok(platform.calls.every((c) => c.path === '/platform/actions/step-a'));
    const tokens = new Set(platform.calls.map((c) => c.headers['authorization']));
    assert.equal(tokens.size, 1);
    assert.match([...tokens][0]!, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('is fetched again shortly before it expires', async () => {
    idp.tokenLifetimeInSeconds = 4; // renewed after three quarters of its life
    try {
      const platform = await suite.endpoint(echo);
      const e = await platformEngine(platform);
      const before = idp.tokenRequests;
      await completed(e, await submit(e, 'flow', '{}'));
      await completed(e, await submit(e, 'flow', '{}'));
      assert.equal(idp.tokenRequests - before, 1, 'still valid');
      await sleep(3500);
      await completed(e, await submit(e, 'flow', '{}'));
      assert.equal(idp.tokenRequests - before, 2, 'renewed');
      assert.notEqual(platform.calls[0]!.headers['authorization'], platform.calls[2]!.headers['authorization']);
    } finally {
      idp.tokenLifetimeInSeconds = 300;
    }
  });

  it('is refreshed once when the endpoint answers 401, before the redelivery rules apply', async () => {
    let refused: string | undefined;
    const refuseFirstToken: Handler = (call, i) => {
      refused ??= call.headers['authorization'];
      return call.headers['authorization'] === refused ? { status: 401 } : echo(call, i);
    };
    const platform = await suite.endpoint(refuseFirstToken);
    const e = await platformEngine(platform, { 'redelivery.config': { default: { count: 0, delay: 0 } } });
    const before = idp.tokenRequests;
    const id = await submit(e, 'flow', '{}');
    await completed(e, id);
    assert.equal(platform.calls.length, 2);
    assert.equal(idp.tokenRequests - before, 2);
    assert.equal((await getStatus(e, id))['attempt'], 1, 'no redelivery was needed');
  });

  it('never shows a secret or a token in a log line of a whole run', async () => {
    const platform = await suite.endpoint((call, i) => (i === 0 ? { status: 401 } : echo(call, i)));
    const e = await platformEngine(platform);
    await completed(e, await submit(e, 'flow', '{"x":1}'));
    const text = JSON.stringify(e.logs);
    assert.ok(e.logs.length > 5, 'the run logged');
    const tokens = platform.calls.map((c) => String(c.headers['authorization']).replace('Bearer ', ''));
    for (const secret of [CLIENT_SECRET, PASSWORD, ...tokens, suite.azurite.connectionString.match(/AccountKey=([^;]+)/)![1]!]) {
      assert.ok(!text.includes(secret), `a log line shows ${secret.slice(0, 12)}...`);
    }
  });

  it('asks a provider that refused it again only after its back-off, however many steps need a token meanwhile', async () => {
    const issuer = new OidcIssuer({ realm: 'platform', authServerUrl: idp.authServerUrl, resource: 'async-engine', clientSecret: CLIENT_SECRET, useResourceRoleMappings: false, sslRequired: 'external', principalAttribute: 'sub' }, silent);
    issuer.start();
    suite.onClose(() => issuer.close());
    await issuer.whenReady(AbortSignal.timeout(10_000));
    const waits: number[] = [];
    const tokens = new PlatformToken({ issuer, username: 'engine', password: 'not-the-password', retryDelayInMs: (failures) => {
        waits.push(failures);
        return 0;
      },
      log: silent,
    });
    const before = idp.tokenAttempts;
    await assert.rejects(tokens.get(), (err: unknown) => isEngineError(err, 'AE_PLATFORM_TOKEN'));
    await assert.rejects(tokens.get(), (err: unknown) => isEngineError(err, 'AE_PLATFORM_TOKEN'));
    assert.equal(idp.tokenAttempts - before, 2, 'a zero back-off asks again at once');
    assert.deepEqual(waits, [1, 2], 'the back-off grows with the failures in a row');

    const patient = new PlatformToken({ issuer, username: 'engine', password: 'not-the-password', retryDelayInMs: () => 60_000, log: silent });
    const first = idp.tokenAttempts;
    const refusals = await Promise.allSettled(Array.from({ length: 20 }, () => patient.get()));
    for (let i = 0; i < 20; i++) await assert.rejects(patient.get(), (err: unknown) => isEngineError(err, 'AE_PLATFORM_TOKEN'));
    assert.ok(refusals.every((r) => r.status === 'rejected'));
    assert.equal(idp.tokenAttempts - first, 1, 'one request, then the back-off answers');
  });
});
