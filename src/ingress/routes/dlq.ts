/**
 * The dead-letter table's routes: list, inspect, replay and delete, on the operations the command
 * line shares (operations/dlq.ts). Replaying one entry is done within the request; replaying a
 * whole flow starts a background job (engine/replay-jobs.ts) and answers at once with where to
 * follow it.
 */
import type { ReplayDeps } from '../../engine/replay.js';
import type { ReplayJobs } from '../../engine/replay-jobs.js';
import { checkDlqQuery } from '../../operations/list-query.js';
import { deleteDlqEntry, dlqListBody, getDlqEntry, listDlq, replayBody, replayDlqEntry, startFlowReplay, unknownDlqEntryMessage } from '../../operations/dlq.js';
import type { Logger } from '../../observability/log.js';
import { toDlqJson, type DlqTable, type StoredDlqEntry } from '../../storage/dlq-table.js';
import type { PayloadStore } from '../../storage/payloads.js';
import { toReplayJobJson } from '../../storage/replay-jobs.js';
import { HttpProblem } from '../problem.js';
import { checkedOrThrow, listParametersOf, requiredFlowOf } from '../query.js';
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
    const entry = await getDlqEntry(deps.dlqTable, dlqId, deadline());
    if (!entry) throw new HttpProblem(404, 'unknown-dlq-entry', 'Not Found', unknownDlqEntryMessage(dlqId));
    if (entry.requestId !== null) ctx.state.requestId = entry.requestId;
    return entry;
  };

  router.get('/', async (ctx) => {
    const query = checkedOrThrow(checkDlqQuery(listParametersOf(ctx), deps.flows));
    ctx.body = dlqListBody(await listDlq(deps.dlqTable, query, deadline()));
  });

  // Before '/:dlqId/replay' so that "replay" is never read as an id.
  router.post('/replay', async (ctx) => {
    const flow = requiredFlowOf(ctx, deps.flows);
    const { jobId } = await startFlowReplay(deps.replayJobs, flow, deadline());
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
    const result = await replayDlqEntry(deps, entry, SINGLE_REPLAY_CLAIMANT, deadline());
    if (result.kind === 'claimed-elsewhere') throw new HttpProblem(409, 'replay-in-progress', 'Conflict', result.message);
    const id = result.requestId;
    if (id !== null) ctx.state.requestId = id;
    deps.log.info({ dlqId: entry.dlqId, requestId: id, flow: entry.flow, step: entry.step, principal: principalOf(ctx) }, 'dlq.replayed');
    ctx.status = 202;
    ctx.body = replayBody(id);
  });

  router.delete('/:dlqId', async (ctx) => {
    const entry = await entryOf(ctx, ctx.params['dlqId'] ?? '');
    if (!(await deleteDlqEntry(deps, entry, deadline()))) {
      throw new HttpProblem(404, 'unknown-dlq-entry', 'Not Found', unknownDlqEntryMessage(entry.dlqId));
    }
    deps.log.info({ dlqId: entry.dlqId, requestId: entry.requestId, principal: principalOf(ctx) }, 'dlq.deleted');
    ctx.status = 204;
  });

  return router;
}

/** Who asked, for the log: the token's principal under oidc, null under auth none. */
function principalOf(ctx: IngressContext): string | null {
  return ctx.state.principal?.name ?? null;
}
