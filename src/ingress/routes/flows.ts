/**
 * The configured flows and the live state of their steps (operations/flows.ts).
 */
import type { Flows } from '../../engine/flows.js';
import { listFlows } from '../../operations/flows.js';
import { createRouter, type IngressRouter } from '../state.js';

export interface FlowRoutesDeps {
  flows: Flows;
}

export function createFlowRoutes(deps: FlowRoutesDeps): IngressRouter {
  const router = createRouter();
  router.get('/api/flows', async (ctx) => {
    ctx.body = await listFlows(deps.flows, AbortSignal.timeout(30_000));
  });
  return router;
}
