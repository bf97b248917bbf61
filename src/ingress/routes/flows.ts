/**
 * The configured flows and the live state of their steps.
 */
import { endpointLabel, type Flows } from '../../engine/flows.js';
import { createRouter, type IngressRouter } from '../state.js';

export interface FlowRoutesDeps {
  flows: Flows;
}

export function createFlowRoutes(deps: FlowRoutesDeps): IngressRouter {
  const router = createRouter();
  router.get('/api/flows', async (ctx) => {
    const signal = AbortSignal.timeout(30_000);
    const items = await Promise.all(
      [...deps.flows.values()].map(async (flow) => ({
        name: flow.name,
        steps: await Promise.all(
          flow.steps.map(async (step) => ({
            step: step.index,
            sourceQueueName: step.source.queue.name,
            endpoint: endpointLabel(step.endpoint),
            targetQueueName: step.next?.source.queue.name ?? null,
            maxThreads: step.pool.size,
            callTimeout: step.callTimeoutInMs,
            approximateMessageCount: await step.source.queue.approximateMessageCount(signal),
            inFlight: step.pool.inFlight,
            pollDelay: step.polling.waitInMs,
          })),
        ),
      })),
    );
    ctx.body = { items };
  });
  return router;
}
