/**
 * Records a request whose message expired in its queue before any engine processed it (for
 * example, the engines were down for longer than the queue's timeToLive, or one crashed between
 * writing a new request's status and sending its message) as dead-lettered with reason `expired`:
 * nothing disappears without a trace. The sweep over the time index finds such requests
 * (index-sweep.ts); due-rules.ts says when a row is stale.
 *
 * One replica sweeps at a time, the elected sweeper (sweeper-election.ts), but two may overlap for
 * a moment when the lease changes hands, and a sweep can be run directly, so expiring stays safe
 * side by side. The DLQ entry is written first, with an id that comes from the row as it stalled,
 * so every sweeper writes the same entry; then the status If-Match the row's ETag. A crash between
 * the two is redone by the next sweep (the index row is removed only after both); a row that
 * changed meanwhile (the request was alive after all) fails the write, and the sweeper removes its
 * entry again.
 */
import type { Logger } from '../observability/log.js';
import { deadLettersTotal } from '../observability/metrics.js';
import type { Throughput } from '../observability/throughput.js';
import { makeDlqId, type DlqTable } from '../storage/dlq-table.js';
import type { RequestStatus, StatusRow, StatusTable } from '../storage/status-table.js';
import type { Callbacks } from './callbacks.js';
import type { Completions } from './completions.js';
import { endpointLabel, type Flows } from './flows.js';

/** How long the callback message of an expired request stays hidden: longer than its status write can take. */
const EXPIRED_CALLBACK_HIDDEN_FOR_IN_MS = 30_000;

export interface ExpiryDeps {
  flows: Flows;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  callbacks: Pick<Callbacks, 'send'>;
  completions: Completions;
  /** Counts the requests recorded as expired, for the dashboard. */
  throughput: Throughput;
  log: Logger;
}

/**
 * Records the stale request of `row` as expired at `now`. Returns its row as written, or null when
 * another writer changed the row first (another sweeper recorded it, or the request moved on).
 */
export async function expireRequest(deps: ExpiryDeps, { status, etag }: StatusRow, ttlInMs: number, now: Date, signal: AbortSignal): Promise<RequestStatus | null> {
  const step = deps.flows.get(status.flow)?.steps[status.step];
  const dlqId = makeDlqId(status.flow, status.updatedAt, `expired-${status.id}`);
  const error = `the message of step ${status.step} expired in queue ${status.stepQueue} before it was processed (timeToLive ${ttlInMs / 3_600_000} h)`;
  await deps.dlqTable.upsert(
    {
      dlqId,
      requestId: status.id,
      flow: status.flow,
      step: status.step,
      sourceQueue: status.stepQueue,
      endpoint: step ? endpointLabel(step.endpoint) : '',
      attempts: status.attempt,
      lastHttpStatus: status.lastHttpStatus,
      error,
      reason: 'expired',
      deadLetteredAt: now,
      replay: { kind: 'none' },
    },
    signal,
  );
  const change = { status: 'dead-lettered', lastError: error, dlqId, updatedAt: now, completedAt: now } as const;
  // The callback message before the status write, hidden until the write is long done: a sweeper
  // that dies in between leaves a message whose delivery finds no such outcome and drops it, where
  // sending it after the write could leave the callback pending with no message at all.
  if (status.callbackUrl) await deps.callbacks.send(status.id, now, signal, EXPIRED_CALLBACK_HIDDEN_FOR_IN_MS);
  const written = await deps.statusTable.update(status.id, change, etag, signal);
  if (written === null) {
    // Another sweeper recorded it (the same entry), or the request moved on after all.
    const row = await deps.statusTable.get(status.id, signal);
    if (row?.status.dlqId !== dlqId) await deps.dlqTable.delete(dlqId, signal);
    return null;
  }
  deadLettersTotal.inc({ flow: status.flow, step: String(status.step), reason: 'expired' });
  deps.throughput.countRequest(status.flow, 'deadLettered');
  deps.log.warn({ requestId: status.id, flow: status.flow, step: status.step, dlqId }, 'request.expired');
  deps.completions.notify(status.id);
  return { ...status, ...change };
}
