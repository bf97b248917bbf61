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
import { createThroughputRoutes, type ThroughputRoutesDeps } from './routes/throughput.js';
import { createUiRoutes, type UiRoutesDeps } from './routes/ui.js';
import type { IngressRouter, IngressState } from './state.js';

/**
 * What one HTTP server answers. The paths are in two areas: `/actuator` and below, and everything
 * else (the API: `/api/*`, `/openapi.json`, the dashboard, the demo service). A path of an area the
 * server does not serve answers 404 before authentication, as a path no route has: it is not
 * there, token or not.
 */
export interface ServedRoutes {
  /** `/api/*`, `/openapi.json`, the dashboard (`/ui`) and the public routers: false on a worker and on the management port. */
  hasApi: boolean;
  /** Health, the probes, prometheus and info: false on the main port while a management port serves them. */
  hasActuator: boolean;
}

export interface IngressDeps extends RequestRoutesDeps, ActuatorDeps, DlqRoutesDeps, FlowRoutesDeps, ThroughputRoutesDeps, ProbeDeps, UiRoutesDeps {
  served: ServedRoutes;
  /** Mounted before authentication: routes anyone may call (the demo service). Only with `served.hasApi`. */
  publicRouters: readonly Router[];
  trustProxy: boolean;
  trustedProxies: readonly string[];
  /** null while server.config.auth is "none". */
  auth: AuthDeps | null;
  log: Logger;
}

/** The routers that need no token: the probes. */
function createUnguardedApiRouters(deps: IngressDeps): IngressRouter[] {
  return deps.served.hasActuator ? [createProbeRoutes(deps)] : [];
}

/** The routers behind authentication (while server.config.auth is "oidc" and the server has it). */
function createGuardedApiRouters(deps: IngressDeps): IngressRouter[] {
  const { served } = deps;
  return [
    ...(served.hasApi ? [createRequestRoutes(deps), createFlowRoutes(deps), createThroughputRoutes(deps), createDlqRoutes(deps)] : []),
    ...(served.hasActuator ? [createActuatorRoutes(deps)] : []),
    ...(served.hasApi ? [createOpenApiRoutes({ hasActuator: served.hasActuator })] : []),
  ];
}

/** The routers of one server (where it serves the API, its OpenAPI document describes exactly their routes). */
export function createApiRouters(deps: IngressDeps): IngressRouter[] {
  return [...createUnguardedApiRouters(deps), ...createGuardedApiRouters(deps)];
}

/** Whether `path` (as the client wrote it, not decoded) is `/actuator` or below; letter case counts, as in the routers. */
export function isActuatorPath(path: string): boolean {
  return path === '/actuator' || path.startsWith('/actuator/');
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
      // A path of an area this server does not serve is not here for anyone: 404 before authentication.
      if (!(isActuatorPath(ctx.path) ? deps.served.hasActuator : deps.served.hasApi)) ctx.throw(404, `no route for ${ctx.method} ${ctx.path}`);
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
  // The dashboard's page is public (it holds no data: it reads the API with the user's token).
  const publicRouters = deps.served.hasApi ? [createUiRoutes(deps), ...deps.publicRouters] : [];
  for (const router of [...publicRouters, ...createUnguardedApiRouters(deps)]) mount(router);
  if (deps.auth) app.use(createAuthMiddleware({ ...deps.auth, log }));
  for (const router of createGuardedApiRouters(deps)) mount(router);
  // Errors are answered by the middleware above; this only keeps Koa from printing to stderr.
  app.on('error', (err: unknown) => log.debug({ err }, 'ingress.error'));
  return app;
}
