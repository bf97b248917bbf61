/**
 * Authentication and authorisation of every route while server.config.auth is "oidc": the
 * transport (ssl-required), the bearer token (auth/token-verifier.ts), then the roles the URL
 * needs (auth/rbac.ts). The engine is an API: it answers 401 with WWW-Authenticate, never a
 * redirect to a login page (autodetect-bearer-only has no other meaning here).
 */
import type { Middleware } from 'koa';
import type { IngressState } from './state.js';
import type { OpenIdOptions, RoleMapping } from '../config/types.js';
import { isPrivateAddress } from '../common/addresses.js';
import { isPermitted, requiredRoles } from '../auth/rbac.js';
import { InvalidTokenError, type Principal, type TokenVerifier } from '../auth/token-verifier.js';
import type { Logger } from '../observability/log.js';
import { HttpProblem } from './problem.js';

export interface AuthDeps {
  verifier: TokenVerifier;
  openid: OpenIdOptions;
  /** apiMappings and applicationMappings together: the longest prefix wins across both. */
  roleMappings: readonly RoleMapping[];
  log: Logger;
}

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i;

export function createAuthMiddleware(deps: AuthDeps): Middleware<IngressState> {
  const realm = deps.openid.realm.replace(/["\\]/g, '');
  const challenge = (error?: string, description?: string): Record<string, string> => ({
    'www-authenticate': `Bearer realm="${realm}"${error ? `, error="${error}", error_description="${description}"` : ''}`,
  });
  return async (ctx, next) => {
    if (!isTransportAllowed(ctx.state.client.protocol, ctx.state.client.ip, deps.openid.sslRequired)) {
      throw new HttpProblem(403, 'https-required', 'Forbidden', 'HTTPS is required (openid.config.ssl-required)');
    }
    const match = BEARER.exec(ctx.get('authorization'));
    if (!match) throw new HttpProblem(401, 'unauthorized', 'Unauthorized', 'a bearer token is required', challenge());
    let principal: Principal;
    try {
      principal = await deps.verifier.verify(match[1] ?? '');
    } catch (err) {
      if (!(err instanceof InvalidTokenError)) throw err;
      // The reason goes to the log only: the client learns that the token was refused, not why.
      deps.log.info({ reason: err.message, path: ctx.path }, 'auth.token_refused');
      throw new HttpProblem(401, 'unauthorized', 'Unauthorized', 'the access token is invalid or expired', challenge('invalid_token', 'the access token is invalid or expired'));
    }
    ctx.state.principal = principal;
    if (!isPermitted(principal.roles, requiredRoles(ctx.path, deps.roleMappings))) {
      deps.log.info({ principal: principal.name, path: ctx.path }, 'auth.forbidden');
      throw new HttpProblem(403, 'forbidden', 'Forbidden', 'the access token lacks a role this URL needs (rbac.config)', challenge('insufficient_scope', 'a role is missing'));
    }
    await next();
  };
}

/** ssl-required: `all` wants https, `external` wants it from all but private clients, `none` nothing. */
export function isTransportAllowed(protocol: string, clientIp: string, sslRequired: OpenIdOptions['sslRequired']): boolean {
  if (sslRequired === 'none' || protocol === 'https') return true;
  return sslRequired === 'external' && isPrivateAddress(clientIp);
}
