/**
 * The configured flows and the state of their steps: `GET /api/flows` and `async-engine flows`.
 */
import { endpointLabel, type Flows } from '../engine/flows.js';

export interface FlowStepJson {
  step: number;
  sourceQueueName: string;
  endpoint: string;
  targetQueueName: string | null;
  maxThreads: number;
  /** The step's effective callTimeout in ms (0 = none). */
  callTimeout: number;
  /** Azure's estimate of the source queue's messages, hidden ones included. */
  approximateMessageCount: number;
  /** This process's steps at work: 0 where no poller runs (an ingress, the command line). */
  inFlight: number;
  /** The ms this process's poller waits before its next receive: 0 where none runs. */
  pollDelay: number;
}

export interface FlowJson {
  name: string;
  steps: FlowStepJson[];
}

/** `GET /api/flows`'s body: every flow with its steps, one queue call a step. */
export async function listFlows(flows: Flows, abortSignal: AbortSignal): Promise<{ items: FlowJson[] }> {
  const items = await Promise.all(
    [...flows.values()].map(async (flow) => ({
      name: flow.name,
      steps: await Promise.all(
        flow.steps.map(async (step) => ({
          step: step.index,
          sourceQueueName: step.source.queue.name,
          endpoint: endpointLabel(step.endpoint),
          targetQueueName: step.next?.source.queue.name ?? null,
          maxThreads: step.pool.size,
          callTimeout: step.callTimeoutInMs,
          approximateMessageCount: await step.source.queue.approximateMessageCount(abortSignal),
          inFlight: step.pool.inFlight,
          pollDelay: step.polling.waitInMs,
        })),
      ),
    })),
  );
  return { items };
}
