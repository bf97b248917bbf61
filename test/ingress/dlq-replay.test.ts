import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { type DlqReplay, DlqTable, makeDlqId } from '../../src/storage/dlq-table.js';
import { decodeEnvelope } from '../../src/storage/envelope.js';
import { StatusTable } from '../../src/storage/status-table.js';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, getStatus, type TestEngine } from '../support/engine.js';
import { LatencyProxy } from '../support/latency-proxy.js';

/** Long enough that two replays racing for an entry overlap. */
const SEND_LATENCY_IN_MS = 200;

async function json<T>(response: Response, status: number): Promise<T> {
  assert.equal(response.status, status, await response.clone().text());
  return (await response.json()) as T;
}

async function dlqIds(e: TestEngine): Promise<string[]> {
  const { items } = await json<{ items: Array<{ dlqId: string }> }>(await fetch(`${e.url}/api/dlq?flow=flow&limit=1000`), 200);
  return items.map((x) => x.dlqId);
}

function queueOf(e: TestEngine, step: number) {
  const name = e.runtime.flows.get('flow')!.steps[step]!.source.queue.name;
  return e.runtime.storage.clients.queues.getQueueClient(name);
}

/** The request ids of the messages waiting in step `step`'s queue (at most 32). */
async function queuedRequestIds(e: TestEngine, step = 0): Promise<string[]> {
  const { peekedMessageItems } = await queueOf(e, step).peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((m) => decodeEnvelope(m.messageText).requestId);
}

interface SeedOptions {
  step?: number;
  /** `none`: the input expired with its message. */
  kind?: 'request' | 'none';
  /** false: the request's status row is gone. */
  hasStatusRow?: boolean;
}

interface Seeded {
  dlqId: string;
  requestId: string;
}

/**
 * `count` dead-lettered requests of flow "flow", written as the engine writes them: the status row
 * `dead-lettered` naming its DLQ entry, and the entry with the step's input.
 */
async function seed(e: TestEngine, count: number, { step = 0, kind = 'request', hasStatusRow = true }: SeedOptions = {}): Promise<Seeded[]> {
  const statusTable = new StatusTable(e.runtime.storage.clients.statusTable);
  const dlqTable = new DlqTable(e.runtime.storage.clients.dlqTable);
  const at = Date.now();
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const requestId = randomUUID();
      const deadLetteredAt = new Date(at - i);
      const dlqId = makeDlqId('flow', deadLetteredAt, randomUUID());
      const replay: DlqReplay =
        kind === 'none'
          ? { kind: 'none' }
          : { kind: 'request', contentType: 'application/json', body: { kind: 'inline', encoding: 'utf8', data: `{"i":${i}}` }, traceparent: null, callbackUrl: null, blobs: [] };
      if (hasStatusRow) {
        await statusTable.create(
          {
            id: requestId,
            flow: 'flow',
            status: 'dead-lettered',
            step,
            stepQueue: 'gone',
            attempt: 1,
            createdAt: deadLetteredAt,
            updatedAt: deadLetteredAt,
            completedAt: deadLetteredAt,
            lastHttpStatus: 503,
            lastError: 'HTTP 503',
            callbackUrl: null,
            callbackStatus: null,
            result: null,
            dlqId,
          },
          AbortSignal.timeout(10_000),
        );
      }
      await dlqTable.upsert(
        {
          dlqId,
          requestId,
          flow: 'flow',
          step,
          sourceQueue: 'gone',
          endpoint: 'http://127.0.0.1:9/x',
          attempts: 1,
          lastHttpStatus: 503,
          error: 'HTTP 503',
          reason: kind === 'none' ? 'expired' : 'exhausted',
          deadLetteredAt,
          replay,
        },
        AbortSignal.timeout(10_000),
      );
      return { dlqId, requestId };
    }),
  );
}

/** Writes a replay claim onto an entry, as an engine that claimed it and stopped would have left it. */
async function leaveClaim(e: TestEngine, dlqId: string, until: Date): Promise<void> {
  const [partitionKey, rowKey] = dlqId.split('~') as [string, string];
  await e.runtime.storage.clients.dlqTable.updateEntity({ partitionKey, rowKey, ReplayClaimedBy: 'replay-crashed', ReplayClaimedUntil: until }, 'Merge');
}

describe('DLQ replays: claims', () => {
  const suite = engineSuite();

  /** A one-step flow (two with `steps: 2`) on an echo endpoint, with every queue send held up. */
  async function slowSendDocument(options: { steps?: number; server?: Record<string, unknown> } = {}): Promise<Record<string, unknown>> {
    const endpoint = await suite.endpoint(echo);
    const proxy = await LatencyProxy.start({
      upstreamPort: suite.azurite.ports.queue,
      latencyInMs: SEND_LATENCY_IN_MS,
      isDelayed: (method, url) => method === 'POST' && url.pathname.endsWith('/messages'),
    });
    suite.onClose(() => proxy.close());
    const doc = flowDocument(suite.azurite, {
      steps: Array.from({ length: options.steps ?? 1 }, () => ({ url: endpoint.url() })),
      extra: { 'server.config': options.server ?? {} },
    });
    const connectionString = suite.azurite.connectionString.replace(`:${suite.azurite.ports.queue}/`, `:${proxy.port}/`);
    return { ...doc, 'azure.storage.config': { connectionString } };
  }

  /** An engine that serves the API but no longer polls: replayed messages stay in their queues. */
  async function apiOnlyEngine(doc: Record<string, unknown>): Promise<TestEngine> {
    const e = await suite.engine(doc);
    await e.runtime.engine.close();
    return e;
  }

  it('queues an entry once when two replays of it race through the API; the loser gets 409', async () => {
    const e = await apiOnlyEngine(await slowSendDocument());
    const entries = await seed(e, 5);
    const answers = await Promise.all(
      entries.flatMap(({ dlqId }) => [0, 1].map(() => fetch(`${e.url}/api/dlq/${dlqId}/replay`, { method: 'POST' }))),
    );
    for (let i = 0; i < entries.length; i++) {
      const pair = [answers[2 * i]!, answers[2 * i + 1]!];
      assert.deepEqual(pair.map((r) => r.status).sort(), [202, 409]);
      const loser = pair.find((r) => r.status === 409)!;
      assert.equal(loser.headers.get('content-type'), 'application/problem+json');
      const problem = (await loser.json()) as { type: string; detail: string };
      assert.equal(problem.type, 'urn:async-engine:problem:replay-in-progress');
      assert.match(problem.detail, /is being replayed by another request/);
      assert.deepEqual(await pair.find((r) => r.status === 202)!.json(), { id: entries[i]!.requestId });
    }
    assert.deepEqual((await queuedRequestIds(e)).sort(), entries.map((x) => x.requestId).sort(), 'one message per entry');
    assert.deepEqual(await dlqIds(e), []);
  });

  it('leaves an entry with a live claim alone, takes over a lapsed one, and only removes an entry whose request already ran on', async () => {
    const e = await apiOnlyEngine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    const [claimed, lapsed, ranOn] = await seed(e, 3);
    const until = new Date(Date.now() + 60_000);
    await leaveClaim(e, claimed!.dlqId, until);
    await leaveClaim(e, lapsed!.dlqId, new Date(Date.now() - 1000));
    await leaveClaim(e, ranOn!.dlqId, new Date(Date.now() - 1000));
    // A replay of `ranOn` stopped after its send; the request then completed.
    const statusTable = new StatusTable(e.runtime.storage.clients.statusTable);
    const row = (await statusTable.get(ranOn!.requestId, AbortSignal.timeout(5000)))!;
    const now = new Date();
    await statusTable.update(ranOn!.requestId, { status: 'completed', dlqId: null, lastHttpStatus: 200, lastError: null, updatedAt: now, completedAt: now }, row.etag, AbortSignal.timeout(5000));

    const refused = await fetch(`${e.url}/api/dlq/${claimed!.dlqId}/replay`, { method: 'POST' });
    assert.equal(refused.status, 409);
    assert.match(((await refused.json()) as { detail: string }).detail, new RegExp(until.toISOString().replaceAll('.', '\\.')));
    assert.deepEqual(await json(await fetch(`${e.url}/api/dlq/${lapsed!.dlqId}/replay`, { method: 'POST' }), 202), { id: lapsed!.requestId });
    assert.deepEqual(await json(await fetch(`${e.url}/api/dlq/${ranOn!.dlqId}/replay`, { method: 'POST' }), 202), { id: ranOn!.requestId });
    assert.deepEqual(await queuedRequestIds(e), [lapsed!.requestId], 'the request that ran on was not sent again');
    assert.equal((await getStatus(e, ranOn!.requestId))['status'], 'completed');

    assert.deepEqual(await dlqIds(e), [claimed!.dlqId]);
  });
});
