/**
 * Submitting to a flow, and reading a request's status and result.
 */
import { Router } from '@koa/router';
import type { FlowDefinition } from '../../config/types.js';
import type { Logger } from '../../observability/log.js';
import { submittedTotal } from '../../observability/metrics.js';
import type { PayloadStore } from '../../storage/payloads.js';
import { REQUEST_STATES, toStatusJson, type RequestState, type StatusRow, type StatusTable } from '../../storage/status-table.js';
import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { isCallbackAllowed } from '../../engine/callbacks.js';
import { EngineError } from '../../errors.js';
import { hashBody, type IdempotencyKeys } from '../../storage/idempotency-keys.js';
import type { Admission } from '../admission.js';
import { readBody } from '../body.js';
import { HttpProblem } from '../problem.js';
import { cursorOf, flowOf, limitOf, queryOf } from '../query.js';
import { submitRequest, type SubmitDeps } from '../submit.js';

export interface RequestRoutesDeps extends SubmitDeps {
  flows: ReadonlyMap<string, FlowDefinition>;
  log: Logger;
  statusTable: StatusTable;
  payloads: PayloadStore;
  maxBodyBytes: number;
  admission: Admission;
  idempotency: IdempotencyKeys;
  allowedCallbackHosts: readonly string[];
}

/** Seconds a client polling an unfinished result should wait. */
const RESULT_RETRY_AFTER_IN_SECONDS = 1;
/** Seconds a client refused by admission control should wait. */
const ADMISSION_RETRY_AFTER_IN_SECONDS = 1;
/** The longest a submission may take, waiting for admission included; then 429 or 503, never a hang. */
const SUBMIT_TIMEOUT_IN_MS = 10_000;

const statusUrl = (id: string): string => `/api/requests/${encodeURIComponent(id)}`;

export function createRequestRoutes(deps: RequestRoutesDeps): Router {
  const router = new Router();

  router.post('/api/flows/:flowName', async (ctx) => {
    const flow = deps.flows.get(ctx.params['flowName']!);
    if (!flow) throw new HttpProblem(404, 'unknown-flow', 'Not Found', `there is no flow named "${ctx.params['flowName']}"`);
    const callbackUrl = ctx.get('x-callback-url') || null;
    if (callbackUrl !== null && !isCallbackAllowed(callbackUrl, deps.allowedCallbackHosts)) {
      throw new HttpProblem(400, 'callback-not-allowed', 'Bad Request', 'X-Callback-Url must be an http(s) URL on a host of callback.config.allowedHosts');
    }
    const signal = AbortSignal.timeout(SUBMIT_TIMEOUT_IN_MS);
    let isStarted = false;
    let admitted: { value: { id: string; isReplayed: boolean } } | null;
    try {
      // The place is taken before the body is read: waiting clients cost no memory.
      admitted = await deps.admission.run(async () => {
        isStarted = true;
        const body = await readBody(ctx, deps.maxBodyBytes);
        const key = idempotencyKeyOf(ctx);
        const requestId = randomUUID();
        if (key !== null) {
          const claim = await deps.idempotency.claim(flow.name, key, requestId, hashBody(body), signal);
          if (claim.kind === 'existing') {
            if (claim.bodyHash !== hashBody(body)) {
              throw new HttpProblem(422, 'idempotency-key-reused', 'Unprocessable Content', 'this Idempotency-Key was used for a different body');
            }
            return { id: claim.requestId, isReplayed: true };
          }
        }
        const submission = { requestId, flow, body, contentType: ctx.get('content-type') || 'application/octet-stream', traceparent: ctx.get('traceparent') || null, callbackUrl };
        try {
          await submitRequest(deps, submission, signal);
        } catch (err) {
          if (key !== null) await deps.idempotency.release(flow.name, key, AbortSignal.timeout(5000)).catch(() => undefined);
          throw err;
        }
        return { id: requestId, isReplayed: false };
      }, signal);
    } catch (err) {
      if (!signal.aborted) throw err;
      if (!isStarted) admitted = null; // waited its whole time for a place: the engine is overloaded
      else throw new EngineError('AE_STORAGE_UNAVAILABLE', `storage did not answer within ${SUBMIT_TIMEOUT_IN_MS} ms`, { cause: err });
    }
    if (admitted === null) {
      throw new HttpProblem(429, 'too-many-requests', 'Too Many Requests', 'the engine is accepting as many requests as it can (threadpool.config); try again shortly', {
        'retry-after': String(ADMISSION_RETRY_AFTER_IN_SECONDS),
      });
    }
    const { id, isReplayed } = admitted.value;
    ctx.state['requestId'] = id;
    ctx.status = 202;
    ctx.set('location', statusUrl(id));
    if (isReplayed) {
      ctx.set('idempotent-replayed', 'true');
      const row = await deps.statusTable.get(id, signal);
      ctx.body = { id, flow: flow.name, status: row?.status.status ?? 'queued' };
      deps.log.info({ requestId: id, flow: flow.name }, 'request.replayed_idempotent');
      return;
    }
    deps.log.info({ requestId: id, flow: flow.name }, 'request.accepted');
    submittedTotal.inc({ flow: flow.name });
    ctx.body = { id, flow: flow.name, status: 'queued' };
  });

  router.get('/api/requests', async (ctx) => {
    const flow = flowOf(ctx, deps.flows, false);
    const status = queryOf(ctx, 'status');
    if (status !== null && !(REQUEST_STATES as readonly string[]).includes(status)) {
      throw new HttpProblem(400, 'bad-query', 'Bad Request', `status must be one of ${REQUEST_STATES.join(', ')}`);
    }
    const page = await deps.statusTable.list({ flow, status: status as RequestState | null }, limitOf(ctx), cursorOf(ctx), AbortSignal.timeout(30_000));
    ctx.body = { items: page.items.map(toStatusJson), nextCursor: page.nextCursor };
  });

  router.get('/api/requests/:id', async (ctx) => {
    const row = await getRow(deps.statusTable, ctx.params['id']!);
    ctx.state['requestId'] = row.status.id;
    ctx.body = toStatusJson(row.status);
  });

  router.get('/api/requests/:id/result', async (ctx) => {
    const row = await getRow(deps.statusTable, ctx.params['id']!);
    const { status } = row;
    ctx.state['requestId'] = status.id;
    if (status.status === 'completed' && status.result) {
      const { result } = status;
      ctx.status = 200;
      ctx.body = 'bytes' in result ? result.bytes : await deps.payloads.get(result.blobName, AbortSignal.timeout(60_000));
      // After the body, which would set its own type: the endpoint's header, verbatim.
      ctx.set('content-type', result.contentType);
      return;
    }
    if (status.status === 'dead-lettered') {
      throw new HttpProblem(502, 'dead-lettered', 'Bad Gateway', `the request was dead-lettered at step ${status.step}: ${status.lastError ?? 'no detail'}`);
    }
    ctx.status = 202;
    ctx.set('location', `${statusUrl(status.id)}/result`);
    ctx.set('retry-after', String(RESULT_RETRY_AFTER_IN_SECONDS));
    ctx.body = toStatusJson(status);
  });

  return router;
}

/** Printable ASCII, 1 to 255 characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

function idempotencyKeyOf(ctx: Context): string | null {
  const key = ctx.get('idempotency-key');
  if (key === '') return null;
  if (!IDEMPOTENCY_KEY.test(key)) throw new HttpProblem(400, 'bad-idempotency-key', 'Bad Request', 'Idempotency-Key must be 1 to 255 printable ASCII characters');
  return key;
}

const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The row of a request id; 404 for an id the engine never hands out, without asking storage. */
async function getRow(statusTable: StatusTable, id: string): Promise<StatusRow> {
  const row = REQUEST_ID.test(id) ? await statusTable.get(id, AbortSignal.timeout(30_000)) : null;
  if (!row) throw new HttpProblem(404, 'unknown-request', 'Not Found', `there is no request with id "${id}"`);
  return row;
}
