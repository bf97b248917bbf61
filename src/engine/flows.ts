/**
 * The configured flows resolved once, at start: each step holds its source queue with its options,
 * its endpoint, the step after it and its worker pool, so that nothing later looks a queue up by
 * name. The engine runs the steps; the ingress submits to a flow's first step and reports on them.
 */
import { redactUrl } from '../common/redact-url.js';
import type { Endpoint, FlowDefinition, QueueOptions } from '../config/types.js';
import { EngineError } from '../errors.js';
import type { StepQueue } from '../storage/queues.js';
import { PollState } from './poll-state.js';
import { RateGate } from './rate-gate.js';
import { WorkerPool } from './worker-pool.js';

/** A queue with the options it was configured with. */
export interface BoundQueue {
  readonly queue: StepQueue;
  readonly options: QueueOptions;
}

export interface Step {
  readonly flowName: string;
  /** 0-based position in the chain from the initial step. */
  readonly index: number;
  readonly source: BoundQueue;
  readonly endpoint: Endpoint;
  /** The whole endpoint call's limit; 0 = none. */
  readonly callTimeoutInMs: number;
  /** The step this one forwards to; null on the last step. */
  readonly next: Step | null;
  /** maxThreads slots for this step's messages. */
  readonly pool: WorkerPool;
  /** The poll loop's idle wait, and the bell that cuts it short when work is coming. */
  readonly polling: PollState;
  /** When the next endpoint call may start: maxRatePerSecond, and the endpoint's own Retry-After. */
  readonly gate: RateGate;
}

export interface Flow {
  readonly name: string;
  /** In chain order: steps[0] is the initial step. */
  readonly steps: readonly Step[];
  /** Submissions are refused while the initial queue holds this many messages; null = no limit. */
  readonly maxBacklog: number | null;
}

/** Flows by name. */
export type Flows = ReadonlyMap<string, Flow>;

/**
 * Resolves every flow step against the configured queues. `queueOf` gives the queue of a name; a
 * step naming a queue that is not configured is a bug in validation and throws.
 */
export function createFlows(definitions: readonly FlowDefinition[], queues: ReadonlyMap<string, QueueOptions>, queueOf: (name: string) => StepQueue): Flows {
  const bind = (name: string): BoundQueue => {
    const options = queues.get(name);
    if (!options) throw new EngineError('AE_INVALID_OPTION', `queue "${name}" is used by a flow but not configured in queue.config`);
    return { queue: queueOf(name), options };
  };
  return new Map(
    definitions.map((definition) => {
      // Built from the last step back, so that each step can hold the one after it.
      const steps: Step[] = [];
      let next: Step | null = null;
      for (const step of [...definition.steps].reverse()) {
        next = {
          flowName: definition.name,
          index: step.index,
          source: bind(step.sourceQueueName),
          endpoint: step.endpoint,
          callTimeoutInMs: step.callTimeoutInMs,
          next,
          pool: new WorkerPool({ size: step.maxThreads }),
          polling: new PollState(),
          gate: new RateGate({ maxRatePerSecond: step.maxRatePerSecond, now: () => performance.now() }),
        };
        steps.unshift(next);
      }
      return [definition.name, { name: definition.name, steps, maxBacklog: definition.maxBacklog }];
    }),
  );
}

/** Every step of every flow. */
export function allSteps(flows: Flows): Step[] {
  return [...flows.values()].flatMap((flow) => flow.steps);
}

/**
 * What GET /api/flows and a DLQ entry name as the endpoint: the endpointName, else the URL with
 * any credentials in it redacted (`https://***@host/path`).
 */
export function endpointLabel(endpoint: Endpoint): string {
  switch (endpoint.kind) {
    case 'platform':
      return endpoint.name;
    case 'url':
      return redactUrl(endpoint.url);
    case 'demo':
      return endpoint.path;
    default:
      throw new Error(`unhandled endpoint kind ${(endpoint satisfies never as { kind: string }).kind}`);
  }
}

/**
 * Where a step's endpoint is called: its URL, or a demo path on `demoBaseUrl` (the engine's own
 * ingress); null for a demo path while this process serves no demo endpoints.
 */
export function endpointUrlOf(endpoint: Endpoint, demoBaseUrl: string | null): string | null {
  if (endpoint.kind !== 'demo') return endpoint.url;
  return demoBaseUrl === null ? null : new URL(endpoint.path, demoBaseUrl).href;
}
