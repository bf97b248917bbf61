/**
 * Operational routes: health for load balancers and orchestrators.
 */
import { Router } from '@koa/router';

export interface ComponentHealth {
  status: 'UP' | 'DOWN';
  detail?: string;
}

export interface HealthReport {
  status: 'UP' | 'DOWN';
  components: Record<string, ComponentHealth>;
}

export interface ActuatorDeps {
  health: () => Promise<HealthReport>;
}

export function createActuatorRoutes(deps: ActuatorDeps): Router {
  const router = new Router({ prefix: '/actuator' });
  router.get('/health', async (ctx) => {
    const report = await deps.health();
    ctx.status = report.status === 'UP' ? 200 : 503;
    ctx.body = report;
  });
  return router;
}
