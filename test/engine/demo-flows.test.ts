/**
 * The demo flows of config/local.json as a new user meets them, on the test Azurite: their
 * endpoints named by path follow whatever port the engine listens on, and `demo-failing` sends a
 * share of its requests to the DLQ, the same ones every time.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isDemoPath } from '../../src/config/checks.js';
import { isFailedOnPurpose } from '../../src/demo/endpoints.js';
import { isEngineError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/log.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { Runtime } from '../../src/runtime.js';
import { uniqueTableName, type TestAzurite } from '../support/azurite.js';
import { REPO_ROOT } from '../support/cli.js';
import { configOf, engineSuite, getStatus, submit, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

type Document = Record<string, unknown>;

/**
 * config/local.json on the test Azurite: its own tables, container and queue names (a suffix on
 * each), and `server` merged into its server.config (the port and the rest as the file has them).
 */
async function localDocument(azurite: TestAzurite, server: Document): Promise<Document> {
  const doc = JSON.parse(await readFile(path.join(REPO_ROOT, 'config', 'local.json'), 'utf8')) as Document;
  const suffix = randomBytes(3).toString('hex');
  const renamed = (name: unknown): string => `${String(name)}-${suffix}`;
  const queues = doc['queue.config'] as Document[];
  const flows = doc['flow.config'] as Array<{ queueMappings: Document[] }>;
  return {
    ...doc,
    'azure.storage.config': { connectionString: azurite.connectionString },
    'queue.config': queues.map((q) => ({ ...q, name: renamed(q['name']) })),
    'flow.config': flows.map((f) => ({
      ...f,
      queueMappings: f.queueMappings.map((m) => ({
        ...m,
        sourceQueueName: renamed(m['sourceQueueName']),
        ...(m['targetQueueName'] ? { targetQueueName: renamed(m['targetQueueName']) } : {}),
      })),
    })),
    'table.config': { statusTable: uniqueTableName('Status'), dlqTable: uniqueTableName('Dlq') },
    'payload.config': { container: `payloads-${suffix}` },
    'server.config': { ...(doc['server.config'] as Document), ...server },
  };
}

describe('the demo flows of config/local.json', () => {
  const suite = engineSuite();

  it('name their endpoints by path, so that they follow the port the engine listens on', async () => {
    const doc = JSON.parse(await readFile(path.join(REPO_ROOT, 'config', 'local.json'), 'utf8')) as { 'flow.config': Array<{ queueMappings: Array<{ endpointUrl: string }> }> };
    const urls = doc['flow.config'].flatMap((f) => f.queueMappings.map((m) => m.endpointUrl));
    assert.deepEqual(urls.filter((url) => !isDemoPath(url)), []);
  });

  it('the demo flow completes on an engine listening on port 0', async () => {
    const e = await suite.engine(await localDocument(suite.azurite, { port: 0 }));
    assert.doesNotMatch(e.url, /:8080$/);
    const id = await submit(e, 'demo', '{"hello":"world"}');
    await waitForStatus(e, id, 'completed', 60_000);
    assert.equal(await (await fetch(`${e.url}/api/requests/${id}/result`)).text(), '{"hello":"world"}');
    const { items } = (await (await fetch(`${e.url}/api/flows`)).json()) as { items: Array<{ name: string; steps: Array<{ endpoint: string }> }> };
    assert.deepEqual(items.find((f) => f.name === 'demo')?.steps.map((s) => s.endpoint), ['/demo/echo', '/demo/slow?ms=200', '/demo/echo'], 'the flows list the paths as written');
  });

  it('demo-failing dead-letters the requests /demo/fail chooses by their id, and a replay of one fails again', async () => {
    const e = await suite.engine(await localDocument(suite.azurite, { port: 0 }));
    const share = 0.3;
    // With 30 requests, that none or all of them fail has a chance below 1 in 40,000.
    const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => submit(e, 'demo-failing', `{"i":${i}}`)));
    const finals = await eventually(
      async () => {
        const statuses = await Promise.all(ids.map((id) => getStatus(e, id)));
        assert.ok(statuses.every((s) => s['status'] === 'completed' || s['status'] === 'dead-lettered'), 'every request is final');
        return statuses;
      },
      { timeoutInMs: 120_000 },
    );
    const dead = finals.filter((s) => s['status'] === 'dead-lettered').map((s) => String(s['id']));
    assert.deepEqual(dead.sort(), ids.filter((id) => isFailedOnPurpose(id, share)).sort(), 'exactly the requests whose id is in the failing share');
    assert.ok(dead.length > 0 && dead.length < ids.length, `${dead.length} of ${ids.length} failed`);

    const { items } = (await (await fetch(`${e.url}/api/dlq?flow=demo-failing`)).json()) as { items: Array<{ dlqId: string; requestId: string; step: number; endpoint: string; lastHttpStatus: number; attempts: number }> };
    assert.deepEqual(items.map((entry) => entry.requestId).sort(), [...dead].sort());
    const [entry] = items;
    assert.ok(entry);
    assert.deepEqual(
      { step: entry.step, endpoint: entry.endpoint, lastHttpStatus: entry.lastHttpStatus, attempts: entry.attempts },
      { step: 1, endpoint: `/demo/fail?share=${share}`, lastHttpStatus: 500, attempts: 3 },
      'failed at the second step after the two redeliveries of redelivery.config',
    );

    const replayed = await fetch(`${e.url}/api/dlq/${entry.dlqId}/replay`, { method: 'POST' });
    assert.equal(replayed.status, 202);
    await eventually(
      async () => {
        const { items: again } = (await (await fetch(`${e.url}/api/dlq?flow=demo-failing`)).json()) as { items: Array<{ dlqId: string; requestId: string }> };
        const entries = again.filter((x) => x.requestId === entry.requestId);
        assert.equal(entries.length, 1);
        assert.notEqual(entries[0]?.dlqId, entry.dlqId, 'dead-lettered anew');
      },
      { timeoutInMs: 60_000 },
    );
    assert.equal((await getStatus(e, entry.requestId))['status'], 'dead-lettered');
  });

  it('a worker refuses to start with a step that names the demo endpoints by path: it does not serve them', async () => {
    const config = configOf(await localDocument(suite.azurite, { port: 0 }));
    const log = createLogger({ level: 'silent' });
    await assert.rejects(Runtime.start(config, { log, abortSignal: AbortSignal.timeout(30_000), storageCalls: new StorageCallCounter(), role: 'worker' }), (err) => {
      assert.ok(isEngineError(err, 'AE_INVALID_CONFIG'), String(err));
      assert.match(err.message, /step 0 of flow "demo" names the demo endpoints by path \(\/demo\/echo\), which a worker does not serve/);
      return true;
    });
  });
});
