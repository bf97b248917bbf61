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
 * Several replicas sweep side by side. The DLQ entry is written first, with an id that comes from
 * the row as it stalled, so every sweeper writes the same entry; then the status If-Match the
 * row's ETag. A crash between the two is redone by the next sweep; a row that changed meanwhile
 * (the request was alive after all) fails the write, and the sweeper removes its entry again.
 */
import type { EngineConfig } from '../config/types.js';
import type { Logger } from '../observability/log.js';
import { deadLettersTotal } from '../observability/metrics.js';
import { makeDlqId, type DlqTable } from '../storage/dlq-table.js';
import type { StatusRow, StatusTable } from '../storage/status-table.js';
import { pause } from '../common/pause.js';
import type { Callbacks } from './callbacks.js';

export interface ExpirySweepOptions {
  config: EngineConfig;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  callbacks: Callbacks;
  intervalInMs: number;
  log: Logger;
}

/** Most rows one sweep looks at; the next sweep takes the rest. */
const ROWS_PER_SWEEP = 1000;
const MARGIN_IN_MS = 60_000;

export class ExpirySweep {
  readonly #o: ExpirySweepOptions;
  readonly #ttlByQueueInMs: ReadonlyMap<string, number>;
  readonly #marginInMs: number;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: ExpirySweepOptions) {
    this.#o = options;
    const queues = [...options.config.queues.values()];
    this.#ttlByQueueInMs = new Map(queues.filter((q) => q.timeToLiveInSeconds > 0).map((q) => [q.name, q.timeToLiveInSeconds * 1000]));
    this.#marginInMs = Math.max(0, ...queues.map((q) => q.visibilityTimeoutInSeconds * 1000)) + MARGIN_IN_MS;
  }

  start(): void {
    if (this.#loop || this.#ttlByQueueInMs.size === 0) return;
    this.#stop = new AbortController();
    this.#loop = this.#run(this.#stop.signal);
  }

  /** Stops sweeping; resolves when a sweep under way has ended. Idempotent. */
  async close(): Promise<void> {
    this.#stop?.abort();
    await this.#loop;
  }

  async #run(signal: AbortSignal): Promise<void> {
    // Replicas started together should not sweep in lockstep.
    await pause(Math.random() * this.#o.intervalInMs, signal);
    while (!signal.aborted) {
      try {
        await this.sweep(new Date(), signal);
      } catch (err) {
        if (signal.aborted) break;
        this.#o.log.warn({ err }, 'sweep.failed');
      }
      await pause(this.#o.intervalInMs, signal);
    }
  }

  /** One sweep; returns how many requests it recorded as expired. */
  async sweep(now: Date, signal: AbortSignal): Promise<number> {
    if (this.#ttlByQueueInMs.size === 0) return 0; // no queue lets messages expire
    const shortestTtl = Math.min(...this.#ttlByQueueInMs.values());
    const candidates = await this.#o.statusTable.listUnfinishedBefore(new Date(now.getTime() - shortestTtl - this.#marginInMs), ROWS_PER_SWEEP, signal);
    let expired = 0;
    for (const row of candidates) {
      const ttl = this.#ttlByQueueInMs.get(row.status.stepQueue);
      if (ttl === undefined || now.getTime() - row.status.updatedAt.getTime() <= ttl + this.#marginInMs) continue;
      if (await this.#expire(row, ttl, now, signal)) expired++;
    }
    if (expired > 0) this.#o.log.warn({ expired }, 'sweep.expired_requests');
    return expired;
  }

  async #expire({ status, etag }: StatusRow, ttlInMs: number, now: Date, signal: AbortSignal): Promise<boolean> {
    const flow = this.#o.config.flows.find((f) => f.name === status.flow);
    const step = flow?.steps[status.step];
    const dlqId = makeDlqId(status.flow, status.updatedAt, `expired-${status.id}`);
    const error = `the message of step ${status.step} expired in queue ${status.stepQueue} before it was processed (timeToLive ${ttlInMs / 3_600_000} h)`;
    await this.#o.dlqTable.upsert(
      {
        dlqId,
        requestId: status.id,
        flow: status.flow,
        step: status.step,
        sourceQueue: status.stepQueue,
        endpoint: step ? (step.endpoint.kind === 'platform' ? step.endpoint.name : step.endpoint.url) : '',
        attempts: status.attempt,
        lastHttpStatus: status.lastHttpStatus,
        error,
        reason: 'expired',
        deadLetteredAt: now,
        replay: { kind: 'none' },
      },
      signal,
    );
    const written = await this.#o.statusTable.update(status.id, { status: 'dead-lettered', lastError: error, dlqId, updatedAt: now, completedAt: now }, etag, signal);
    if (written === null) {
      // Another sweeper recorded it (the same entry), or the request moved on after all.
      const row = await this.#o.statusTable.get(status.id, signal);
      if (row?.status.dlqId !== dlqId) await this.#o.dlqTable.delete(dlqId, signal);
      return false;
    }
    deadLettersTotal.inc({ flow: status.flow, step: String(status.step), reason: 'expired' });
    this.#o.log.warn({ requestId: status.id, flow: status.flow, step: status.step, dlqId }, 'request.expired');
    if (status.callbackUrl) this.#o.callbacks.notify(status.id);
    return true;
  }
}
