/**
 * Completion callbacks: when a request that gave an X-Callback-Url reaches a final state, the
 * engine POSTs its status JSON (with the result of a completed request) to that URL, with
 * callback.config's time-out and retries, following no redirect, and records the outcome in the
 * status row (`pending`, then `delivered` or `failed`).
 */
import { request } from 'undici';
import type { Agent } from 'undici';
import type { Logger } from '../observability/log.js';
import type { PayloadStore } from '../storage/payloads.js';
import { toStatusJson, type StatusTable } from '../storage/status-table.js';
import { pause } from '../common/pause.js';

export interface CallbacksOptions {
  agent: Agent;
  statusTable: StatusTable;
  payloads: PayloadStore;
  timeoutInMs: number;
  retries: number;
  log: Logger;
}

/** The first retry waits this long, each next one twice as long. */
const FIRST_RETRY_DELAY_IN_MS = 1000;

/** Whether `url` may be called back: its host (`host`, or `host:port` for that port only) is allowed. */
export function isCallbackAllowed(url: string, allowedHosts: readonly string[]): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const host = parsed.hostname.toLowerCase();
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  return allowedHosts.some((allowed) => allowed === host || allowed === `${host}:${port}`);
}

export class Callbacks {
  readonly #o: CallbacksOptions;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  constructor(options: CallbacksOptions) {
    this.#o = options;
  }

  /** Delivers the callback of request `requestId` in the background. */
  notify(requestId: string): void {
    const delivery = this.#deliver(requestId).catch((err: unknown) => this.#o.log.error({ err, requestId }, 'callback.error'));
    this.#inFlight.add(delivery);
    void delivery.finally(() => this.#inFlight.delete(delivery));
  }

  /** Waits for deliveries under way for up to `graceInMs`, then abandons the rest (they stay `pending`). */
  async close(graceInMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#inFlight]), new Promise((resolve) => (timer = setTimeout(resolve, graceInMs)))]);
    clearTimeout(timer);
    this.#stop.abort();
    await Promise.allSettled([...this.#inFlight]);
  }

  async #deliver(requestId: string): Promise<void> {
    const signal = this.#stop.signal;
    const row = await this.#o.statusTable.get(requestId, signal);
    if (!row?.status.callbackUrl) return;
    const { status } = row;
    const url = status.callbackUrl!;
    let body: Record<string, unknown> = toStatusJson(status);
    if (status.status === 'completed' && status.result) {
      const bytes = 'bytes' in status.result ? status.result.bytes : await this.#o.payloads.get(status.result.blobName, signal);
      body = { ...body, result: { contentType: status.result.contentType, encoding: 'base64', data: bytes.toString('base64') } };
    }
    const payload = JSON.stringify(body);
    const log = this.#o.log.child({ requestId, flow: status.flow });
    for (let attempt = 1; attempt <= this.#o.retries + 1 && !signal.aborted; attempt++) {
      const outcome = await this.#post(url, payload, requestId, signal);
      if (outcome === null) {
        await this.#o.statusTable.setCallbackStatus(requestId, 'delivered', signal);
        log.info({ attempt }, 'callback.delivered');
        return;
      }
      log.warn({ attempt, error: outcome }, 'callback.failed_attempt');
      if (attempt <= this.#o.retries) await pause(FIRST_RETRY_DELAY_IN_MS * 2 ** (attempt - 1), signal);
    }
    if (signal.aborted) return; // shutdown: the callback stays pending
    await this.#o.statusTable.setCallbackStatus(requestId, 'failed', AbortSignal.timeout(10_000));
    log.warn({ retries: this.#o.retries }, 'callback.given_up');
  }

  /** One POST; null when the receiver answered 2xx, else what went wrong. */
  async #post(url: string, payload: string, requestId: string, stop: AbortSignal): Promise<string | null> {
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.#o.agent,
        headers: { 'content-type': 'application/json', 'x-request-id': requestId },
        body: payload,
        signal: AbortSignal.any([stop, AbortSignal.timeout(this.#o.timeoutInMs)]),
        headersTimeout: this.#o.timeoutInMs,
        bodyTimeout: this.#o.timeoutInMs,
      });
      await response.body.dump();
      // undici follows no redirect unless told: a 3xx is an answer like any other non-2xx.
      return response.statusCode >= 200 && response.statusCode < 300 ? null : `HTTP ${response.statusCode}`;
    } catch (err) {
      return err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
    }
  }
}
