/**
 * The configured flows and the live state of their steps.
 */
import { Router } from '@koa/router';
import type { FlowDefinition, QueueOptions } from '../../config/types.js';
import type { StepQueue } from '../../storage/queues.js';

export interface FlowRoutesDeps {
  flows: ReadonlyMap<string, FlowDefinition>;
  queues: ReadonlyMap<string, { queue: StepQueue; options: QueueOptions }>;
  /** Step messages being worked on by this engine. */
  inFlight: (flow: string, step: number) => number;
}

export function createFlowRoutes(deps: FlowRoutesDeps): Router {
  const router = new Router();
  router.get('/api/flows', async (ctx) => {
    const signal = AbortSignal.timeout(30_000);
    const items = await Promise.all(
      [...deps.flows.values()].map(async (flow) => ({
        name: flow.name,
        steps: await Promise.all(
          flow.steps.map(async (step) => ({
            step: step.index,
            sourceQueueName: step.sourceQueueName,
            endpoint: step.endpoint.kind === 'platform' ? step.endpoint.name : step.endpoint.url,
            targetQueueName: step.targetQueueName,
            maxThreads: step.maxThreads,
            approximateMessageCount: await deps.queues.get(step.sourceQueueName)!.queue.approximateMessageCount(signal),
            inFlight: deps.inFlight(flow.name, step.index),
          })),
        ),
      })),
    );
    ctx.body = { items };
  });
  return router;
}
