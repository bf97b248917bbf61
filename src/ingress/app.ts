/**
 * The HTTP ingress as a Koa app, built without listening: one error middleware that answers
 * problem+json, X-Request-Id on every answer that has a request id, then one router per resource.
 */
import type { Router } from '@koa/router';
import Koa from 'koa';
import type { Logger } from '../observability/log.js';
import { createAuthMiddleware, type AuthDeps } from './auth.js';
import { createOpenApiRoutes } from './openapi.js';
import { sendProblem } from './problem.js';
import { createActuatorRoutes, type ActuatorDeps } from './routes/actuator.js';
import { createDlqRoutes, type DlqRoutesDeps } from './routes/dlq.js';
import { createFlowRoutes, type FlowRoutesDeps } from './routes/flows.js';
import { createRequestRoutes, type RequestRoutesDeps } from './routes/requests.js';

export interface IngressDeps extends RequestRoutesDeps, ActuatorDeps, DlqRoutesDeps, FlowRoutesDeps {
  /** Mounted before authentication: routes anyone may call (the demo service). */
  publicRouters: readonly Router[];
  trustProxy: boolean;
  /** null while server.config.auth is "none". */
  auth: AuthDeps | null;
  log: Logger;
}

/** The routers of the API (the OpenAPI document describes exactly their routes). */
export function createApiRouters(deps: IngressDeps): Router[] {
  return [createRequestRoutes(deps), createFlowRoutes(deps), createDlqRoutes(deps), createActuatorRoutes(deps), createOpenApiRoutes()];
}

export function createIngressApp(deps: IngressDeps): Koa {
  const app = new Koa({ proxy: deps.trustProxy });
  const log = deps.log.child({ component: 'ingress' });

  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) ctx.throw(404, `no route for ${ctx.method} ${ctx.path}`);
    } catch (err) {
      const problem = sendProblem(ctx, err);
      if (problem.status >= 500) log.error({ err, method: ctx.method, path: ctx.path, status: problem.status }, 'ingress.request_failed');
    } finally {
      const requestId = ctx.state['requestId'];
      if (typeof requestId === 'string') ctx.set('x-request-id', requestId);
    }
  });

  const mount = (router: Router): void => {
    app.use(router.routes());
    app.use(router.allowedMethods({ throw: true }));
  };
  for (const router of deps.publicRouters) mount(router);
  if (deps.auth) app.use(createAuthMiddleware({ ...deps.auth, log }));
  for (const router of createApiRouters(deps)) mount(router);
  // Errors are answered by the middleware above; this only keeps Koa from printing to stderr.
  app.on('error', (err: unknown) => log.debug({ err }, 'ingress.error'));
  return app;
}
