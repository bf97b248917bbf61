/**
 * The built-in demo service that config/local.json's demo flow calls (served when
 * server.config.demoEndpoints is true):
 * - POST /demo/echo: answers the body with its content type;
 * - POST /demo/slow?ms=N: the same after N milliseconds (default 200, at most 60000);
 * - POST /demo/flaky?failRate=R: 503 with probability R (default 0.5), else echo;
 * - POST /demo/reject: always 400.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Router } from '@koa/router';
import type { Context } from 'koa';
import { type BodyLimits, readBody } from '../ingress/body.js';

export function createDemoRoutes(limits: BodyLimits): Router {
  const router = new Router({ prefix: '/demo', sensitive: true });
  const echo = async (ctx: Context): Promise<void> => {
    ctx.body = await readBody(ctx, limits);
    ctx.set('content-type', ctx.get('content-type') || 'application/octet-stream');
  };
  router.post('/echo', echo);
  router.post('/slow', async (ctx) => {
    const ms = Math.min(Math.max(Number(ctx.query['ms'] ?? 200) || 0, 0), 60_000);
    await sleep(ms);
    await echo(ctx);
  });
  router.post('/flaky', async (ctx) => {
    const rate = Math.min(Math.max(Number(ctx.query['failRate'] ?? 0.5) || 0, 0), 1);
    if (Math.random() < rate) {
      ctx.status = 503;
      ctx.set('retry-after', '1');
      ctx.body = { error: 'the demo service is flaky on purpose' };
      return;
    }
    await echo(ctx);
  });
  router.post('/reject', (ctx) => {
    ctx.status = 400;
    ctx.body = { error: 'the demo service rejects every request here' };
  });
  return router;
}
