import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { REPLAY_CONCURRENCY } from '../../src/engine/replay-jobs.js';
import { type DlqReplay, DlqTable, makeDlqId } from '../../src/storage/dlq-table.js';
import { decodeEnvelope } from '../../src/storage/envelope.js';
import { StatusTable } from '../../src/storage/status-table.js';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, getStatus, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { LatencyProxy } from '../support/latency-proxy.js';

interface JobJson {
  jobId: string;
  flow: string;
  replayed: number;
  skipped: number;
  failed: number;
  done: boolean;
}

/** Long enough that a job of a few dozen entries is still running when the test looks. */
const SEND_LATENCY_IN_MS = 200;

async function json<T>(response: Response, status: number): Promise<T> {
  assert.equal(response.status, status, await response.clone().text());
  return (await response.json()) as T;
}

async function startJob(e: TestEngine, flow = 'flow'): Promise<{ jobId: string; location: string | null }> {
  const response = await fetch(`${e.url}/api/dlq/replay?flow=${flow}`, { method: 'POST' });
  const { jobId } = await json<{ jobId: string }>(response, 202);
  return { jobId, location: response.headers.get('location') };
}

async function jobOf(e: TestEngine, jobId: string): Promise<JobJson> {
  return json<JobJson>(await fetch(`${e.url}/api/dlq/replays/${jobId}`), 200);
}

async function waitUntilDone(e: TestEngine, jobId: string): Promise<JobJson> {
  return eventually(
    async () => {
      const job = await jobOf(e, jobId);
      assert.equal(job.done, true, JSON.stringify(job));
      return job;
    },
    { timeoutInMs: 30_000 },
  );
}

async function dlqIds(e: TestEngine): Promise<string[]> {
  const { items } = await json<{ items: Array<{ dlqId: string }> }>(await fetch(`${e.url}/api/dlq?flow=flow&limit=1000`), 200);
  return items.map((x) => x.dlqId);
}

function queueOf(e: TestEngine, step: number) {
  const name = e.runtime.flows.get('flow')!.steps[step]!.source.queue.name;
  return e.runtime.storage.clients.queues.getQueueClient(name);
}

async function messageCount(e: TestEngine, step = 0): Promise<number> {
  return (await queueOf(e, step).getProperties()).approximateMessagesCount ?? 0;
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
            lastMessageId: null,
            submittedBy: null,
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

/** A GET with the path sent as written (fetch would resolve `..` and re-encode). */
function rawGet(url: string, path: string): Promise<{ status: number; contentType: string | undefined }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('DLQ replays: claims and background jobs', () => {
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

  it('answers 202 with Location at once, replays in the background, and counts replayed, skipped and failed entries', async () => {
    const e = await apiOnlyEngine(await slowSendDocument({ steps: 2 }));
    const replayable = await seed(e, 40);
    const expired = await seed(e, 3, { kind: 'none' });
    const stepGone = await seed(e, 2, { step: 5 });
    // Its status row is gone (retention deleted it): the replay makes it again.
    const rowGone = await seed(e, 1, { hasStatusRow: false });
    // Sends to step 1 fail: its queue is gone (a storage failure, not the entry's fault).
    await queueOf(e, 1).delete();
    const broken = await seed(e, 3, { step: 1 });

    const { jobId, location } = await startJob(e);
    assert.match(jobId, /^replay-[0-9a-f-]{36}$/);
    assert.equal(location, `/api/dlq/replays/${jobId}`);
    const first = await jobOf(e, jobId);
    assert.equal(first.done, false, 'the POST did not wait for the replay');
    assert.equal(first.flow, 'flow');

    await eventually(
      async () => {
        const job = await jobOf(e, jobId);
        assert.ok(job.replayed > 0 && !job.done, `progress is written while the job runs: ${JSON.stringify(job)}`);
      },
      { timeoutInMs: 20_000, intervalInMs: 20 },
    );
    assert.deepEqual(await waitUntilDone(e, jobId), { jobId, flow: 'flow', replayed: 41, skipped: 5, failed: 3, done: true });

    const left = new Set(await dlqIds(e));
    assert.deepEqual(
      [...left].sort(),
      [...expired, ...stepGone, ...broken].map((s) => s.dlqId).sort(),
      'skipped and failed entries stay in the DLQ; replayed ones are gone',
    );
    assert.equal(await messageCount(e), 41, 'each replayed request was queued once');
    for (const { requestId } of [replayable[0]!, rowGone[0]!]) {
      const status = await getStatus(e, requestId);
      assert.deepEqual([status['status'], status['step'], status['attempt']], ['queued', 0, 1]);
    }
  });

  it('shows the same progress on another engine on the same storage', async () => {
    const doc = await slowSendDocument();
    const a = await apiOnlyEngine(doc);
    const b = await suite.engine({ ...doc, 'azure.storage.config': { connectionString: suite.azurite.connectionString } });
    await seed(a, 20);
    const { jobId } = await startJob(a);
    const early = await jobOf(b, jobId);
    assert.deepEqual([early.jobId, early.flow, early.done], [jobId, 'flow', false]);
    const done = await waitUntilDone(b, jobId);
    assert.deepEqual(done, { jobId, flow: 'flow', replayed: 20, skipped: 0, failed: 0, done: true });
    assert.deepEqual(await jobOf(a, jobId), done);
  });

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
      assert.match(problem.detail, /is being replayed by another request or job/);
      assert.deepEqual(await pair.find((r) => r.status === 202)!.json(), { id: entries[i]!.requestId });
    }
    assert.deepEqual((await queuedRequestIds(e)).sort(), entries.map((x) => x.requestId).sort(), 'one message per entry');
    assert.deepEqual(await dlqIds(e), []);
  });

  it('replays each entry once when two jobs replay one flow at the same time', async () => {
    const e = await apiOnlyEngine(await slowSendDocument());
    const entries = await seed(e, 30);
    const jobs = await Promise.all([startJob(e), startJob(e)]);
    assert.notEqual(jobs[0].jobId, jobs[1].jobId);
    const done = await Promise.all(jobs.map(({ jobId }) => waitUntilDone(e, jobId)));
    assert.equal(done[0]!.replayed + done[1]!.replayed, 30, JSON.stringify(done));
    for (const job of done) assert.deepEqual([job.skipped, job.failed], [0, 0]);
    assert.deepEqual((await queuedRequestIds(e)).sort(), entries.map((x) => x.requestId).sort(), 'each request queued again exactly once');
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

    const { jobId } = await startJob(e);
    assert.deepEqual(await waitUntilDone(e, jobId), { jobId, flow: 'flow', replayed: 0, skipped: 0, failed: 0, done: true }, 'a job leaves the claimed entry alone');
    assert.deepEqual(await dlqIds(e), [claimed!.dlqId]);
  });

  it('answers 404 for an unknown job id, and for a malformed one without a storage call', async () => {
    const e = await apiOnlyEngine(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    const unknown = await fetch(`${e.url}/api/dlq/replays/replay-${randomUUID()}`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { type: string }).type, 'urn:async-engine:problem:unknown-replay-job');

    e.storageCalls.reset();
    const uuid = randomUUID();
    for (const id of [
      'nope',
      uuid,
      `replay-${uuid.toUpperCase()}`,
      `replay-${uuid}x`,
      'flow~9999999999999-x',
      '..',
      '%2E%2E',
      '..%2F..%2Fapi%2Frequests',
      `replay-${uuid}%2F..`,
      '%2F',
      `replay-${uuid}%00`,
      `replay-${'a'.repeat(4000)}`,
    ]) {
      const answer = await rawGet(e.url, `/api/dlq/replays/${id}`);
      assert.equal(answer.status, 404, id);
      assert.equal(answer.contentType, 'application/problem+json', id);
    }
    assert.deepEqual(e.storageCalls.snapshot(), {}, 'no storage call');
  });

  it('stops a running job within the shutdown grace period, keeps its progress, and another engine can replay the rest', async () => {
    const graceInMs = 2000;
    const doc = await slowSendDocument({ server: { shutdownGraceMs: graceInMs } });
    const e = await suite.engine(doc);
    const count = 80;
    await seed(e, count);
    const { jobId } = await startJob(e);
    const seen = await eventually(
      async () => {
        const job = await jobOf(e, jobId);
        assert.ok(job.replayed > 0, 'the job has written progress');
        return job;
      },
      { timeoutInMs: 20_000 },
    );

    const startedAt = performance.now();
    await e.close();
    const tookInMs = performance.now() - startedAt;
    assert.ok(tookInMs < graceInMs + 1000, `close took ${Math.round(tookInMs)} ms`);
    assert.ok(e.logged('dlq.replay_job_stopped').length === 1, 'the job stopped');

    const other = await suite.engine({ ...doc, 'azure.storage.config': { connectionString: suite.azurite.connectionString } });
    await other.runtime.engine.close();
    const stopped = await jobOf(other, jobId);
    assert.equal(stopped.done, false);
    assert.ok(stopped.replayed >= seen.replayed && stopped.replayed < count, JSON.stringify(stopped));
    const left = (await dlqIds(other)).length;
    assert.ok(left <= count - stopped.replayed && left >= count - stopped.replayed - REPLAY_CONCURRENCY, `${left} entries left`);

    const again = await startJob(other);
    const rest = await waitUntilDone(other, again.jobId);
    // Entries whose send the shutdown cut off stay claimed for a while: at most one per slot.
    assert.ok(rest.replayed >= left - REPLAY_CONCURRENCY, JSON.stringify(rest));
    assert.ok((await dlqIds(other)).length <= REPLAY_CONCURRENCY);
  });
});
