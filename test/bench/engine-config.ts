/** The engine's configuration for the bench: the same 3-step echo flow the floor runs. */
import type { EchoEndpoint } from './echo.js';
import { ENDPOINT_CONNECTIONS, IN_FLIGHT_PER_STEP, STEP_COUNT, VISIBILITY_TIMEOUT_IN_SECONDS } from './flow-shape.js';

export const ENGINE_FLOW = 'bench';
export const ENGINE_STATUS_TABLE = 'BenchStatus';
/** The status property the engine sets when a request completes. */
export const ENGINE_COMPLETED_PROPERTY = 'CompletedAt';

/** Flow f's name: the first is the flow the bench submits to, the others only poll (the idle scenario). */
function flowName(flow: number): string {
  return flow === 0 ? ENGINE_FLOW : `${ENGINE_FLOW}-${flow + 1}`;
}

/** Flow f's queues, in step order. */
function queueNames(flow: number): string[] {
  const prefix = flow === 0 ? 'engine' : `engine-${flow + 1}`;
  return Array.from({ length: STEP_COUNT }, (_, step) => `${prefix}-step-${step}`);
}

/** More submissions at once than the bench ever makes, so admission control never refuses one. */
const ADMISSION_POOL_SIZE = 256;
/** Enough endpoint connections for every step's slots; the engine's default is 20 per origin. */
const TOTAL_CONNECTIONS = Math.max(ENDPOINT_CONNECTIONS, 200);

export interface EngineDocumentOptions {
  connectionString: string;
  echo: EchoEndpoint;
  pollDelayInMs: number;
  /** The ingress port; 0 = any free port (for an in-process runtime, whose URL is known). */
  port: number;
  /** How many copies of the 3-step flow, each on its own queues. */
  flowCount: number;
}

export function engineDocument({ connectionString, echo, pollDelayInMs, port, flowCount }: EngineDocumentOptions): Record<string, unknown> {
  const flows = Array.from({ length: flowCount }, (_, flow) => ({ name: flowName(flow), queues: queueNames(flow) }));
  return {
    'azure.storage.config': { connectionString },
    // maxIdleDelay is left at the engine's default (5000 ms): the idle scenario measures the default.
    'queue.config': flows.flatMap((flow) => flow.queues).map((name) => ({
      name,
      maxMessages: IN_FLIGHT_PER_STEP,
      greedy: true,
      delay: pollDelayInMs,
      visibilityTimeout: VISIBILITY_TIMEOUT_IN_SECONDS,
    })),
    'flow.config': flows.map(({ name: flowName, queues }) => ({
      flowName,
      queueMappings: queues.map((name, step) => ({
        initial: step === 0,
        sourceQueueName: name,
        endpointUrl: echo.url(step),
        ...(step + 1 < STEP_COUNT ? { targetQueueName: queues[step + 1] } : {}),
        maxThreads: IN_FLIGHT_PER_STEP,
      })),
    })),
    'table.config': { statusTable: ENGINE_STATUS_TABLE, dlqTable: 'BenchDlq' },
    'http.connection.config': { routeConnections: ENDPOINT_CONNECTIONS, totalConnections: TOTAL_CONNECTIONS },
    'threadpool.config': { maxPoolSize: ADMISSION_POOL_SIZE, maxQueueSize: -1 },
    'server.config': { auth: 'none', host: '127.0.0.1', port },
  };
}
