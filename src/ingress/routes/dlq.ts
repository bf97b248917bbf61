/**
 * The dead-letter table's operations: list, inspect, replay and delete. Replaying one entry is
 * done within the request; replaying a whole flow starts a background job (engine/replay-jobs.ts)
 * and answers at once with where to follow it.
 */
import { type ReplayDeps, replayEntry } from '../../engine/replay.js';
import type { ReplayJobs } from '../../engine/replay-jobs.js';
import type { Logger } from '../../observability/log.js';
import { toDlqJson, type DlqTable, type StoredDlqEntry } from '../../storage/dlq-table.js';
import type { PayloadStore } from '../../storage/payloads.js';
import { toReplayJobJson } from '../../storage/replay-jobs.js';
import { HttpProblem } from '../problem.js';
import { cursorOf, flowOf, limitOf } from '../query.js';
import { createRouter, type IngressContext, type IngressRouter } from '../state.js';

export interface DlqRoutesDeps extends ReplayDeps {
  dlqTable: DlqTable;
  payloads: PayloadStore;
  replayJobs: ReplayJobs;
  log: Logger;
}

/** Names the claimant of a replay of one entry through the API (a job's claims name the job). */
const SINGLE_REPLAY_CLAIMANT = 'api';

const TIMEOUT_IN_MS = 30_000;

export function createDlqRoutes(deps: DlqRoutesDeps): IngressRouter {
  const router = createRouter({ prefix: '/api/dlq' });
  const deadline = (): AbortSignal => AbortSignal.timeout(TIMEOUT_IN_MS);
  const entryOf = async (ctx: IngressContext, dlqId: string): Promise<StoredDlqEntry> => {
    const entry = await deps.dlqTable.get(dlqId, deadline());
    if (!entry) throw new HttpProblem(404, 'unknown-dlq-entry', 'Not Found', `there is no DLQ entry "${dlqId}"`);
    if (entry.requestId !== null) ctx.state.requestId = entry.requestId;
    return entry;
  };

  router.get('/', async (ctx) => {
    const flow = flowOf(ctx, deps.flows, false);
    const page = await deps.dlqTable.list(flow, limitOf(ctx), cursorOf(ctx), deadline());
    ctx.body = { items: page.items.map(toDlqJson), nextCursor: page.nextCursor };
  });

  // Before '/:dlqId/replay' so that "replay" is never read as an id.
  router.post('/replay', async (ctx) => {
    const flow = flowOf(ctx, deps.flows, true);
    const { jobId } = await deps.replayJobs.start(flow, deadline());
    deps.log.info({ jobId, flow, principal: principalOf(ctx) }, 'dlq.replay_job_requested');
    ctx.status = 202;
    ctx.set('location', `/api/dlq/replays/${jobId}`);
    ctx.body = { jobId };
  });

  router.get('/replays/:jobId', async (ctx) => {
    // The id's shape is checked before storage is asked (a malformed id costs no call).
    const job = await deps.replayJobs.get(ctx.params['jobId'] ?? '', deadline());
    if (!job) throw new HttpProblem(404, 'unknown-replay-job', 'Not Found', 'there is no DLQ replay job with this id');
    ctx.body = toReplayJobJson(job);
  });

  router.get('/:dlqId', async (ctx) => {
    ctx.body = toDlqJson(await entryOf(ctx, ctx.params['dlqId'] ?? ''));
  });

  router.post('/:dlqId/replay', async (ctx) => {
    const entry = await entryOf(ctx, ctx.params['dlqId'] ?? '');
    const outcome = await replayEntry(deps, entry, SINGLE_REPLAY_CLAIMANT, deadline());
    if (outcome.kind === 'claimed-elsewhere') {
      const lapse = outcome.until ? `; should that replay have stopped, the entry can be replayed again after ${outcome.until.toISOString()}` : '';
      throw new HttpProblem(409, 'replay-in-progress', 'Conflict', `DLQ entry "${entry.dlqId}" is being replayed by another request or job: it leaves the DLQ when that replay is done${lapse}`);
    }
    const id = outcome.requestId;
    if (id !== null) ctx.state.requestId = id;
    deps.log.info({ dlqId: entry.dlqId, requestId: id, flow: entry.flow, step: entry.step, principal: principalOf(ctx) }, 'dlq.replayed');
    ctx.status = 202;
    ctx.body = { id };
  });

  router.delete('/:dlqId', async (ctx) => {
    const entry = await entryOf(ctx, ctx.params['dlqId'] ?? '');
    if (!(await deps.dlqTable.delete(entry.dlqId, deadline()))) {
      throw new HttpProblem(404, 'unknown-dlq-entry', 'Not Found', `there is no DLQ entry "${entry.dlqId}"`);
    }
    // Discarded for good: its payload blobs were kept only for a replay (see storage/payloads.ts).
    if (entry.replay.kind === 'request') await deps.payloads.delete(entry.replay.blobs, deadline());
    deps.log.info({ dlqId: entry.dlqId, requestId: entry.requestId, principal: principalOf(ctx) }, 'dlq.deleted');
    ctx.status = 204;
  });

  return router;
}

/** Who asked, for the log: the token's principal under oidc, null under auth none. */
function principalOf(ctx: IngressContext): string | null {
  return ctx.state.principal?.name ?? null;
}
