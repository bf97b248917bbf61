/**
 * The built-in demo service that config/local.json's demo flow calls (served when
 * server.config.demoEndpoints is true):
 * - POST /demo/echo: answers the body with its content type;
 * - POST /demo/slow?ms=N: the same after N milliseconds (default 200, at most 60000);
 * - POST /demo/flaky?failRate=R: 503 with probability R (default 0.5), else echo;
 * - POST /demo/reject: always 400;
 * - POST /demo/fail?share=S: 500 for the share S (default 0.3) of requests chosen by their
 *   X-Request-Id, else echo. The same request always gets the same answer, so a replay of one it
 *   failed fails again, as a replay to an endpoint that is still broken would.
 *
 * Flows name these by path (`"endpointUrl": "/demo/echo"`): the engine calls them on the port it
 * listens on, whatever it is.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Router } from '@koa/router';
import type { Context } from 'koa';
import { type BodyLimits, readBody } from '../ingress/body.js';

const DEFAULT_FAIL_SHARE = 0.3;

/**
 * Whether /demo/fail?share=`share` fails the request `requestId`: the first 32 bits of its SHA-256
 * as a fraction of 2^32 fall below `share`. Deterministic, so that the same requests fail every time.
 */
export function isFailedOnPurpose(requestId: string, share: number): boolean {
  return createHash('sha256').update(requestId).digest().readUInt32BE(0) / 2 ** 32 < share;
}

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
  router.post('/fail', async (ctx) => {
    const share = Math.min(Math.max(Number(ctx.query['share'] ?? DEFAULT_FAIL_SHARE) || 0, 0), 1);
    if (isFailedOnPurpose(ctx.get('x-request-id'), share)) {
      ctx.status = 500;
      ctx.body = { error: `the demo service fails this request on purpose: its X-Request-Id is in the failing share ${share}` };
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
