/**
 * Pure: when a request (or a DLQ replay job) next needs a look, and what its row calls for once it
 * is due. The ingress, the sweep and the index pass share these rules, so an index row written
 * anywhere means the same.
 *
 * - An unfinished request is stale once it has not changed for longer than its queue's timeToLive
 *   plus a margin (the longest visibility timeout and a minute): its message was sent after the
 *   row's last write, at the latest once the previous step's message reappeared after a crash. A
 *   stale request is expired (engine/expiry.ts). Until then it is looked at again when it would
 *   be stale, or when it could first be deletable had it just finished (now + the shortest
 *   retention, but no sooner than it has been running, up to ten retentions: a long request is not
 *   looked at every few seconds under a short retention, nor deleted much later than it could be),
 *   or after {@link RELOOK_IN_MS}, whichever comes first.
 * - A final request is deletable its retention (retention.config) after it finished; `null` keeps
 *   it for ever, and its index row goes. One whose callback is still pending (a callback URL and a
 *   status neither `delivered` nor `failed`) is looked at again later: a minute at first, then half
 *   the time it has been overdue, at most a day, so that a callback that never settles costs little.
 * - An idempotency record is deletable `idempotencyMs` after its claim.
 * - A replay job is deletable `completedMs` after its last write, once it is done or has not
 *   written for {@link JOB_STALE_IN_MS} (its engine died: a running job writes every second).
 *
 * Every check-at is at least {@link MIN_WAIT_IN_MS} ahead, so a sweep never meets a row it just
 * wrote.
 */
import type { RetentionOptions } from '../config/types.js';
import type { ReplayJob } from '../storage/replay-jobs.js';
import { FINAL_STATES, type RequestStatus } from '../storage/status-table.js';
import { allSteps, type Flows } from './flows.js';

/** The longest a row goes without a look: a queue whose messages never expire, nothing else due. */
export const RELOOK_IN_MS = 24 * 3_600_000;
/** The shortest time from now to a check-at. */
export const MIN_WAIT_IN_MS = 1000;
/** How long a replay job may go without writing before it counts as stopped. */
export const JOB_STALE_IN_MS = 10 * 60_000;
const EXPIRY_MARGIN_IN_MS = 60_000;
/** An unfinished request is looked at no sooner than it has been running, up to this many retentions. */
const RUNNING_RELOOKS_PER_RETENTION = 10;
const FIRST_CALLBACK_RECHECK_IN_MS = 60_000;

/** What a due status row calls for. */
export type StatusPlan =
  /** Unfinished and stale: record it as expired. */
  | { kind: 'expire'; ttlInMs: number }
  /** Nothing to do before `until`. */
  | { kind: 'wait'; until: Date }
  /** Past its retention: delete it (a completed request's blobs first). */
  | { kind: 'delete' }
  /** Kept for ever (retention null): the index lets go of it. */
  | { kind: 'keep' };

export type JobPlan = { kind: 'wait'; until: Date } | { kind: 'delete' } | { kind: 'keep' };

export interface DueRulesOptions {
  flows: Flows;
  retention: RetentionOptions;
}

export class DueRules {
  readonly retention: RetentionOptions;
  /** The longest visibility timeout plus a minute. */
  readonly marginInMs: number;
  readonly #ttlByQueueInMs: ReadonlyMap<string, number>;
  /** The shortest retention of a finished request; null when both keep for ever. */
  readonly #shortestRetentionInMs: number | null;

  constructor({ flows, retention }: DueRulesOptions) {
    this.retention = retention;
    const queues = allSteps(flows).map((step) => step.source.options);
    this.#ttlByQueueInMs = new Map(queues.flatMap((q) => (q.timeToLiveInMs === null ? [] : [[q.name, q.timeToLiveInMs] as const])));
    this.marginInMs = Math.max(0, ...queues.map((q) => q.visibilityTimeoutInMs)) + EXPIRY_MARGIN_IN_MS;
    const retentions = [retention.completedInMs, retention.deadLetteredInMs].filter((ms): ms is number => ms !== null);
    this.#shortestRetentionInMs = retentions.length > 0 ? Math.min(...retentions) : null;
  }

  /** The timeToLive of `queue`'s messages; null when they never expire, or the queue is not configured. */
  ttlOf(queue: string): number | null {
    return this.#ttlByQueueInMs.get(queue) ?? null;
  }

  /** The first check-at of a request created (or recreated by a replay) at `createdAt` on `queue`. */
  initialCheckAt(queue: string, createdAt: Date, hasIdempotencyKey: boolean): Date {
    const at = createdAt.getTime();
    const ttl = this.ttlOf(queue);
    const idempotency = hasIdempotencyKey ? this.retention.idempotencyInMs : null;
    return atLeastWaitFrom(createdAt, earliest([ttl === null ? null : at + ttl + this.marginInMs, plus(at, this.#shortestRetentionInMs), plus(at, idempotency), at + RELOOK_IN_MS]));
  }

  /** What the row calls for at `now`. */
  statusPlan(status: RequestStatus, now: Date): StatusPlan {
    const t = now.getTime();
    if (!FINAL_STATES.has(status.status)) {
      const ttl = this.ttlOf(status.stepQueue);
      const staleAfter = ttl === null ? null : status.updatedAt.getTime() + ttl + this.marginInMs;
      if (ttl !== null && staleAfter !== null && t > staleAfter) return { kind: 'expire', ttlInMs: ttl };
      const running = Math.max(0, t - status.createdAt.getTime());
      const shortest = this.#shortestRetentionInMs;
      const deletable = shortest === null ? null : t + Math.max(shortest, Math.min(running, RUNNING_RELOOKS_PER_RETENTION * shortest));
      return { kind: 'wait', until: atLeastWaitFrom(now, earliest([plus(staleAfter, 1), deletable, t + RELOOK_IN_MS])) };
    }
    const retention = status.status === 'completed' ? this.retention.completedInMs : this.retention.deadLetteredInMs;
    if (retention === null) return { kind: 'keep' };
    const dueAt = (status.completedAt ?? status.updatedAt).getTime() + retention;
    if (dueAt > t) return { kind: 'wait', until: atLeastWaitFrom(now, dueAt) };
    if (isCallbackPending(status)) {
      const overdue = t - dueAt;
      return { kind: 'wait', until: new Date(t + Math.min(Math.max(overdue / 2, FIRST_CALLBACK_RECHECK_IN_MS), RELOOK_IN_MS)) };
    }
    return { kind: 'delete' };
  }

  /** When an idempotency record claimed at `claimedAt` may go; null = never. */
  idempotencyDueAt(claimedAt: Date): Date | null {
    const retention = this.retention.idempotencyInMs;
    return retention === null ? null : new Date(claimedAt.getTime() + retention);
  }

  /** The first check-at of a replay job started at `startedAt`. */
  jobInitialCheckAt(startedAt: Date): Date {
    return atLeastWaitFrom(startedAt, earliest([startedAt.getTime() + JOB_STALE_IN_MS, plus(startedAt.getTime(), this.retention.completedInMs)]));
  }

  jobPlan(job: ReplayJob, now: Date): JobPlan {
    const retention = this.retention.completedInMs;
    if (retention === null) return { kind: 'keep' };
    const t = now.getTime();
    const lastWrite = job.updatedAt.getTime();
    if (!job.done && t - lastWrite <= JOB_STALE_IN_MS) return { kind: 'wait', until: atLeastWaitFrom(now, earliest([lastWrite + JOB_STALE_IN_MS + 1, t + retention])) };
    const dueAt = lastWrite + retention;
    return dueAt > t ? { kind: 'wait', until: atLeastWaitFrom(now, dueAt) } : { kind: 'delete' };
  }
}

/** A callback URL whose outcome is not recorded yet: the callbacks may still need the row. */
export function isCallbackPending(status: RequestStatus): boolean {
  return status.callbackUrl !== null && status.callbackStatus !== 'delivered' && status.callbackStatus !== 'failed';
}

const plus = (at: number | null, ms: number | null): number | null => (at === null || ms === null ? null : at + ms);

function earliest(times: ReadonlyArray<number | null>): number {
  return Math.min(...times.filter((t): t is number => t !== null));
}

function atLeastWaitFrom(now: Date, at: number): Date {
  return new Date(Math.max(at, now.getTime() + MIN_WAIT_IN_MS));
}
