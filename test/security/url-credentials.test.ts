/**
 * Credentials written into an endpoint URL (`http://user:password@host/`) are never shown: not by
 * GET /api/flows, not in DLQ entries (dead-lettered or expired), not in a log line, not by
 * `config check`. The engine does not send them either: undici ignores a URL's userinfo.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { runCli } from '../support/cli.js';
import { openIdSection, stepsOf, validDocument, writeConfigFile } from '../support/config-docs.js';
import { engineSuite, flowDocument, getStatus, submit, waitForStatus } from '../support/engine.js';

const SECRET = 'S3cr3tUrlPassword';
const withCredentials = (url: string): string => url.replace('http://', `http://engine-user:${SECRET}@`);
const redacted = (url: string): string => url.replace('http://', 'http://***@');

describe('credentials in endpoint URLs', () => {
  const suite = engineSuite();

  describe('in a running engine', () => {
    let seen: { plainUrl: string; flows: string; dlq: string; statuses: string; logs: string; authorization: unknown; ids: { deadLettered: string; expired: string } };

    before(async () => {
      const endpoint = await suite.endpoint(() => ({ status: 400, body: 'refused' }));
      const plainUrl = endpoint.url('/x');
      const e = await suite.engine(
        flowDocument(suite.azurite, { steps: [{ url: withCredentials(plainUrl) }], extra: { 'redelivery.config': { default: { count: 0, delay: 0 } } } }),
      );
      const deadLettered = await submit(e, 'flow', '{}');
      await waitForStatus(e, deadLettered, 'dead-lettered');
      // A second request waits unprocessed and is swept as expired: the sweep writes its own DLQ entry.
      await e.runtime.engine.close();
      const expired = await submit(e, 'flow', '{}');
      assert.equal(await e.runtime.engine.sweepExpired(new Date(Date.now() + 3 * 3600_000)), 1);
      seen = {
        plainUrl,
        flows: await (await fetch(`${e.url}/api/flows`)).text(),
        dlq: await (await fetch(`${e.url}/api/dlq?flow=flow`)).text(),
        statuses: JSON.stringify([await getStatus(e, deadLettered), await getStatus(e, expired)]),
        logs: JSON.stringify(e.logs),
        authorization: endpoint.calls[0]?.headers['authorization'],
        ids: { deadLettered, expired },
      };
    });

    const assertHidden = (where: string, text: string): void => assert.ok(!text.includes(SECRET) && !text.includes('engine-user'), `${where} shows the credentials: ${text}`);

    it('GET /api/flows shows the step endpoint as http://***@host/path', () => {
      assertHidden('GET /api/flows', seen.flows);
      const [step] = (JSON.parse(seen.flows) as { items: Array<{ steps: Array<{ endpoint: string }> }> }).items[0]!.steps;
      assert.equal(step!.endpoint, redacted(seen.plainUrl));
    });

    it('DLQ entries show it redacted, whether dead-lettered by a step or by the expiry sweep', () => {
      assertHidden('GET /api/dlq', seen.dlq);
      const entries = (JSON.parse(seen.dlq) as { items: Array<{ requestId: string; endpoint: string; reason: string }> }).items;
      assert.deepEqual(
        entries.map((entry) => [entry.requestId, entry.reason, entry.endpoint]).sort(),
        [
          [seen.ids.deadLettered, 'exhausted', redacted(seen.plainUrl)],
          [seen.ids.expired, 'expired', redacted(seen.plainUrl)],
        ].sort(),
      );
    });

    it('no log line and no status JSON holds them', () => {
      assert.ok(seen.logs.includes('step.dead_lettered'), 'the log was captured');
      assertHidden('the log', seen.logs);
      assertHidden('status JSON', seen.statuses);
    });

    it('the endpoint receives no Authorization header: undici does not send a URL\'s userinfo', () => {
      assert.equal(seen.authorization, undefined);
    });
  });

  it('are redacted in what config check prints', async () => {
    const doc = validDocument({
      'openapi.url': withCredentials('http://platform.example/api/'),
      'openid.config': openIdSection({ 'auth-server-url': withCredentials('http://127.0.0.1:9/auth') }),
    });
    stepsOf(doc)[0]!['endpointUrl'] = withCredentials('http://127.0.0.1:9/first');
    const file = await writeConfigFile(doc);
    try {
      const { code, stdout, stderr } = await runCli(['config', 'check', '--config', file]);
      assert.equal(code, 0, stderr);
      assert.ok(!stdout.includes(SECRET) && !stderr.includes(SECRET) && !stdout.includes('engine-user'), stdout);
      const printed = JSON.parse(stdout) as Record<string, unknown>;
      assert.equal(printed['openapi.url'], 'http://***@platform.example/api/');
      const [flow] = printed['flow.config'] as Array<{ queueMappings: Array<{ endpointUrl: string }> }>;
      assert.equal(flow!.queueMappings[0]!.endpointUrl, 'http://***@127.0.0.1:9/first');
      assert.equal((printed['openid.config'] as Record<string, unknown>)['auth-server-url'], 'http://***@127.0.0.1:9/auth');
    } finally {
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });
});
