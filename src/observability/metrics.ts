/**
 * Every metric of the engine, on one prom-client registry (exported at /actuator/prometheus).
 * Labels are bounded: flow, step, status, reason, outcome, kind; never a request id.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { VERSION } from '../version.js';

export const registry = new Registry();
// prom-client's own names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds, ...), unprefixed,
// as the stock Node.js dashboards query them.
collectDefaultMetrics({ register: registry });

/** Always 1; its label says which version runs (`count by (version)` shows a rollout). */
export const buildInfo = new Gauge({
  name: 'async_engine_build_info',
  help: 'The running engine\'s version, as a label; the value is always 1.',
  labelNames: ['version'] as const,
  registers: [registry],
});
buildInfo.set({ version: VERSION }, 1);

/** Seconds: from a 5 ms endpoint to a 10 minute one. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export const submittedTotal = new Counter({
  name: 'async_engine_requests_submitted_total',
  help: 'Requests accepted by the ingress, by flow.',
  labelNames: ['flow'] as const,
  registers: [registry],
});

export const completedTotal = new Counter({
  name: 'async_engine_requests_completed_total',
  help: 'Requests whose last step answered 2xx, by flow.',
  labelNames: ['flow'] as const,
  registers: [registry],
});

export const stepsTotal = new Counter({
  name: 'async_engine_steps_total',
  help: 'Step messages settled, by flow, step and outcome (forwarded, completed, retry_scheduled, dead_lettered, stale).',
  labelNames: ['flow', 'step', 'outcome'] as const,
  registers: [registry],
});

export const retriesTotal = new Counter({
  name: 'async_engine_retries_total',
  help: 'Redeliveries scheduled after a failed attempt, by flow, step and HTTP status (0 for transport errors and time-outs).',
  labelNames: ['flow', 'step', 'status'] as const,
  registers: [registry],
});

export const deadLettersTotal = new Counter({
  name: 'async_engine_dead_letters_total',
  help: 'Messages written to the DLQ table, by flow, step and reason (exhausted, poison, expired).',
  labelNames: ['flow', 'step', 'reason'] as const,
  registers: [registry],
});

export const callbacksTotal = new Counter({
  name: 'async_engine_callbacks_total',
  help: 'Callback queue messages finished, by outcome (delivered, failed: retries used up, refused: the URL may not be called, dropped: unreadable, stale or a duplicate).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const endpointDuration = new Histogram({
  name: 'async_engine_endpoint_duration_seconds',
  help: 'Endpoint calls, from sending to the whole answer read, by flow, step and status class (2xx, 4xx, 5xx, error).',
  labelNames: ['flow', 'step', 'status_class'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const requestDuration = new Histogram({
  name: 'async_engine_request_duration_seconds',
  help: 'Completed requests, from acceptance to the last step done, by flow.',
  labelNames: ['flow'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const storageOperationsTotal = new Counter({
  name: 'async_engine_storage_operations_total',
  help: 'Azure Storage calls by kind (queue.send, queue.receive, table.update, blob.write, ...): what the storage bill counts.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const storageErrorsTotal = new Counter({
  name: 'async_engine_storage_errors_total',
  help: 'Azure Storage calls that failed after the SDK\'s own retries, by kind and status class: error (no answer), 5xx, or 4xx for refusals (401, 403, 429); never the 404, 409 and 412 answers the engine expects.',
  labelNames: ['kind', 'status_class'] as const,
  registers: [registry],
});

export const retentionDeletedTotal = new Counter({
  name: 'async_engine_retention_deleted_total',
  help: 'What the retention sweep deleted (retention.config), by kind: completed and dead-lettered requests (their status rows), idempotency records, replay jobs.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const inFlightSteps = new Gauge({
  name: 'async_engine_steps_in_flight',
  help: 'Step messages being worked on, by flow and step.',
  labelNames: ['flow', 'step'] as const,
  registers: [registry],
});

export const queueDepth = new Gauge({
  name: 'async_engine_queue_depth',
  help: 'Approximate messages in each step\'s source queue (read when scraped), by flow and step.',
  labelNames: ['flow', 'step'] as const,
  registers: [registry],
});

export const sweeperGauge = new Gauge({
  name: 'async_engine_sweeper',
  help: '1 while this replica holds the sweepers\' lease and runs the sweeps (one replica of those sharing a payload container), else 0.',
  registers: [registry],
});

/** The status class label of an HTTP status, or `error` for transport errors and time-outs. */
export function statusClass(status: number | null): string {
  return status === null ? 'error' : `${Math.floor(status / 100)}xx`;
}
