/**
 * What the ingress's middleware keeps on `ctx.state`, typed once for the app and every router.
 */
import { METHODS } from 'node:http';
import { Router } from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { Principal } from '../auth/token-verifier.js';
import type { Client } from './client.js';

export interface IngressState {
  /** Who is calling, as client.ts reads the connection and the trusted forwarded headers. */
  client: Client;
  /** The request an answer is about; the error middleware sends it as X-Request-Id. */
  requestId?: string;
  /** The verified caller, while server.config.auth is "oidc". */
  principal?: Principal;
}

export type IngressRouter = Router<IngressState>;
export type IngressContext = ParameterizedContext<IngressState>;

/**
 * A router of the API. Paths match exactly, letter case included (@koa/router matches without
 * regard to case unless told): RBAC compares the path as the client wrote it, so `/API/DLQ` must
 * not reach the handlers of `/api/dlq` past a rule written for `/api/dlq`.
 */
export function createRouter(options: { prefix?: string } = {}): IngressRouter {
  // Every method Node parses is one the router knows: a route without it answers 405 with Allow,
  // not 501.
  return new Router<IngressState>({ ...options, sensitive: true, methods: [...METHODS] });
}
