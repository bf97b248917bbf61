/**
 * A flow's throughput over the last 15 minutes, from the counts this process keeps in memory
 * (observability/throughput.ts): no storage call. Under `/api/flows`, so that the RBAC mappings
 * of the flows cover it.
 */
import type { Flows } from '../../engine/flows.js';
import { THROUGHPUT_BUCKET_IN_MS, type Throughput } from '../../observability/throughput.js';
import { HttpProblem } from '../problem.js';
import { createRouter, type IngressRouter } from '../state.js';

export interface ThroughputRoutesDeps {
  flows: Flows;
  throughput: Throughput;
  /** The process's `--role`: the counts are its own, and an ingress runs no steps. */
  role: string;
}

export function createThroughputRoutes(deps: ThroughputRoutesDeps): IngressRouter {
  const router = createRouter();
  router.get('/api/flows/:flowName/throughput', (ctx) => {
    const flowName = ctx.params['flowName'] ?? '';
    const series = deps.flows.has(flowName) ? deps.throughput.series(flowName) : null;
    if (series === null) throw new HttpProblem(404, 'unknown-flow', 'Not Found', `there is no flow named "${flowName}"`);
    ctx.set('cache-control', 'no-store');
    ctx.body = {
      flow: flowName,
      role: deps.role,
      bucketSeconds: THROUGHPUT_BUCKET_IN_MS / 1000,
      buckets: series.buckets.map((b) => ({ start: b.start.toISOString(), completed: b.completed, deadLettered: b.deadLettered })),
      lastMinute: series.lastMinute,
      steps: series.steps,
    };
  });
  return router;
}
