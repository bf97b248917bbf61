/**
 * The HTTP ingress as a Koa app, built without listening: one error middleware that answers
 * problem+json, X-Request-Id on every answer that has a request id, then one router per resource.
 */
import type { Router } from '@koa/router';
import Koa from 'koa';
import type { Logger } from '../observability/log.js';
import { type AuthDeps, createAuthMiddleware } from './auth.js';
import { createClientResolver } from './client.js';
import { createOpenApiRoutes } from './openapi.js';
import { HttpProblem, problemType, sendProblem } from './problem.js';
import { type ActuatorDeps, createActuatorRoutes } from './routes/actuator.js';
import { createDlqRoutes, type DlqRoutesDeps } from './routes/dlq.js';
import { createFlowRoutes, type FlowRoutesDeps } from './routes/flows.js';
import { createProbeRoutes, type ProbeDeps } from './routes/probes.js';
import { createRequestRoutes, type RequestRoutesDeps } from './routes/requests.js';
import type { IngressRouter, IngressState } from './state.js';

export interface IngressDeps extends RequestRoutesDeps, ActuatorDeps, DlqRoutesDeps, FlowRoutesDeps, ProbeDeps {
  /** Mounted before authentication: routes anyone may call (the demo service). */
  publicRouters: readonly Router[];
  trustProxy: boolean;
  trustedProxies: readonly string[];
  /** null while server.config.auth is "none". */
  auth: AuthDeps | null;
  log: Logger;
}

/** The routers of the API that need no token: the probes. */
function createUnguardedApiRouters(deps: IngressDeps): IngressRouter[] {
  return [createProbeRoutes(deps)];
}

/** The routers of the API behind authentication (while server.config.auth is "oidc"). */
function createGuardedApiRouters(deps: IngressDeps): IngressRouter[] {
  return [createRequestRoutes(deps), createFlowRoutes(deps), createDlqRoutes(deps), createActuatorRoutes(deps), createOpenApiRoutes()];
}

/** The routers of the API (the OpenAPI document describes exactly their routes). */
export function createApiRouters(deps: IngressDeps): IngressRouter[] {
  return [...createUnguardedApiRouters(deps), ...createGuardedApiRouters(deps)];
}

export function createIngressApp(deps: IngressDeps): Koa<IngressState> {
  // Koa's own proxy handling believes the left-most X-Forwarded-For entry: client.ts decides instead.
  const app = new Koa<IngressState>({ proxy: false });
  const log = deps.log.child({ component: 'ingress' });
  const clientOf = createClientResolver({ trustProxy: deps.trustProxy, trustedProxies: deps.trustedProxies });

  app.use(async (ctx, next) => {
    // Answers are data, never for a browser to guess at: JSON stays JSON, a result stays its type.
    ctx.set('x-content-type-options', 'nosniff');
    ctx.state.client = clientOf({
      remoteAddress: ctx.req.socket.remoteAddress ?? '',
      isEncrypted: 'encrypted' in ctx.req.socket && ctx.req.socket.encrypted === true,
      forwardedFor: ctx.get('x-forwarded-for') || undefined,
      forwardedProto: ctx.get('x-forwarded-proto') || undefined,
    });
    try {
      // HTTP/1.1 requires Host (RFC 9112 section 3.2); Node's own refusal would not be problem+json.
      if (ctx.req.httpVersionMajor === 1 && ctx.req.httpVersionMinor === 1 && ctx.get('host') === '') {
        throw new HttpProblem(400, 'missing-host', 'Bad Request', 'an HTTP/1.1 request needs a Host header');
      }
      await next();
      // No route answered, or the router answered 405/501 with Allow but without a body.
      if (ctx.status === 404 && ctx.body == null) ctx.throw(404, `no route for ${ctx.method} ${ctx.path}`);
      if (ctx.status >= 400 && ctx.body == null) ctx.throw(ctx.status);
    } catch (err) {
      const problem = sendProblem(ctx, err);
      if (problem.type === problemType('incomplete-body')) log.info({ method: ctx.method, path: ctx.path, requestId: ctx.state.requestId }, 'ingress.client_closed');
      if (problem.status >= 500) log.error({ err, method: ctx.method, path: ctx.path, status: problem.status }, 'ingress.request_failed');
    } finally {
      const { requestId } = ctx.state;
      if (typeof requestId === 'string') ctx.set('x-request-id', requestId);
    }
  });

  const mount = (router: Router | IngressRouter): void => {
    app.use(router.routes());
    // Not `throw: true`: the router sets Allow only on the answer it makes itself.
    app.use(router.allowedMethods());
  };
  for (const router of [...deps.publicRouters, ...createUnguardedApiRouters(deps)]) mount(router);
  if (deps.auth) app.use(createAuthMiddleware({ ...deps.auth, log }));
  for (const router of createGuardedApiRouters(deps)) mount(router);
  // Errors are answered by the middleware above; this only keeps Koa from printing to stderr.
  app.on('error', (err: unknown) => log.debug({ err }, 'ingress.error'));
  return app;
}
