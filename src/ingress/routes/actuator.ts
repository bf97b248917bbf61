/**
 * Operational routes: health for load balancers and orchestrators, Prometheus metrics, and
 * build and runtime information (never a secret).
 */
import { registry } from '../../observability/metrics.js';
import { createRouter, type IngressRouter } from '../state.js';

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
  /** Brings the gauges up to date (in-flight steps, queue depths) before a scrape. */
  refreshGauges: () => Promise<void>;
  info: () => Record<string, unknown>;
}

export function createActuatorRoutes(deps: ActuatorDeps): IngressRouter {
  const router = createRouter({ prefix: '/actuator' });
  router.get('/health', async (ctx) => {
    const report = await deps.health();
    ctx.status = report.status === 'UP' ? 200 : 503;
    ctx.body = report;
  });
  router.get('/prometheus', async (ctx) => {
    await deps.refreshGauges();
    ctx.set('content-type', registry.contentType);
    ctx.body = await registry.metrics();
  });
  router.get('/info', (ctx) => {
    ctx.body = deps.info();
  });
  return router;
}
