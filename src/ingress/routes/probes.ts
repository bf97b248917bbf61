/**
 * Probes for load balancers and orchestrators: they never need a token (under auth "oidc" a
 * Kubernetes probe has none) and so reveal nothing but `{"status": "UP" | "DOWN"}`.
 * - liveness: the process and its poll loops run; no storage call, so a storage outage does not
 *   get a healthy replica restarted;
 * - readiness: storage answers, and the OpenID provider under oidc; traffic should wait otherwise.
 * `/actuator/health` with its details stays behind authentication.
 */
import { createRouter, type IngressRouter } from '../state.js';

export type ProbeStatus = 'UP' | 'DOWN';

export interface ProbeDeps {
  isLive: () => boolean;
  /** Whether storage (and the provider under oidc) answer; cached like health. */
  isReady: () => Promise<boolean>;
}

export function createProbeRoutes(deps: ProbeDeps): IngressRouter {
  const router = createRouter({ prefix: '/actuator/health' });
  const answer = (isUp: boolean): { status: number; body: { status: ProbeStatus } } => ({ status: isUp ? 200 : 503, body: { status: isUp ? 'UP' : 'DOWN' } });
  router.get('/liveness', (ctx) => {
    const { status, body } = answer(deps.isLive());
    ctx.status = status;
    ctx.body = body;
  });
  router.get('/readiness', async (ctx) => {
    const { status, body } = answer(await deps.isReady());
    ctx.status = status;
    ctx.body = body;
  });
  return router;
}
