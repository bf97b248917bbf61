/**
 * Submitting to a flow, and reading a request's status and result.
 */
import type { Flows } from '../../engine/flows.js';
import type { Logger } from '../../observability/log.js';
import { submittedTotal } from '../../observability/metrics.js';
import { ATTR, setActiveSpanAttribute } from '../../observability/spans.js';
import type { PayloadStore } from '../../storage/payloads.js';
import { checkRequestQuery } from '../../operations/list-query.js';
import { getRequest, listRequests, requestListBody, unknownRequestMessage } from '../../operations/requests.js';
import { type RequestStatus, type StatusRow, type StatusTable, toStatusJson } from '../../storage/status-table.js';
import { callbackRefusal } from '../../engine/callback-targets.js';
import type { Completions } from '../../engine/completions.js';
import type { OwnAddress } from '../../common/own-address.js';
import { Backlog } from '../backlog.js';
import { readBody } from '../body.js';
import { preferredWaitInSeconds, waitForFinal, waitSignal } from '../prefer-wait.js';
import { HttpProblem } from '../problem.js';
import { checkedOrThrow, requestParametersOf } from '../query.js';
import { createRouter, type IngressContext, type IngressRouter } from '../state.js';
import { acceptSubmission, type SubmissionResult, type SubmitDeps } from '../submit.js';
import { submissionTraceOf, traceSubmission } from '../submit-trace.js';

export interface RequestRoutesDeps extends SubmitDeps {
  flows: Flows;
  log: Logger;
  statusTable: StatusTable;
  payloads: PayloadStore;
  maxBodyBytes: number;
  /** server.config.requestTimeoutMs: a body that has not arrived by then is answered 408. */
  requestTimeoutInMs: number;
  /** rbac.config.ownRequestsOnly and adminRoles: who may read which requests. */
  ownership: { ownRequestsOnly: boolean; adminRoles: readonly string[] };
  allowedCallbackHosts: readonly string[];
  /** Where the engine's HTTP servers listen (none until they do): X-Callback-Url may not point there. */
  ownAddresses: () => readonly OwnAddress[];
  /** Word of requests this process's engine finished, for submissions with `Prefer: wait`. */
  completions: Completions;
  /** server.config.maxWaitSeconds: the cap on `Prefer: wait=N`. */
  maxWaitInSeconds: number;
  /** Aborts when the engine begins to shut down: waiting submissions answer 202 at once. */
  shuttingDown: AbortSignal;
}

/** Seconds a client polling an unfinished result should wait. */
const RESULT_RETRY_AFTER_IN_SECONDS = 1;
/** Result blobs streamed to clients at once; each holds a storage connection while it flows. */
const MAX_RESULT_STREAMS = 32;
/** How long storage may take to start a result blob's download. */
const RESULT_FIRST_BYTE_TIMEOUT_IN_MS = 30_000;
/** Seconds a client refused for a flow's backlog should wait. */
const BACKLOG_RETRY_AFTER_IN_SECONDS = 5;
/** Seconds a client refused by admission control should wait. */
const ADMISSION_RETRY_AFTER_IN_SECONDS = 1;
/** The longest a submission may wait for admission (then 429), and storage may take for it (then 503). */
const SUBMIT_TIMEOUT_IN_MS = 10_000;

const statusUrl = (id: string): string => `/api/requests/${encodeURIComponent(id)}`;
const resultUrl = (id: string): string => `${statusUrl(id)}/result`;

export function createRequestRoutes(deps: RequestRoutesDeps): IngressRouter {
  const router = createRouter();
  const backlog = new Backlog();

  router.post('/api/flows/:flowName', traceSubmission(), async (ctx) => {
    const flowName = ctx.params['flowName'] ?? '';
    const flow = deps.flows.get(flowName);
    if (!flow) throw new HttpProblem(404, 'unknown-flow', 'Not Found', `there is no flow named "${flowName}"`);
    const callbackUrl = ctx.get('x-callback-url') || null;
    const callbackRefused = callbackUrl === null ? null : callbackRefusal(callbackUrl, { allowedHosts: deps.allowedCallbackHosts, ownAddresses: deps.ownAddresses });
    if (callbackRefused !== null) throw new HttpProblem(400, 'callback-not-allowed', 'Bad Request', callbackRefused);
    if (await backlog.isFull(flow)) {
      throw new HttpProblem(429, 'backlog-full', 'Too Many Requests', `flow "${flow.name}" has ${flow.maxBacklog} or more requests waiting (maxBacklog); try again later`, {
        'retry-after': String(BACKLOG_RETRY_AFTER_IN_SECONDS),
      });
    }
    const idempotencyKey = idempotencyKeyOf(ctx);
    // The wait counts from the request's arrival, as the client counts it (RFC 7240 section 4.3).
    const waitInSeconds = preferredWaitInSeconds(ctx.get('prefer'), deps.maxWaitInSeconds);
    const waiting = waitInSeconds === null ? null : waitSignal(waitInSeconds, ctx.res, deps.shuttingDown);
    const submission = {
      flow,
      readBody: () => readBody(ctx, { maxBytes: deps.maxBodyBytes, timeoutInMs: deps.requestTimeoutInMs }),
      idempotencyKey,
      contentType: ctx.get('content-type') || 'application/octet-stream',
      ...submissionTraceOf(ctx),
      callbackUrl,
      principal: ctx.state.principal?.name ?? null,
      waitForFinal: waiting === null ? null : (requestId: string) => waitForFinal(deps, requestId, waiting.signal),
    };
    let result: SubmissionResult;
    try {
      result = await acceptSubmission(deps, submission, SUBMIT_TIMEOUT_IN_MS);
    } finally {
      waiting?.dispose();
    }
    recordSubmission(ctx, result, flow.name, deps.log);
    if ((result.kind === 'accepted' || result.kind === 'idempotent-replay') && result.final !== null && waitInSeconds !== null) {
      const headers: Record<string, string> = { 'preference-applied': `wait=${waitInSeconds}`, 'content-location': resultUrl(result.requestId) };
      if (result.kind === 'idempotent-replay') headers['idempotent-replayed'] = 'true';
      try {
        if (await answerFinal(ctx, result.final.status, headers)) return;
      } catch (err) {
        if (err instanceof HttpProblem) throw err;
        // The request is accepted whatever happened to its result blob: the client reads it later.
        deps.log.warn({ err, requestId: result.requestId }, 'request.wait_result_unreadable');
      }
    }
    answerSubmission(ctx, result, flow.name);
  });

  router.get('/api/requests', async (ctx) => {
    const query = checkedOrThrow(checkRequestQuery(requestParametersOf(ctx), deps.flows));
    ctx.body = requestListBody(await listRequests(deps.statusTable, query, ownerOf(ctx, deps.ownership), AbortSignal.timeout(30_000)));
  });

  router.get('/api/requests/:id', async (ctx) => {
    const row = await getRow(deps.statusTable, ctx.params['id'] ?? '', ownerOf(ctx, deps.ownership));
    ctx.state.requestId = row.status.id;
    ctx.body = toStatusJson(row.status);
  });

  /**
   * A result blob streamed to the client, at most MAX_RESULT_STREAMS at once (false beyond, and
   * nothing is answered): memory stays flat however large the result and however many read it.
   */
  let streams = 0;
  const streamBlob = async (ctx: IngressContext, blobName: string): Promise<boolean> => {
    if (streams >= MAX_RESULT_STREAMS) return false;
    streams++;
    const reading = new AbortController();
    let isDone = false;
    const done = (): void => {
      if (isDone) return;
      isDone = true;
      streams--;
      reading.abort();
    };
    // The client gone or the answer sent: the download ends and the place is free.
    ctx.res.once('close', done);
    // A deadline for the download to start, not for the client to read it all.
    const timer = setTimeout(() => reading.abort(), RESULT_FIRST_BYTE_TIMEOUT_IN_MS);
    try {
      const { stream, byteLength } = await deps.payloads.open(blobName, reading.signal);
      ctx.body = stream;
      if (byteLength !== null) ctx.length = byteLength;
      return true;
    } catch (err) {
      done();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };

  /**
   * Answers a finished request's result: 200 with the endpoint's body and type, or the 502 problem
   * once dead-lettered, each with `headers`. False, with nothing answered, while it is unfinished
   * or when its blob cannot be streamed now (too many streams).
   */
  const answerFinal = async (ctx: IngressContext, status: RequestStatus, headers: Record<string, string>): Promise<boolean> => {
    if (status.status === 'completed' && status.result) {
      const { result } = status;
      if ('bytes' in result) ctx.body = result.bytes;
      else if (!(await streamBlob(ctx, result.blobName))) return false;
      ctx.status = 200;
      // After the body, which would set its own type: the endpoint's header, verbatim. The result is
      // the endpoint's, not the engine's: never sniffed, never run as a page of the engine's origin.
      ctx.set('content-type', result.contentType);
      ctx.set('content-security-policy', 'sandbox');
      ctx.set(headers);
      return true;
    }
    if (status.status === 'dead-lettered') {
      throw new HttpProblem(502, 'dead-lettered', 'Bad Gateway', `the request was dead-lettered at step ${status.step}: ${status.lastError ?? 'no detail'}`, headers);
    }
    return false;
  };

  router.get('/api/requests/:id/result', async (ctx) => {
    const row = await getRow(deps.statusTable, ctx.params['id'] ?? '', ownerOf(ctx, deps.ownership));
    const { status } = row;
    ctx.state.requestId = status.id;
    if (await answerFinal(ctx, status, {})) return;
    if (status.status === 'completed' && status.result) {
      throw new HttpProblem(429, 'too-many-requests', 'Too Many Requests', `${MAX_RESULT_STREAMS} results are being read already; try again shortly`, {
        'retry-after': String(RESULT_RETRY_AFTER_IN_SECONDS),
      });
    }
    ctx.status = 202;
    ctx.set('location', resultUrl(status.id));
    ctx.set('retry-after', String(RESULT_RETRY_AFTER_IN_SECONDS));
    ctx.body = toStatusJson(status);
  });

  return router;
}

/** A stored submission's log line, metric and request id, whatever the answer. */
function recordSubmission(ctx: IngressContext, result: SubmissionResult, flow: string, log: Logger): void {
  if (result.kind !== 'accepted' && result.kind !== 'idempotent-replay') return;
  const { requestId } = result;
  ctx.state.requestId = requestId;
  setActiveSpanAttribute(ATTR.requestId, requestId);
  if (result.kind === 'accepted') {
    log.info({ requestId, flow }, 'request.accepted');
    submittedTotal.inc({ flow });
  } else {
    log.info({ requestId, flow }, 'request.replayed_idempotent');
  }
}

/** The answer to a submission: 202 (new or idempotent replay), 422 or 429. */
function answerSubmission(ctx: IngressContext, result: SubmissionResult, flow: string): void {
  switch (result.kind) {
    case 'accepted':
    case 'idempotent-replay': {
      const { requestId } = result;
      ctx.status = 202;
      ctx.set('location', statusUrl(requestId));
      if (result.kind === 'accepted') {
        ctx.body = { id: requestId, flow, status: 'queued' };
      } else {
        ctx.set('idempotent-replayed', 'true');
        ctx.body = { id: requestId, flow, status: result.status };
      }
      return;
    }
    case 'key-reused':
      throw new HttpProblem(422, 'idempotency-key-reused', 'Unprocessable Content', 'this Idempotency-Key was used for a different body');
    case 'overloaded':
      throw new HttpProblem(429, 'too-many-requests', 'Too Many Requests', 'the engine is accepting as many requests as it can (threadpool.config); try again shortly', {
        'retry-after': String(ADMISSION_RETRY_AFTER_IN_SECONDS),
      });
    default:
      throw new Error(`unhandled submission result ${(result satisfies never as { kind: string }).kind}`);
  }
}

/** Printable ASCII, 1 to 255 characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

function idempotencyKeyOf(ctx: IngressContext): string | null {
  const key = ctx.get('idempotency-key');
  if (key === '') return null;
  if (!IDEMPOTENCY_KEY.test(key)) throw new HttpProblem(400, 'bad-idempotency-key', 'Bad Request', 'Idempotency-Key must be 1 to 255 printable ASCII characters');
  return key;
}

/**
 * The row of a request id; 404 for an id the engine never hands out, without asking storage, and
 * for another principal's request when the caller may read only its own (404, not 403: the caller
 * learns nothing of requests that are not its own).
 */
async function getRow(statusTable: StatusTable, id: string, owner: string | null): Promise<StatusRow> {
  const row = await getRequest(statusTable, id, owner, AbortSignal.timeout(30_000));
  if (!row) throw new HttpProblem(404, 'unknown-request', 'Not Found', unknownRequestMessage(id));
  return row;
}

/**
 * Whose requests the caller may read: null for all (ownRequestsOnly off, or a token with an admin
 * role), else its principal's name.
 */
function ownerOf(ctx: IngressContext, { ownRequestsOnly, adminRoles }: RequestRoutesDeps['ownership']): string | null {
  const { principal } = ctx.state;
  if (!ownRequestsOnly || !principal || principal.roles.some((role) => adminRoles.includes(role))) return null;
  return principal.name;
}
