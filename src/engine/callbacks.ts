/**
 * Completion callbacks: when a request that gave an X-Callback-Url reaches a final state, the
 * engine POSTs its status JSON (with the result of a completed request) to that URL, with
 * callback.config's time-out and retries, following no redirect, and records the outcome in the
 * status row (`pending`, then `delivered` or `failed`).
 *
 * The URL is judged twice by the same rules ({@link callbackRefusal}): at submission, and again
 * before delivery, because the configuration may have changed since (a host removed from
 * allowedHosts) and a replayed request carries the URL it was submitted with.
 */
import { request } from 'undici';
import { isOwnAddress, type OwnAddress } from '../common/own-address.js';
import type { Logger } from '../observability/log.js';
import { ATTR, SpanKind, setSpanError, traced } from '../observability/spans.js';
import type { PayloadStore } from '../storage/payloads.js';
import { toStatusJson, type StatusTable } from '../storage/status-table.js';
import { backoffDelayInMs } from '../common/backoff.js';
import { pause, whenSettledOrAborted } from '../common/pause.js';
import { EngineError } from '../errors.js';
import type { OutboundHttp } from '../http/agent.js';
import { withConnection } from '../http/endpoint-call.js';

/** Which URLs may be called back. */
export interface CallbackTargets {
  /** callback.config.allowedHosts */
  allowedHosts: readonly string[];
  /** Where this engine's own HTTP servers listen (the ingress, the management port); none before they do. */
  ownAddresses: () => readonly OwnAddress[];
}

export interface CallbacksOptions extends CallbackTargets {
  /** The engine's outbound Agent and connection permits, shared with the endpoint calls. */
  http: OutboundHttp;
  statusTable: StatusTable;
  payloads: PayloadStore;
  timeoutInMs: number;
  retries: number;
  log: Logger;
}

/** Retries wait up to this long at first, each next one up to twice as long, never more than the max (full jitter). */
const FIRST_RETRY_DELAY_IN_MS = 1000;
const MAX_RETRY_DELAY_IN_MS = 60_000;

/** Whether `url` may be called back: its host (`host`, or `host:port` for that port only) is allowed. */
export function isCallbackAllowed(url: string, allowedHosts: readonly string[]): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const host = parsed.hostname.toLowerCase();
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  return allowedHosts.some((allowed) => allowed === host || allowed === `${host}:${port}`);
}

/**
 * Why `url` may not be called back, or null when it may: it must be an http(s) URL on an allowed
 * host, carry no credentials (undici would not send them, and the status JSON shows the URL), and
 * not point at this engine's own ingress (whose API a callback could otherwise drive in a loop) or
 * its management port.
 */
export function callbackRefusal(url: string, { allowedHosts, ownAddresses }: CallbackTargets): string | null {
  if (!isCallbackAllowed(url, allowedHosts)) return 'X-Callback-Url must be an http(s) URL on a host of callback.config.allowedHosts';
  const { username, password } = new URL(url);
  if (username !== '' || password !== '') return 'X-Callback-Url must not carry credentials (user:password@)';
  if (ownAddresses().some((own) => isOwnAddress(url, own))) return "X-Callback-Url must not point at the engine's own address";
  return null;
}

/** What a log line may show of a callback URL: its origin, never its credentials, path or query. */
function originOf(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : '(not a URL)';
}

export class Callbacks {
  readonly #http: OutboundHttp;
  readonly #statusTable: StatusTable;
  readonly #payloads: PayloadStore;
  readonly #timeoutInMs: number;
  readonly #retries: number;
  readonly #targets: CallbackTargets;
  readonly #log: Logger;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  constructor({ http, statusTable, payloads, timeoutInMs, retries, allowedHosts, ownAddresses, log }: CallbacksOptions) {
    this.#http = http;
    this.#targets = { allowedHosts, ownAddresses };
    this.#statusTable = statusTable;
    this.#payloads = payloads;
    this.#timeoutInMs = timeoutInMs;
    this.#retries = retries;
    this.#log = log;
  }

  /** Delivers the callback of request `requestId` in the background. */
  notify(requestId: string): void {
    // After close() nothing starts: a loop of callbacks that submit again ends with the engine.
    if (this.#stop.signal.aborted) return;
    const delivery = this.#deliver(requestId).catch((err: unknown) => this.#log.error({ err, requestId }, 'callback.error'));
    this.#inFlight.add(delivery);
    void delivery.finally(() => this.#inFlight.delete(delivery));
  }

  /**
   * Lets deliveries under way go on until `deadline` aborts, then abandons the rest (they stay
   * `pending`) and resolves once they have let go. Idempotent.
   */
  async close(deadline: AbortSignal): Promise<void> {
    await whenSettledOrAborted([...this.#inFlight], deadline);
    this.#stop.abort(new EngineError('AE_SHUTDOWN', 'the shutdown deadline passed'));
    await Promise.allSettled([...this.#inFlight]);
  }

  async #deliver(requestId: string): Promise<void> {
    const signal = this.#stop.signal;
    const row = await this.#statusTable.get(requestId, signal);
    const url = row?.status.callbackUrl;
    if (!row || !url) return;
    const { status } = row;
    const log = this.#log.child({ requestId, flow: status.flow });
    const refusal = callbackRefusal(url, this.#targets);
    if (refusal !== null) {
      await this.#statusTable.setCallbackStatus(requestId, 'failed', signal);
      log.warn({ target: originOf(url), reason: refusal }, 'callback.refused');
      return;
    }
    let body: Record<string, unknown> = toStatusJson(status);
    if (status.status === 'completed' && status.result) {
      const bytes = 'bytes' in status.result ? status.result.bytes : await this.#payloads.get(status.result.blobName, signal);
      body = { ...body, result: { contentType: status.result.contentType, encoding: 'base64', data: bytes.toString('base64') } };
    }
    const payload = JSON.stringify(body);
    for (let attempt = 1; attempt <= this.#retries + 1 && !signal.aborted; attempt++) {
      const callbackAttributes = () => ({ [ATTR.httpMethod]: 'POST', [ATTR.urlFull]: originOf(url), [ATTR.requestId]: requestId, [ATTR.attempt]: attempt });
      const outcome = await traced('callback', SpanKind.CLIENT, callbackAttributes, async (span) => {
        const failure = await this.#post(url, payload, requestId, signal);
        if (span && failure !== null) setSpanError(span, failure);
        return failure;
      });
      if (outcome === null) {
        await this.#statusTable.setCallbackStatus(requestId, 'delivered', signal);
        log.info({ attempt }, 'callback.delivered');
        return;
      }
      log.warn({ attempt, error: outcome }, 'callback.failed_attempt');
      if (attempt <= this.#retries) await pause(backoffDelayInMs(attempt, FIRST_RETRY_DELAY_IN_MS, MAX_RETRY_DELAY_IN_MS), signal);
    }
    if (signal.aborted) return; // shutdown: the callback stays pending
    await this.#statusTable.setCallbackStatus(requestId, 'failed', AbortSignal.timeout(10_000));
    log.warn({ retries: this.#retries }, 'callback.given_up');
  }

  /**
   * One POST, holding a connection permit like an endpoint call, within callback.config's timeout
   * (and callTimeout, when shorter); null when the receiver answered 2xx, else what went wrong.
   */
  async #post(url: string, payload: string, requestId: string, stop: AbortSignal): Promise<string | null> {
    const { callTimeoutInMs } = this.#http;
    const timeoutInMs = callTimeoutInMs > 0 ? Math.min(this.#timeoutInMs, callTimeoutInMs) : this.#timeoutInMs;
    try {
      return await withConnection(this.#http, url, timeoutInMs, stop, async (signal) => {
        const response = await request(url, {
          method: 'POST',
          dispatcher: this.#http.agent,
          headers: { 'content-type': 'application/json', 'x-request-id': requestId },
          body: payload,
          signal,
          headersTimeout: timeoutInMs,
          bodyTimeout: timeoutInMs,
        });
        // The answer's body means nothing here: read no more of it than maxResponseBytes.
        await response.body.dump({ limit: this.#http.maxResponseBytes });
        // undici follows no redirect unless told: a 3xx is an answer like any other non-2xx.
        return response.statusCode >= 200 && response.statusCode < 300 ? null : `HTTP ${response.statusCode}`;
      });
    } catch (err) {
      return err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
    }
  }
}
