/**
 * The dead-letter table's operations: list, inspect, replay (one or a whole flow) and delete.
 */
import { Router } from '@koa/router';
import { type ReplayDeps, replayEntry } from '../../engine/replay.js';
import type { Logger } from '../../observability/log.js';
import { toDlqJson, type DlqTable, type StoredDlqEntry } from '../../storage/dlq-table.js';
import type { PayloadStore } from '../../storage/payloads.js';
import { EngineError } from '../../errors.js';
import { HttpProblem } from '../problem.js';
import { cursorOf, flowOf, limitOf, MAX_LIMIT } from '../query.js';
import type { IngressContext, IngressRouter, IngressState } from '../state.js';

export interface DlqRoutesDeps extends ReplayDeps {
  dlqTable: DlqTable;
  payloads: PayloadStore;
  /** Aborts at the shutdown deadline: a replay of a whole flow stops there. */
  closing: AbortSignal;
  log: Logger;
}

/** Names the claimant of a replay through the API. */
const API_CLAIMANT = 'api';

const TIMEOUT_IN_MS = 30_000;

export function createDlqRoutes(deps: DlqRoutesDeps): IngressRouter {
  const router = new Router<IngressState>({ prefix: '/api/dlq' });
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
    let replayed = 0;
    let cursor: string | null = null;
    do {
      const page = await deps.dlqTable.list(flow, MAX_LIMIT, cursor, deadline());
      for (const entry of page.items) {
        if (deps.closing.aborted) throw new EngineError('AE_SHUTDOWN', `the engine stopped after replaying ${replayed} entries`, { expose: true });
        try {
          // An entry another replay claimed is left to it.
          const outcome = await replayEntry(deps, entry, API_CLAIMANT, deadline());
          if (outcome.kind === 'replayed') replayed++;
        } catch (err) {
          deps.log.warn({ err, dlqId: entry.dlqId }, 'dlq.replay_skipped');
        }
      }
      cursor = page.nextCursor;
    } while (cursor !== null);
    deps.log.info({ flow, replayed }, 'dlq.replayed_flow');
    ctx.status = 202;
    ctx.body = { replayed };
  });

  router.get('/:dlqId', async (ctx) => {
    ctx.body = toDlqJson(await entryOf(ctx, ctx.params['dlqId'] ?? ''));
  });

  router.post('/:dlqId/replay', async (ctx) => {
    const entry = await entryOf(ctx, ctx.params['dlqId'] ?? '');
    const outcome = await replayEntry(deps, entry, API_CLAIMANT, deadline());
    if (outcome.kind === 'claimed-elsewhere') {
      const lapse = outcome.until ? `; should that replay have stopped, the entry can be replayed again after ${outcome.until.toISOString()}` : '';
      throw new HttpProblem(409, 'replay-in-progress', 'Conflict', `DLQ entry "${entry.dlqId}" is being replayed by another request: it leaves the DLQ when that replay is done${lapse}`);
    }
    const id = outcome.requestId;
    if (id !== null) ctx.state.requestId = id;
    deps.log.info({ dlqId: entry.dlqId, requestId: id, flow: entry.flow, step: entry.step }, 'dlq.replayed');
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
    deps.log.info({ dlqId: entry.dlqId, requestId: entry.requestId }, 'dlq.deleted');
    ctx.status = 204;
  });

  return router;
}
