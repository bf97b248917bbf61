/**
 * Every metric of the engine, on one prom-client registry (exported at /actuator/prometheus).
 * Labels are bounded: flow, step, status, reason; never a request id.
 */
import { Counter, Registry } from 'prom-client';

export const registry = new Registry();

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
