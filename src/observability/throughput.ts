/**
 * What the dashboard's throughput chart shows: per flow, the requests this process completed and
 * dead-lettered, and per step the messages it finished and the attempts that failed, counted in
 * 10-second buckets over the last 15 minutes. Kept in memory, in a fixed ring of buckets per flow
 * and step, so a page view costs no storage call and memory does not grow with traffic. Each
 * process counts only its own work: an ingress (`--role ingress`) runs no steps and counts nothing.
 */
/** The width of one bucket. */
export const THROUGHPUT_BUCKET_IN_MS = 10_000;
/** How far back the series reaches: 90 buckets. */
export const THROUGHPUT_WINDOW_IN_MS = 15 * 60_000;
/** The "per minute" figures: the current bucket and the five before it. */
const MINUTE_BUCKETS = 6;

/** What became of a message of a step: finished (forwarded or the request completed), or a failed attempt (a retry or a dead letter). */
export type StepCount = 'completed' | 'failed';
/** What became of a request: completed, or dead-lettered (by its step, or by the expiry sweep). */
export type RequestCount = 'completed' | 'deadLettered';

export interface ThroughputBucket {
  /** The bucket's start. */
  start: Date;
  completed: number;
  deadLettered: number;
}

export interface ThroughputSeries {
  /** Oldest first; the last one is the bucket under way. Buckets without work count 0. */
  buckets: ThroughputBucket[];
  /** Requests in the last minute (the current bucket and the five before it). */
  lastMinute: { completed: number; deadLettered: number };
  /** Per step, in chain order, over the same minute. */
  steps: Array<{ step: number; completed: number; failed: number }>;
}

export interface ThroughputOptions {
  /** The configured flows (config.flows): counts of other names are dropped. */
  flows: ReadonlyArray<{ name: string; steps: readonly unknown[] }>;
  /** Milliseconds since the epoch; Date.now by default (tests move it). */
  now?: () => number;
}

/** Counters of two kinds in a ring of buckets; a slot found holding an older bucket starts again from 0. */
class CountRing<K extends string> {
  readonly #kinds: readonly K[];
  readonly #slots: Array<{ bucket: number; counts: number[] }>;

  constructor(kinds: readonly K[], size: number) {
    this.#kinds = kinds;
    this.#slots = Array.from({ length: size }, () => ({ bucket: -1, counts: kinds.map(() => 0) }));
  }

  add(bucket: number, kind: K): void {
    const slot = this.#slotOf(bucket);
    if (slot.bucket !== bucket) {
      slot.bucket = bucket;
      slot.counts.fill(0);
    }
    const index = this.#kinds.indexOf(kind);
    slot.counts[index] = (slot.counts[index] ?? 0) + 1;
  }

  /** The counts of `kind` in `bucket`; 0 for a bucket the ring no longer (or never) held. */
  count(bucket: number, kind: K): number {
    const slot = this.#slotOf(bucket);
    return slot.bucket === bucket ? (slot.counts[this.#kinds.indexOf(kind)] ?? 0) : 0;
  }

  #slotOf(bucket: number): { bucket: number; counts: number[] } {
    const slots = this.#slots;
    const slot = slots[((bucket % slots.length) + slots.length) % slots.length];
    if (!slot) throw new RangeError(`no slot for bucket ${bucket}`);
    return slot;
  }
}

interface FlowRings {
  requests: CountRing<RequestCount>;
  steps: Array<CountRing<StepCount>>;
}

const BUCKETS = THROUGHPUT_WINDOW_IN_MS / THROUGHPUT_BUCKET_IN_MS;

export class Throughput {
  readonly #flows: ReadonlyMap<string, FlowRings>;
  readonly #now: () => number;

  constructor({ flows, now = Date.now }: ThroughputOptions) {
    this.#now = now;
    this.#flows = new Map(
      flows.map((flow) => [
        flow.name,
        { requests: new CountRing<RequestCount>(['completed', 'deadLettered'], BUCKETS), steps: flow.steps.map(() => new CountRing<StepCount>(['completed', 'failed'], BUCKETS)) },
      ]),
    );
  }

  /** Counts a message of step `step` of `flow`; a flow or step not configured is not counted. */
  countStep(flow: string, step: number, what: StepCount): void {
    this.#flows.get(flow)?.steps[step]?.add(this.#bucketNow(), what);
  }

  /** Counts a request of `flow` that reached a final state. */
  countRequest(flow: string, what: RequestCount): void {
    this.#flows.get(flow)?.requests.add(this.#bucketNow(), what);
  }

  /** The last 15 minutes of `flow`; null for a flow that is not configured. */
  series(flow: string): ThroughputSeries | null {
    const rings = this.#flows.get(flow);
    if (!rings) return null;
    const current = this.#bucketNow();
    const first = current - BUCKETS + 1;
    const buckets = Array.from({ length: BUCKETS }, (_, i): ThroughputBucket => {
      const bucket = first + i;
      return { start: new Date(bucket * THROUGHPUT_BUCKET_IN_MS), completed: rings.requests.count(bucket, 'completed'), deadLettered: rings.requests.count(bucket, 'deadLettered') };
    });
    const minute = buckets.slice(-MINUTE_BUCKETS);
    const sum = <K extends string>(ring: CountRing<K>, kind: K): number => minute.reduce((n, b) => n + ring.count(b.start.getTime() / THROUGHPUT_BUCKET_IN_MS, kind), 0);
    return {
      buckets,
      lastMinute: { completed: sum(rings.requests, 'completed'), deadLettered: sum(rings.requests, 'deadLettered') },
      steps: rings.steps.map((ring, step) => ({ step, completed: sum(ring, 'completed'), failed: sum(ring, 'failed') })),
    };
  }

  #bucketNow(): number {
    return Math.floor(this.#now() / THROUGHPUT_BUCKET_IN_MS);
  }
}
