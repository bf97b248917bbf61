/**
 * Finds requests whose message expired in its queue before any engine processed it (for example,
 * the engines were down for longer than the queue's timeToLive, or one crashed between writing a
 * new request's status and sending its message) and records them as dead-lettered with reason
 * `expired`: nothing disappears without a trace.
 *
 * A row is expired when it has not changed for longer than its queue's timeToLive plus a margin:
 * its message was sent after the row's last write (status first, then the message), at the latest
 * once the previous step's message reappeared after a crash, so the margin is the longest
 * visibility timeout plus a minute.
 *
 * One replica sweeps at a time, the elected sweeper (sweeper-election.ts), but two may overlap for
 * a moment when the lease changes hands, and a sweep can be run directly, so sweeps stay safe side
 * by side. The DLQ entry is written first, with an id that comes from the row as it stalled, so
 * every sweeper writes the same entry; then the status If-Match the row's ETag. A crash between
 * the two is redone by the next sweep; a row that changed meanwhile (the request was alive after
 * all) fails the write, and the sweeper removes its entry again.
 */
import { pause } from '../common/pause.js';
import type { Logger } from '../observability/log.js';
import { deadLettersTotal } from '../observability/metrics.js';
import type { Throughput } from '../observability/throughput.js';
import { makeDlqId, type DlqTable } from '../storage/dlq-table.js';
import type { StatusRow, StatusTable } from '../storage/status-table.js';
import type { Callbacks } from './callbacks.js';
import type { Completions } from './completions.js';
import { allSteps, endpointLabel, type Flows } from './flows.js';

export interface ExpirySweepOptions {
  flows: Flows;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  callbacks: Callbacks;
  completions: Completions;
  intervalInMs: number;
  /** Counts the requests this sweep records as expired, for the dashboard. */
  throughput: Throughput;
  log: Logger;
}

/** Most rows one sweep looks at; the next sweep takes the rest. */
const ROWS_PER_SWEEP = 1000;
const MARGIN_IN_MS = 60_000;

export class ExpirySweep {
  readonly #flows: Flows;
  readonly #statusTable: StatusTable;
  readonly #dlqTable: DlqTable;
  readonly #callbacks: Callbacks;
  readonly #completions: Completions;
  readonly #intervalInMs: number;
  readonly #throughput: Throughput;
  readonly #log: Logger;
  readonly #ttlByQueueInMs: ReadonlyMap<string, number>;
  readonly #marginInMs: number;

  constructor({ flows, statusTable, dlqTable, callbacks, completions, intervalInMs, throughput, log }: ExpirySweepOptions) {
    this.#flows = flows;
    this.#statusTable = statusTable;
    this.#dlqTable = dlqTable;
    this.#callbacks = callbacks;
    this.#completions = completions;
    this.#intervalInMs = intervalInMs;
    this.#throughput = throughput;
    this.#log = log;
    const queues = allSteps(flows).map((step) => step.source.options);
    this.#ttlByQueueInMs = new Map(queues.flatMap((q) => (q.timeToLiveInMs === null ? [] : [[q.name, q.timeToLiveInMs] as const])));
    this.#marginInMs = Math.max(0, ...queues.map((q) => q.visibilityTimeoutInMs)) + MARGIN_IN_MS;
  }

  /** False when no queue lets its messages expire: there is nothing to sweep for. */
  get hasWork(): boolean {
    return this.#ttlByQueueInMs.size > 0;
  }

  /**
   * Sweeps every intervalInMs while `term` lasts (this replica is the sweeper), the first time one
   * interval after it began: a sweeper that takes over from another does not add a sweep. Once
   * `term` ends, the row under way finishes and no other starts; `signal` aborts the storage calls.
   */
  async run(term: AbortSignal, signal: AbortSignal): Promise<void> {
    for (;;) {
      await pause(this.#intervalInMs, term);
      if (term.aborted) return;
      try {
        await this.sweep(new Date(), signal, term);
      } catch (err) {
        if (signal.aborted) return;
        this.#log.warn({ err }, 'sweep.failed');
      }
    }
  }

  /**
   * One sweep; returns how many requests it recorded as expired. Once `until` aborts it starts no
   * other row (the one under way finishes); `signal` aborts its storage calls.
   */
  async sweep(now: Date, signal: AbortSignal, until: AbortSignal = signal): Promise<number> {
    if (!this.hasWork) return 0;
    const shortestTtl = Math.min(...this.#ttlByQueueInMs.values());
    const candidates = await this.#statusTable.listUnfinishedBefore(new Date(now.getTime() - shortestTtl - this.#marginInMs), ROWS_PER_SWEEP, signal);
    let expired = 0;
    for (const row of candidates) {
      if (until.aborted) break;
      const ttl = this.#ttlByQueueInMs.get(row.status.stepQueue);
      if (ttl === undefined || now.getTime() - row.status.updatedAt.getTime() <= ttl + this.#marginInMs) continue;
      if (await this.#expire(row, ttl, now, signal)) expired++;
    }
    if (expired > 0) this.#log.warn({ expired }, 'sweep.expired_requests');
    return expired;
  }

  async #expire({ status, etag }: StatusRow, ttlInMs: number, now: Date, signal: AbortSignal): Promise<boolean> {
    const step = this.#flows.get(status.flow)?.steps[status.step];
    const dlqId = makeDlqId(status.flow, status.updatedAt, `expired-${status.id}`);
    const error = `the message of step ${status.step} expired in queue ${status.stepQueue} before it was processed (timeToLive ${ttlInMs / 3_600_000} h)`;
    await this.#dlqTable.upsert(
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
    const written = await this.#statusTable.update(status.id, { status: 'dead-lettered', lastError: error, dlqId, updatedAt: now, completedAt: now }, etag, signal);
    if (written === null) {
      // Another sweeper recorded it (the same entry), or the request moved on after all.
      const row = await this.#statusTable.get(status.id, signal);
      if (row?.status.dlqId !== dlqId) await this.#dlqTable.delete(dlqId, signal);
      return false;
    }
    deadLettersTotal.inc({ flow: status.flow, step: String(status.step), reason: 'expired' });
    this.#throughput.countRequest(status.flow, 'deadLettered');
    this.#log.warn({ requestId: status.id, flow: status.flow, step: status.step, dlqId }, 'request.expired');
    if (status.callbackUrl) await this.#callbacks.send(status.id, now, signal);
    this.#completions.notify(status.id);
    return true;
  }
}
