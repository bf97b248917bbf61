/**
 * Verifies bearer tokens against the OpenID provider: signature by a key of its JWKS (fetched from
 * discovery, cached, fetched again for an unknown `kid` at most once per cooldown, so a flood of
 * made-up kids cannot hammer the provider), an allowlist of asymmetric algorithms (never `none`,
 * never an HMAC keyed with a public key), the exact issuer, `exp`/`nbf` with a small clock
 * tolerance, the audience: `aud` contains the client id (`resource`) or `azp` is it, and the kind:
 * access tokens only (Keycloak marks them `typ: Bearer`, RFC 9068 `at+jwt` in the header), never
 * an ID or refresh token, which the same provider signs with the same keys.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { OpenIdOptions } from '../config/types.js';
import { EngineError } from '../errors.js';
import type { OidcIssuer } from './oidc-issuer.js';

export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** Seconds of clock difference accepted on exp, nbf and iat. */
export const CLOCK_TOLERANCE_IN_SECONDS = 30;

export interface Principal {
  /** The claim named by principal-attribute (default `sub`), for logs. */
  name: string;
  roles: readonly string[];
}

/** A token that is missing or not acceptable: 401. `reason` is for logs, never for the client. */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

export interface TokenVerifierOptions {
  issuer: OidcIssuer;
  openid: OpenIdOptions;
  /** The shortest time between two JWKS fetches for unknown key ids. */
  jwksCooldownInMs: number;
}

// jose's codes for a token that is simply not acceptable (anything else is the provider's fault).
const INVALID_TOKEN_CODES = new Set([
  'ERR_JWT_EXPIRED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_INVALID',
  'ERR_JWS_INVALID',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
]);

export class TokenVerifier {
  readonly #issuer: OidcIssuer;
  readonly #openid: OpenIdOptions;
  readonly #jwksCooldownInMs: number;
  #jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor({ issuer, openid, jwksCooldownInMs }: TokenVerifierOptions) {
    this.#issuer = issuer;
    this.#openid = openid;
    this.#jwksCooldownInMs = jwksCooldownInMs;
  }

  /** The principal of a valid token; InvalidTokenError (401) or AE_AUTH_UNAVAILABLE (503) otherwise. */
  async verify(token: string): Promise<Principal> {
    const openid = this.#openid;
    const jwks = this.#keys();
    let payload: JWTPayload;
    let header: { typ?: string | undefined };
    try {
      ({ payload, protectedHeader: header } = await jwtVerify(token, jwks, {
        issuer: this.#issuer.issuer,
        algorithms: ALLOWED_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_IN_SECONDS,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (err instanceof errors.JOSEError && typeof code === 'string' && INVALID_TOKEN_CODES.has(code)) throw new InvalidTokenError(code, { cause: err });
      if (err instanceof TypeError && /Invalid Compact JWS|must be a string/i.test(err.message)) throw new InvalidTokenError('malformed', { cause: err });
      throw new EngineError('AE_AUTH_UNAVAILABLE', 'the keys of the OpenID provider could not be fetched', { cause: err });
    }
    if (!isAccessToken(header.typ, payload['typ'])) throw new InvalidTokenError('not an access token');
    const audiences = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
    if (!audiences.includes(openid.resource) && payload['azp'] !== openid.resource) throw new InvalidTokenError('audience');
    const name = payload[openid.principalAttribute] ?? payload.sub;
    return { name: typeof name === 'string' ? name : String(name ?? ''), roles: rolesOf(payload, openid) };
  }

  #keys(): ReturnType<typeof createRemoteJWKSet> {
    if (!this.#jwks) {
      const jwksUri = this.#issuer.configuration().serverMetadata().jwks_uri;
      if (!jwksUri) throw new EngineError('AE_AUTH_UNAVAILABLE', 'the OpenID provider publishes no jwks_uri');
      this.#jwks = createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: this.#jwksCooldownInMs, cacheMaxAge: 10 * 60_000, timeoutDuration: 5000 });
    }
    return this.#jwks;
  }
}

/** Header `typ` values of access tokens: JWT in general, `at+jwt` (RFC 9068). */
const ACCESS_TOKEN_HEADER_TYPES = new Set(['jwt', 'at+jwt', 'application/at+jwt']);

/**
 * Whether the token is an access token: its header `typ` (when present) is JWT or at+jwt, and its
 * `typ` claim (Keycloak's: Bearer, ID, Refresh, Logout), when present, is Bearer.
 */
export function isAccessToken(headerTyp: unknown, claimTyp: unknown): boolean {
  if (headerTyp !== undefined && !(typeof headerTyp === 'string' && ACCESS_TOKEN_HEADER_TYPES.has(headerTyp.toLowerCase()))) return false;
  return claimTyp === undefined || (typeof claimTyp === 'string' && claimTyp.toLowerCase() === 'bearer');
}

/** Realm roles, or the client's roles when use-resource-role-mappings is true (as Keycloak's adapter). */
export function rolesOf(payload: JWTPayload, openid: Pick<OpenIdOptions, 'resource' | 'useResourceRoleMappings'>): string[] {
  const holder = openid.useResourceRoleMappings
    ? (payload['resource_access'] as Record<string, { roles?: unknown }> | undefined)?.[openid.resource]
    : (payload['realm_access'] as { roles?: unknown } | undefined);
  return Array.isArray(holder?.roles) ? holder.roles.filter((r): r is string => typeof r === 'string') : [];
}
