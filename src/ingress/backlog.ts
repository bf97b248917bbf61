/**
 * flow.config[].maxBacklog: whether a flow's initial queue holds so many messages that the ingress
 * refuses new submissions. Azure's approximate count is read at most once a second per flow, however
 * many clients submit, and a count that cannot be read lets submissions through (they fail on their
 * own if storage is down).
 */
import type { Flow } from '../engine/flows.js';

/** How long a flow's count is reused. */
const COUNT_TTL_IN_MS = 1000;
const COUNT_TIMEOUT_IN_MS = 3000;

export class Backlog {
  readonly #counts = new Map<string, { at: number; count: Promise<number | null> }>();

  /** Whether the flow's initial queue is at or over its maxBacklog (never, without one). */
  async isFull(flow: Flow): Promise<boolean> {
    const first = flow.steps[0];
    if (flow.maxBacklog === null || !first) return false;
    const now = performance.now();
    let cached = this.#counts.get(flow.name);
    if (!cached || now - cached.at > COUNT_TTL_IN_MS) {
      cached = { at: now, count: first.source.queue.approximateMessageCount(AbortSignal.timeout(COUNT_TIMEOUT_IN_MS)).catch(() => null) };
      this.#counts.set(flow.name, cached);
    }
    const count = await cached.count;
    return count !== null && count >= flow.maxBacklog;
  }
}
