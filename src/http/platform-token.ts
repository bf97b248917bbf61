/**
 * The engine's own access token for `endpointName` steps: obtained from the OpenID provider with
 * the password grant (openapi.username / openapi.password, as client `resource` with
 * credentials.secret), cached until shortly before it expires, and refreshed single-flight: however
 * many workers need a token at once, one request goes to the provider. After a failure the provider
 * is asked again only after a back-off with full jitter (steps meanwhile fail with the same error and
 * follow their redelivery rules), so replicas do not hammer a provider that is down.
 */
import * as client from 'openid-client';
import type { OidcIssuer } from '../auth/oidc-issuer.js';
import { backoffDelayInMs } from '../common/backoff.js';
import { EngineError, isEngineError } from '../errors.js';
import type { Logger } from '../observability/log.js';

export interface PlatformTokenOptions {
  issuer: OidcIssuer;
  username: string;
  password: string;
  /** How long to wait before asking again after `failures` failures in a row. */
  retryDelayInMs: (failures: number) => number;
  log: Logger;
}

/** A token is renewed this long before it expires, or after three quarters of a shorter life. */
const RENEW_AHEAD_IN_MS = 30_000;
const RETRY_FIRST_IN_MS = 1000;
const RETRY_MAX_IN_MS = 30_000;

/** The back-off the engine uses: exponential from 1 s to 30 s, with full jitter. */
export const platformTokenRetryDelayInMs = (failures: number): number => backoffDelayInMs(failures, RETRY_FIRST_IN_MS, RETRY_MAX_IN_MS);

export class PlatformToken {
  readonly #issuer: OidcIssuer;
  readonly #username: string;
  readonly #password: string;
  readonly #retryDelayInMs: (failures: number) => number;
  readonly #log: Logger;
  #current: { token: string; renewAt: number } | null = null;
  #pending: Promise<string> | null = null;
  #failure: { error: EngineError; count: number; retryAt: number } | null = null;

  constructor({ issuer, username, password, retryDelayInMs, log }: PlatformTokenOptions) {
    this.#retryDelayInMs = retryDelayInMs;
    this.#issuer = issuer;
    this.#username = username;
    this.#password = password;
    this.#log = log;
  }

  /** A valid token; AE_PLATFORM_TOKEN when none can be had. */
  async get(): Promise<string> {
    if (this.#current && Date.now() < this.#current.renewAt) return this.#current.token;
    if (this.#failure && Date.now() < this.#failure.retryAt) throw this.#failure.error;
    this.#pending ??= this.#fetch().finally(() => (this.#pending = null));
    return this.#pending;
  }

  /** Forgets `token` (an endpoint refused it), so the next get() fetches a new one. */
  invalidate(token: string): void {
    if (this.#current?.token === token) this.#current = null;
  }

  async #fetch(): Promise<string> {
    try {
      const response = await client.genericGrantRequest(this.#issuer.configuration(), 'password', { username: this.#username, password: this.#password });
      const lifetimeInMs = (response.expires_in ?? 60) * 1000;
      this.#current = { token: response.access_token, renewAt: Date.now() + lifetimeInMs - Math.min(RENEW_AHEAD_IN_MS, lifetimeInMs / 4) };
      this.#failure = null;
      this.#log.info({ expiresInSeconds: response.expires_in }, 'platform_token.obtained');
      return response.access_token;
    } catch (err) {
      // The provider's answer may quote the request; only its error code goes further.
      const code = isEngineError(err) ? err.code : ((err as { error?: unknown; code?: unknown }).error ?? (err as { code?: unknown }).code ?? 'unknown');
      const count = (this.#failure?.count ?? 0) + 1;
      const retryInMs = this.#retryDelayInMs(count);
      const error = new EngineError('AE_PLATFORM_TOKEN', `the engine could not obtain its platform token (${String(code)})`, { cause: err });
      this.#failure = { error, count, retryAt: Date.now() + retryInMs };
      this.#log.warn({ code, failures: count, retryInMs }, 'platform_token.failed');
      throw error;
    }
  }
}
