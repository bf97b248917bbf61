/**
 * The OpenAPI 3.1 description of every route of the API, served at GET /openapi.json. A test keeps
 * it true: every route of the routers is described here, and nothing else is.
 */
import { Router } from '@koa/router';
import { VERSION } from '../version.js';

export const openApiDocument: Record<string, unknown> = {
  openapi: '3.1.0',
  info: { title: 'async-engine', version: VERSION },
  paths: {},
};

export function createOpenApiRoutes(): Router {
  const router = new Router();
  router.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument;
  });
  return router;
}
