/**
 * The OpenID provider of openid.config, as Keycloak publishes it: issuer
 * `{auth-server-url}/realms/{realm}`, discovered with openid-client. An unreachable provider does
 * not stop the engine from starting: discovery is retried in the background (with back-off) until
 * it succeeds, and health reports why it has not yet.
 */
import * as client from 'openid-client';
import type { OpenIdOptions } from '../config/types.js';
import { EngineError } from '../errors.js';
import { backoffDelayInMs } from '../common/backoff.js';
import { pause } from '../common/pause.js';
import type { Logger } from '../observability/log.js';

const DISCOVERY_TIMEOUT_IN_SECONDS = 5;
const RETRY_FIRST_IN_MS = 1000;
const RETRY_MAX_IN_MS = 30_000;

/** `{auth-server-url}/realms/{realm}`, without a doubled slash. */
export function issuerOf(openid: OpenIdOptions): string {
  return `${openid.authServerUrl.replace(/\/+$/, '')}/realms/${encodeURIComponent(openid.realm)}`;
}

export class OidcIssuer {
  readonly issuer: string;
  readonly #openid: OpenIdOptions;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #config: client.Configuration | null = null;
  #lastError = 'discovery has not run yet';
  #discovering: Promise<void> | undefined;
  #waiters: Array<() => void> = [];

  constructor(openid: OpenIdOptions, log: Logger) {
    this.#openid = openid;
    this.issuer = issuerOf(openid);
    this.#log = log.child({ issuer: this.issuer });
  }

  /** Starts discovering in the background; idempotent. */
  start(): void {
    this.#discovering ??= this.#discover(this.#stop.signal);
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#discovering;
  }

  get isReady(): boolean {
    return this.#config !== null;
  }

  /** Why the provider is not usable yet; null once it is. */
  get problem(): string | null {
    return this.#config ? null : this.#lastError;
  }

  /** The discovered configuration; AE_AUTH_UNAVAILABLE while the provider has not answered. */
  configuration(): client.Configuration {
    if (!this.#config) throw new EngineError('AE_AUTH_UNAVAILABLE', `the OpenID provider is not available yet: ${this.#lastError}`);
    return this.#config;
  }

  /** Resolves once discovery has succeeded, or when `signal` aborts. */
  whenReady(signal: AbortSignal): Promise<void> {
    if (this.#config || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      this.#waiters.push(done);
    });
  }

  async #discover(signal: AbortSignal): Promise<void> {
    const isHttp = new URL(this.issuer).protocol === 'http:';
    for (let failures = 0; !signal.aborted; failures++) {
      try {
        this.#config = await client.discovery(
          new URL(this.issuer),
          this.#openid.resource,
          undefined,
          this.#openid.clientSecret === null ? client.None() : client.ClientSecretPost(this.#openid.clientSecret),
          { timeout: DISCOVERY_TIMEOUT_IN_SECONDS, ...(isHttp ? { execute: [client.allowInsecureRequests] } : {}) },
        );
        this.#log.info({}, 'auth.discovered');
        for (const waiter of this.#waiters.splice(0)) waiter();
        return;
      } catch (err) {
        this.#lastError = err instanceof Error ? err.message : String(err);
        const delay = backoffDelayInMs(failures + 1, RETRY_FIRST_IN_MS, RETRY_MAX_IN_MS);
        this.#log.warn({ error: this.#lastError, retryInMs: delay }, 'auth.discovery_failed');
        await pause(delay, signal);
      }
    }
  }
}
