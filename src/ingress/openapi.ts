/**
 * The OpenAPI 3.1 description of every route of the API, served at GET /openapi.json. A test keeps
 * it true: every route of the routers is described here, and nothing else is; while a management
 * port serves `/actuator/*`, the document of the main port leaves those routes out.
 *
 * Written from the route code (routes/*.ts, problem.ts, query.ts, body.ts): every status listed is
 * one the route can answer. Problem types are `urn:async-engine:problem:{slug}`, or `about:blank`
 * for Koa's own errors; the slugs are named in the responses' descriptions.
 */
import { createRouter, type IngressRouter } from './state.js';
import { VERSION } from '../version.js';

type Json = Record<string, unknown>;

const PROBLEM_JSON = 'application/problem+json';
const JSON_TYPE = 'application/json';

const schemaRef = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const headerRef = (name: string): Json => ({ $ref: `#/components/headers/${name}` });
const parameterRef = (name: string): Json => ({ $ref: `#/components/parameters/${name}` });
const responseRef = (name: string): Json => ({ $ref: `#/components/responses/${name}` });

/** A problem+json answer. */
function problem(description: string, headers: Json = {}): Json {
  return { description, ...(Object.keys(headers).length > 0 ? { headers } : {}), content: { [PROBLEM_JSON]: { schema: schemaRef('Problem') } } };
}

/** A JSON answer. */
function json(description: string, schema: Json, headers: Json = {}): Json {
  return { description, ...(Object.keys(headers).length > 0 ? { headers } : {}), content: { [JSON_TYPE]: { schema } } };
}

/** The schema of one page of a list route: `{items, nextCursor}`. */
function listPage(itemSchema: string, description: string): Json {
  return {
    type: 'object',
    description,
    required: ['items', 'nextCursor'],
    additionalProperties: false,
    properties: {
      items: { type: 'array', items: schemaRef(itemSchema) },
      nextCursor: { type: ['string', 'null'], description: 'Pass as `cursor` to get the next page; null on the last page.' },
    },
  };
}

/** An operation, with the answers every route may give: 401 and 403 with auth "oidc", and 500. */
function operation(op: { operationId: string; summary: string; description?: string; tags: string[]; parameters?: Json[]; requestBody?: Json; responses: Json }): Json {
  return {
    ...op,
    responses: {
      ...op.responses,
      '401': responseRef('Unauthorized'),
      '403': responseRef('Forbidden'),
      // Routes without a 503 of their own can still answer it while the OpenID provider is unreachable.
      ...('503' in op.responses ? {} : { '503': responseRef('AuthUnavailable') }),
      default: problem('Any other failure: `500` when the engine fails unexpectedly (detail withheld).'),
    },
  };
}

/** An operation that needs no token: no 401 or 403, and `security: []` overriding the document's. */
function unguardedOperation(op: { operationId: string; summary: string; description?: string; tags: string[]; responses: Json }): Json {
  return { ...op, security: [], responses: { ...op.responses, default: problem('Any other failure: `500` when the engine fails unexpectedly (detail withheld).') } };
}

const probeAnswer = (what: string): Json => json(what, schemaRef('ProbeStatus'));

const STORAGE_UNAVAILABLE =
  '`storage-unavailable`: storage is unreachable, refused the credentials or did not answer in time (`Retry-After: 5`). ' +
  'With auth "oidc" also `auth-unavailable`: the OpenID provider cannot be reached. `shutting-down`: the engine is stopping (`Retry-After: 1`).';

/** 503 of a route that calls storage. */
const storageUnavailable = (): Json => problem(STORAGE_UNAVAILABLE, { 'Retry-After': headerRef('Retry-After') });

const badQuery = (what: string): Json => problem(`\`bad-query\`: ${what}, or a parameter given more than once.`);
const unknownFlowInQuery = (): Json => problem('`unknown-flow`: `flow` names no configured flow.');
const unknownDlqEntry = (): Json => problem('`unknown-dlq-entry`: there is no DLQ entry with this id (also for a malformed id).');

const paths: Json = {
  '/api/flows/{flowName}': {
    post: operation({
      operationId: 'submitRequest',
      summary: 'Submit a request to a flow',
      description:
        "The body, of any content type, is forwarded as is to the flow's first step (its `Content-Type` with it; `application/octet-stream` when absent). " +
        'At most `threadpool.config.maxPoolSize` submissions are read and stored at once and `maxQueueSize` wait; a submission gets 10 s in all. ' +
        'With `Prefer: wait=N` the answer is held up to N seconds for the result (200, or 502 once dead-lettered), keeping its place in admission control meanwhile.',
      tags: ['requests'],
      parameters: [
        { name: 'flowName', in: 'path', required: true, description: 'A flow of `flow.config`.', schema: { type: 'string' } },
        {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description:
            'The same key on the same flow within 24 hours answers 202 with the first request\'s id and `Idempotent-Replayed: true`, and creates nothing; ' +
            'the same key with a different body answers 422. 1 to 255 printable ASCII characters.',
          schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[!-~][ -~]{0,254}$' },
        },
        {
          name: 'X-Callback-Url',
          in: 'header',
          required: false,
          description:
            'An http(s) URL on a host of `callback.config.allowedHosts`; the status JSON is POSTed to it when the request is completed or dead-lettered, at least once (dedupe by `X-Request-Id`, `status` and `completedAt`).',
          schema: { type: 'string', format: 'uri' },
        },
        {
          name: 'traceparent',
          in: 'header',
          required: false,
          description:
            'W3C Trace Context. While tracing is off (no OTEL_* variable), passed on as is to every endpoint of the flow; while it is on, the submission\'s span is its child and each endpoint receives its own call\'s span. Dropped when malformed.',
          schema: { type: 'string' },
        },
        {
          name: 'tracestate',
          in: 'header',
          required: false,
          description: 'W3C Trace Context vendor data that goes with `traceparent`; passed on to the endpoints while tracing is on. Dropped when malformed, over 32 members or over 512 characters.',
          schema: { type: 'string' },
        },
        {
          name: 'Prefer',
          in: 'header',
          required: false,
          description:
            'RFC 7240 preferences. `wait=N` (N whole seconds, at most `server.config.maxWaitSeconds`, larger N are capped): the answer waits up to N seconds for the request to finish. ' +
            'Other preferences are ignored, and a `wait` that is not a positive whole number is as if absent. ' +
            'Time up, the client gone or the engine shutting down: the usual 202. With `Idempotency-Key`, a replay waits too.',
          schema: { type: 'string', examples: ['wait=10'] },
        },
      ],
      requestBody: {
        required: false,
        description: 'Any bytes, at most `server.config.maxBodyBytes`.',
        content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
      },
      responses: {
        '200': {
          description:
            "`Prefer: wait=N` and the request completed within N seconds: the last endpoint's body with its Content-Type verbatim, as `GET /api/requests/{id}/result` answers it; `Content-Security-Policy: sandbox`.",
          headers: {
            'Preference-Applied': { description: 'The wait applied, `wait=N` (N capped to `server.config.maxWaitSeconds`).', schema: { type: 'string' } },
            'Content-Location': { description: 'Where the result stays readable, `/api/requests/{id}/result`.', schema: { type: 'string' } },
            'X-Request-Id': headerRef('X-Request-Id'),
            'Idempotent-Replayed': headerRef('Idempotent-Replayed'),
            'Content-Security-Policy': { description: '`sandbox`.', schema: { type: 'string' } },
          },
          content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
        },
        '202': json('Accepted (or, with a known Idempotency-Key, accepted before). `status` is the current one on a replayed key. Also the answer to `Prefer: wait=N` when N seconds pass first.', schemaRef('SubmitAccepted'), {
          Location: { description: 'The status URL, `/api/requests/{id}`.', schema: { type: 'string' } },
          'X-Request-Id': headerRef('X-Request-Id'),
          'Idempotent-Replayed': headerRef('Idempotent-Replayed'),
        }),
        '400': problem(
          '`callback-not-allowed`: `X-Callback-Url` is not an http(s) URL on an allowed host; `bad-idempotency-key`: the key is not 1 to 255 printable ASCII characters. Nothing is stored.',
        ),
        '404': problem('`unknown-flow`: there is no flow of that name.'),
        '408': problem('`request-timeout`: the body did not arrive within `server.config.requestTimeoutMs`; nothing was stored and the connection is closed.'),
        '413': problem('`body-too-large`: the body is larger than `server.config.maxBodyBytes` (a larger Content-Length, with `Expect: 100-continue` too, is refused before the body is read; the connection is closed).'),
        '422': problem('`idempotency-key-reused`: this Idempotency-Key was used on this flow for a different body.'),
        '502': problem('`dead-lettered`: with `Prefer: wait=N`, the request was dead-lettered within N seconds; the detail names the step and its last error.', {
          'Preference-Applied': { description: 'The wait applied, `wait=N`.', schema: { type: 'string' } },
          'X-Request-Id': headerRef('X-Request-Id'),
        }),
        '429': problem('`too-many-requests`: admission control is full, or no place became free within 10 s (`Retry-After: 1`); `backlog-full`: the flow\'s initial queue holds `maxBacklog` messages (`Retry-After: 5`), nothing was stored.', {
          'Retry-After': headerRef('Retry-After'),
        }),
        '503': storageUnavailable(),
      },
    }),
  },
  '/api/requests': {
    get: operation({
      operationId: 'listRequests',
      summary: 'List requests',
      description: 'One page of requests, in request-id order (Table Storage cannot sort by time).',
      tags: ['requests'],
      parameters: [parameterRef('flowFilter'), parameterRef('statusFilter'), parameterRef('limit'), parameterRef('cursor')],
      responses: {
        '200': json('A page of status JSON.', schemaRef('StatusPage')),
        '400': badQuery('`status` is not one of the five states, `limit` is not an integer from 1 to 1000, or `cursor` is not a `nextCursor`'),
        '404': unknownFlowInQuery(),
        '503': storageUnavailable(),
      },
    }),
  },
  '/api/requests/{id}': {
    get: operation({
      operationId: 'getRequestStatus',
      summary: "A request's status",
      tags: ['requests'],
      parameters: [parameterRef('requestId')],
      responses: {
        '200': json('The status JSON.', schemaRef('StatusJson'), { 'X-Request-Id': headerRef('X-Request-Id') }),
        '404': problem('`unknown-request`: there is no request with this id.'),
        '503': storageUnavailable(),
      },
    }),
  },
  '/api/requests/{id}/result': {
    get: operation({
      operationId: 'getRequestResult',
      summary: "A request's result",
      tags: ['requests'],
      parameters: [parameterRef('requestId')],
      responses: {
        '200': {
          description: "Completed: the last endpoint's body, with its Content-Type verbatim, streamed; `Content-Security-Policy: sandbox`, so a browser never runs it as a page of the engine.",
          headers: { 'X-Request-Id': headerRef('X-Request-Id'), 'Content-Security-Policy': { description: '`sandbox`.', schema: { type: 'string' } } },
          content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
        },
        '202': json('Not finished yet: the status JSON. Poll the `Location` again after `Retry-After` (1) seconds.', schemaRef('StatusJson'), {
          Location: { description: 'This URL, `/api/requests/{id}/result`.', schema: { type: 'string' } },
          'Retry-After': headerRef('Retry-After'),
          'X-Request-Id': headerRef('X-Request-Id'),
        }),
        '404': problem('`unknown-request`: there is no request with this id.'),
        '429': problem('`too-many-requests`: 32 large results (kept in blobs) are being streamed already; try again after `Retry-After` (1) seconds.', {
          'Retry-After': headerRef('Retry-After'),
        }),
        '502': problem('`dead-lettered`: the request was dead-lettered; the detail names the step and its last error.', { 'X-Request-Id': headerRef('X-Request-Id') }),
        '503': storageUnavailable(),
      },
    }),
  },
  '/api/flows': {
    get: operation({
      operationId: 'listFlows',
      summary: 'The configured flows and the live state of their steps',
      tags: ['flows'],
      responses: {
        '200': json('Every flow of `flow.config`, its steps in chain order.', schemaRef('FlowList')),
        '503': storageUnavailable(),
      },
    }),
  },
  '/api/flows/{flowName}/throughput': {
    get: operation({
      operationId: 'getFlowThroughput',
      summary: "A flow's throughput over the last 15 minutes, as this process counted it",
      description:
        'Requests completed and dead-lettered in 10-second buckets over the last 15 minutes, and per step the messages finished and the attempts failed in the last minute, ' +
        'from counts each engine process keeps in memory (no storage call). The counts are those of the process that answers: an ingress (`--role ingress`) runs no steps and counts nothing, ' +
        'and each replica counts only its own work. The dashboard (`GET /ui`) draws it.',
      tags: ['flows'],
      parameters: [{ name: 'flowName', in: 'path', required: true, description: 'A flow of `flow.config`.', schema: { type: 'string' } }],
      responses: {
        '200': json('The series, oldest bucket first; the last bucket is the one under way.', schemaRef('FlowThroughput')),
        '404': problem('`unknown-flow`: there is no flow of that name.'),
      },
    }),
  },
  '/api/dlq': {
    get: operation({
      operationId: 'listDlqEntries',
      summary: 'List dead-letter entries',
      description: 'One page of DLQ entries, newest first within a flow.',
      tags: ['dlq'],
      parameters: [parameterRef('flowFilter'), parameterRef('limit'), parameterRef('cursor')],
      responses: {
        '200': json('A page of DLQ JSON.', schemaRef('DlqPage')),
        '400': badQuery('`limit` is not an integer from 1 to 1000, or `cursor` is not a `nextCursor`'),
        '404': unknownFlowInQuery(),
        '503': storageUnavailable(),
      },
    }),
  },
  '/api/dlq/replay': {
    post: operation({
      operationId: 'replayDlqFlow',
      summary: 'Replay every DLQ entry of a flow, in the background',
      description:
        'Starts a replay job and answers at once; the engine that received the request replays the entries, 8 at a time. ' +
        'Follow it at `Location`. Entries that cannot be replayed are skipped and stay in the DLQ; an entry another replay is replaying is left to it.',
      tags: ['dlq'],
      parameters: [{ name: 'flow', in: 'query', required: true, description: 'The flow whose entries to replay.', schema: { type: 'string', minLength: 1 } }],
      responses: {
        '202': json('The job was started.', schemaRef('ReplayJobAccepted'), {
          Location: { description: 'The job, `/api/dlq/replays/{jobId}`.', schema: { type: 'string' } },
        }),
        '400': badQuery('`flow` is missing'),
        '404': unknownFlowInQuery(),
        '503': storageUnavailable(),
      },
    }),
  },
  '/api/dlq/replays/{jobId}': {
    get: operation({
      operationId: 'getDlqReplayJob',
      summary: 'The progress of a DLQ replay job',
      description:
        'From storage, so any engine answers for any job. The counts are written every 25 entries or every second, and at the end with `done: true`. ' +
        '`done` stays false for a job whose engine stopped or failed before the end: start another one (entries already replayed are gone from the DLQ).',
      tags: ['dlq'],
      parameters: [parameterRef('jobId')],
      responses: {
        '200': json('The job.', schemaRef('ReplayJob')),
        '404': problem('`unknown-replay-job`: there is no job with this id (also for a malformed id, answered without asking storage).'),
        '503': storageUnavailable(),
      },
    }),
  },
  '/api/dlq/{dlqId}': {
    get: operation({
      operationId: 'getDlqEntry',
      summary: 'A DLQ entry',
      tags: ['dlq'],
      parameters: [parameterRef('dlqId')],
      responses: {
        '200': json('The DLQ JSON.', schemaRef('DlqJson')),
        '404': unknownDlqEntry(),
        '503': storageUnavailable(),
      },
    }),
    delete: operation({
      operationId: 'deleteDlqEntry',
      summary: 'Discard a DLQ entry',
      description: "The entry is removed for good, with the payload blobs kept for its replay.",
      tags: ['dlq'],
      parameters: [parameterRef('dlqId')],
      responses: {
        '204': { description: 'Deleted.' },
        '404': unknownDlqEntry(),
        '503': storageUnavailable(),
      },
    }),
  },
  '/api/dlq/{dlqId}/replay': {
    post: operation({
      operationId: 'replayDlqEntry',
      summary: 'Replay a DLQ entry',
      description: 'The request is queued again at the step it failed, attempts reset, and the entry is removed once the message is sent.',
      tags: ['dlq'],
      parameters: [parameterRef('dlqId')],
      responses: {
        '202': json('Queued again.', schemaRef('ReplayAccepted'), {
          'X-Request-Id': { ...headerRef('X-Request-Id'), description: 'The replayed request; absent for a message that could not be read.' },
        }),
        '404': unknownDlqEntry(),
        '409': problem(
          '`replay-impossible`: there is nothing to replay (the input expired with its message) or the flow has no such step any more (a request whose status row retention deleted is made again). ' +
            '`replay-in-progress`: another request or job is replaying the entry (it claimed the entry first); the entry leaves the DLQ when that replay is done.',
        ),
        '503': storageUnavailable(),
      },
    }),
  },
  '/actuator/health': {
    get: operation({
      operationId: 'getHealth',
      summary: 'Health, for load balancers and orchestrators',
      description: 'Storage, the OpenID provider under auth "oidc", the pollers of a process that runs them (an ingress, `--role ingress`, has none), and whether this replica is the sweeper; an answer is reused for a second.',
      tags: ['actuator'],
      responses: {
        '200': json('Up.', schemaRef('Health')),
        '503': {
          description: 'Down (`status: "DOWN"`, the failing component with its `detail`); with auth "oidc" also `auth-unavailable` as problem+json.',
          content: { [JSON_TYPE]: { schema: schemaRef('Health') }, [PROBLEM_JSON]: { schema: schemaRef('Problem') } },
        },
      },
    }),
  },
  '/actuator/health/liveness': {
    get: unguardedOperation({
      operationId: 'getLiveness',
      summary: 'Liveness probe, without a token',
      description: 'UP while the process and its poll loops run (an ingress, `--role ingress`, has none). Reads no storage, so a storage outage does not get a healthy replica restarted.',
      tags: ['actuator'],
      responses: { '200': probeAnswer('`{"status": "UP"}`.'), '503': probeAnswer('`{"status": "DOWN"}`: the engine no longer polls (it is stopping).') },
    }),
  },
  '/actuator/health/readiness': {
    get: unguardedOperation({
      operationId: 'getReadiness',
      summary: 'Readiness probe, without a token',
      description: 'UP while storage answers, and the OpenID provider under auth "oidc"; the answer is reused for a second.',
      tags: ['actuator'],
      responses: { '200': probeAnswer('`{"status": "UP"}`.'), '503': probeAnswer('`{"status": "DOWN"}`: storage, or the OpenID provider, does not answer.') },
    }),
  },
  '/actuator/prometheus': {
    get: operation({
      operationId: 'getPrometheusMetrics',
      summary: 'Metrics in the Prometheus text format',
      description: 'Every metric name starts with `async_engine_`; queue depths are read at each scrape (one storage call per queue, a slow one keeps the last value).',
      tags: ['actuator'],
      responses: {
        '200': { description: 'The metrics.', content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } } },
      },
    }),
  },
  '/actuator/info': {
    get: operation({
      operationId: 'getInfo',
      summary: 'Version, start time, uptime and flows (never a secret)',
      tags: ['actuator'],
      responses: { '200': json('The information.', schemaRef('Info')) },
    }),
  },
  '/openapi.json': {
    get: operation({
      operationId: 'getOpenApiDocument',
      summary: 'This document',
      tags: ['meta'],
      responses: { '200': json('The OpenAPI 3.1 description of the API.', { type: 'object' }) },
    }),
  },
};

const REQUEST_STATES = ['queued', 'processing', 'retrying', 'completed', 'dead-lettered'];

const schemas: Json = {
  RequestState: {
    type: 'string',
    enum: REQUEST_STATES,
    description:
      '`queued`: accepted, waiting for or in its first step; `processing`: earlier steps done, waiting for or in step `step`; ' +
      '`retrying`: an attempt failed and a redelivery is scheduled; `completed`: the result is ready; `dead-lettered`: waits in the DLQ table.',
  },
  StatusJson: {
    type: 'object',
    description: "A request's status.",
    required: ['id', 'flow', 'status', 'step', 'stepQueue', 'attempt', 'createdAt', 'updatedAt'],
    additionalProperties: false,
    properties: {
      id: { type: 'string', format: 'uuid' },
      flow: { type: 'string' },
      status: schemaRef('RequestState'),
      step: { type: 'integer', minimum: 0, description: '0-based index of the current step.' },
      stepQueue: { type: 'string', description: "The current step's source queue." },
      attempt: { type: 'integer', minimum: 1, description: 'Counts from 1; while `retrying`, the attempt to come.' },
      createdAt: { type: 'string', format: 'date-time' },
      updatedAt: { type: 'string', format: 'date-time' },
      completedAt: { type: 'string', format: 'date-time', description: 'Once completed or dead-lettered.' },
      lastHttpStatus: { type: 'integer', description: 'Once an endpoint answered.' },
      error: { type: 'string', description: 'After a failure.' },
      callback: {
        type: 'object',
        description: 'When the request was submitted with `X-Callback-Url`.',
        required: ['url', 'status'],
        additionalProperties: false,
        properties: { url: { type: 'string', format: 'uri' }, status: { type: 'string', enum: ['pending', 'delivered', 'failed'] } },
      },
      submittedBy: { type: 'string', description: 'Under auth "oidc": the principal (`principal-attribute`) that submitted the request.' },
    },
  },
  SubmitAccepted: {
    type: 'object',
    required: ['id', 'flow', 'status'],
    additionalProperties: false,
    properties: { id: { type: 'string', format: 'uuid' }, flow: { type: 'string' }, status: schemaRef('RequestState') },
  },
  StatusPage: listPage('StatusJson', 'One page of requests.'),
  DlqJson: {
    type: 'object',
    description: 'A dead-letter entry.',
    required: ['dlqId', 'requestId', 'flow', 'step', 'sourceQueue', 'endpoint', 'attempts', 'error', 'reason', 'deadLetteredAt'],
    additionalProperties: false,
    properties: {
      dlqId: { type: 'string', description: '`{flow}~{inverted time}-{message id}`.' },
      requestId: { type: ['string', 'null'], description: 'null for a message that could not be read (its raw text is kept for a replay).' },
      flow: { type: 'string' },
      step: { type: 'integer', minimum: 0 },
      sourceQueue: { type: 'string' },
      endpoint: { type: 'string', description: "The step's endpoint URL or endpointName." },
      attempts: { type: 'integer', minimum: 0 },
      lastHttpStatus: { type: 'integer', description: 'When an endpoint answered.' },
      error: { type: 'string' },
      reason: {
        type: 'string',
        enum: ['exhausted', 'poison', 'expired'],
        description:
          '`exhausted`: the redeliveries were used up; `poison`: the message could not be read, named another flow or step, or passed `maxDequeueCount`; ' +
          "`expired`: a redelivery would outlive the queue's `timeToLive`, or the message expired in its queue unprocessed.",
      },
      deadLetteredAt: { type: 'string', format: 'date-time' },
    },
  },
  DlqPage: listPage('DlqJson', 'One page of DLQ entries.'),
  ReplayAccepted: {
    type: 'object',
    required: ['id'],
    additionalProperties: false,
    properties: { id: { type: ['string', 'null'], description: 'The replayed request; null for a message that could not be read, sent back as it was.' } },
  },
  ReplayJobAccepted: {
    type: 'object',
    required: ['jobId'],
    additionalProperties: false,
    properties: { jobId: { type: 'string', description: '`replay-{UUID}`.' } },
  },
  ReplayJob: {
    type: 'object',
    description: 'A DLQ replay job.',
    required: ['jobId', 'flow', 'replayed', 'skipped', 'failed', 'done'],
    additionalProperties: false,
    properties: {
      jobId: { type: 'string' },
      flow: { type: 'string' },
      replayed: { type: 'integer', minimum: 0, description: 'Entries queued again and removed from the DLQ.' },
      skipped: { type: 'integer', minimum: 0, description: 'Entries that cannot be replayed (`replay-impossible`); they stay in the DLQ.' },
      failed: { type: 'integer', minimum: 0, description: 'Entries whose replay failed otherwise (storage); they stay in the DLQ.' },
      done: { type: 'boolean', description: 'Every entry was tried. False while the job runs, and for good when its engine stopped before the end.' },
    },
  },
  FlowList: {
    type: 'object',
    required: ['items'],
    additionalProperties: false,
    properties: {
      items: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'steps'],
          additionalProperties: false,
          properties: { name: { type: 'string' }, steps: { type: 'array', items: schemaRef('FlowStep') } },
        },
      },
    },
  },
  FlowStep: {
    type: 'object',
    required: ['step', 'sourceQueueName', 'endpoint', 'targetQueueName', 'maxThreads', 'callTimeout', 'approximateMessageCount', 'inFlight', 'pollDelay'],
    additionalProperties: false,
    properties: {
      step: { type: 'integer', minimum: 0 },
      sourceQueueName: { type: 'string' },
      endpoint: { type: 'string', description: 'The endpointName, or the endpointUrl.' },
      targetQueueName: { type: ['string', 'null'], description: 'null on the last step.' },
      maxThreads: { type: 'integer', minimum: 1 },
      callTimeout: { type: 'integer', minimum: 0, description: "Milliseconds the step's whole endpoint call may take, its own callTimeout or http.connection.config's; 0 = no limit." },
      approximateMessageCount: { type: 'integer', minimum: 0, description: "Azure's estimate, messages hidden while being worked on included." },
      inFlight: { type: 'integer', minimum: 0, description: "This engine's messages of the step at work." },
      pollDelay: {
        type: 'integer',
        minimum: 0,
        description: "Milliseconds this engine's poller of the step waits before its next receive: `delay` while messages come, backing off up to `maxIdleDelay` while the queue is empty; 0 while it receives.",
      },
    },
  },
  FlowThroughput: {
    type: 'object',
    required: ['flow', 'role', 'bucketSeconds', 'buckets', 'lastMinute', 'steps'],
    additionalProperties: false,
    properties: {
      flow: { type: 'string' },
      role: { type: 'string', enum: ['all', 'ingress', 'worker'], description: 'The `--role` of the process whose counts these are; an ingress runs no steps.' },
      bucketSeconds: { type: 'integer', minimum: 1, description: 'The width of a bucket: 10.' },
      buckets: {
        type: 'array',
        description: '90 buckets, oldest first: the last 15 minutes.',
        items: {
          type: 'object',
          required: ['start', 'completed', 'deadLettered'],
          additionalProperties: false,
          properties: {
            start: { type: 'string', format: 'date-time' },
            completed: { type: 'integer', minimum: 0, description: 'Requests whose last step this process completed.' },
            deadLettered: { type: 'integer', minimum: 0, description: 'Requests this process dead-lettered (a step, or the expiry sweep).' },
          },
        },
      },
      lastMinute: {
        type: 'object',
        description: 'The last six buckets (the one under way included).',
        required: ['completed', 'deadLettered'],
        additionalProperties: false,
        properties: { completed: { type: 'integer', minimum: 0 }, deadLettered: { type: 'integer', minimum: 0 } },
      },
      steps: {
        type: 'array',
        description: 'Per step, in chain order, over the last minute.',
        items: {
          type: 'object',
          required: ['step', 'completed', 'failed'],
          additionalProperties: false,
          properties: {
            step: { type: 'integer', minimum: 0 },
            completed: { type: 'integer', minimum: 0, description: 'Messages of the step this process finished: forwarded to the next step, or the request completed.' },
            failed: { type: 'integer', minimum: 0, description: 'Attempts that failed: a redelivery scheduled, or dead-lettered.' },
          },
        },
      },
    },
  },
  ProbeStatus: {
    type: 'object',
    required: ['status'],
    additionalProperties: false,
    properties: { status: { type: 'string', enum: ['UP', 'DOWN'] } },
  },
  Health: {
    type: 'object',
    required: ['status', 'components'],
    additionalProperties: false,
    properties: {
      status: { type: 'string', enum: ['UP', 'DOWN'] },
      components: {
        type: 'object',
        description: '`storage`; `auth` under auth "oidc"; `pollers` and `sweeper` where the process runs them (roles `all` and `worker`); `sweeper` is always UP, its `detail` says whether this replica runs the sweeps.',
        additionalProperties: {
          type: 'object',
          required: ['status'],
          additionalProperties: false,
          properties: { status: { type: 'string', enum: ['UP', 'DOWN'] }, detail: { type: 'string' } },
        },
      },
    },
  },
  Info: {
    type: 'object',
    required: ['version', 'role', 'startedAt', 'uptimeSeconds', 'flows'],
    additionalProperties: false,
    properties: {
      version: { type: 'string' },
      role: { type: 'string', enum: ['all', 'ingress', 'worker'], description: 'What this process runs (`async-engine start --role`).' },
      startedAt: { type: 'string', format: 'date-time' },
      uptimeSeconds: { type: 'integer', minimum: 0 },
      flows: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'steps'],
          additionalProperties: false,
          properties: { name: { type: 'string' }, steps: { type: 'integer', minimum: 1, description: 'How many steps the flow has.' } },
        },
      },
    },
  },
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details (`application/problem+json`).',
    required: ['type', 'title', 'status', 'detail'],
    additionalProperties: false,
    properties: {
      type: { type: 'string', format: 'uri', description: '`urn:async-engine:problem:{slug}`, or `about:blank` for generic HTTP errors.' },
      title: { type: 'string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string' },
    },
  },
};

const parameters: Json = {
  requestId: {
    name: 'id',
    in: 'path',
    required: true,
    description: 'A request id as returned by the submission (anything else answers 404).',
    schema: { type: 'string', format: 'uuid' },
  },
  dlqId: { name: 'dlqId', in: 'path', required: true, description: 'A `dlqId` from the DLQ JSON.', schema: { type: 'string' } },
  jobId: {
    name: 'jobId',
    in: 'path',
    required: true,
    description: 'A `jobId` as returned by `POST /api/dlq/replay` (anything else answers 404).',
    schema: { type: 'string', pattern: '^replay-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' },
  },
  flowFilter: { name: 'flow', in: 'query', required: false, description: 'Only this flow (a configured one, else 404).', schema: { type: 'string' } },
  statusFilter: { name: 'status', in: 'query', required: false, description: 'Only requests in this state.', schema: schemaRef('RequestState') },
  limit: { name: 'limit', in: 'query', required: false, description: 'Page size.', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } },
  cursor: { name: 'cursor', in: 'query', required: false, description: 'The `nextCursor` of the previous page (opaque).', schema: { type: 'string' } },
};

const headers: Json = {
  'X-Request-Id': { description: 'The id of the request the answer is about.', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } },
  'Idempotent-Replayed': {
    description: '`true` when the Idempotency-Key was seen before and nothing was created; absent otherwise.',
    schema: { type: 'string', enum: ['true'] },
  },
  'WWW-Authenticate': { description: 'The bearer challenge, e.g. `Bearer realm="...", error="invalid_token"`.', schema: { type: 'string' } },
};

const responses: Json = {
  Unauthorized: problem('With auth "oidc" only: `unauthorized`, the bearer token is missing, invalid or expired.', {
    'WWW-Authenticate': headerRef('WWW-Authenticate'),
  }),
  Forbidden: problem(
    'With auth "oidc" only: `forbidden`, the token lacks a role `rbac.config` requires for this URL (with `WWW-Authenticate`); ' +
      '`https-required`, the request came over plain HTTP against `openid.config.ssl-required`.',
    { 'WWW-Authenticate': headerRef('WWW-Authenticate') },
  ),
  AuthUnavailable: problem('With auth "oidc" only: `auth-unavailable`, the OpenID provider cannot be reached (`Retry-After: 5`).', {
    'Retry-After': headerRef('Retry-After'),
  }),
};

const components: Json = {
  schemas,
  parameters,
  headers,
  responses,
  securitySchemes: {
    bearer: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description:
        'Applies only while `server.config.auth` is "oidc" (the default): an access token of the `openid.config` realm, on every route. ' +
        '`rbac.config` maps URL prefixes to the roles required. With auth "none" no token is needed.',
    },
  },
};

const DESCRIPTION =
  'Errors are `application/problem+json`. Other methods on these paths answer 405, unknown paths 404, both as problem+json. ' +
  'Authentication applies only while `server.config.auth` is "oidc" (the default); with "none" every route is open.';
const ELSEWHERE = ' The `/actuator/*` routes are served on the management port (`server.config.managementPort`), without a token, and answer 404 here.';

const TAGS = [
  { name: 'requests', description: 'Submitting to a flow, and reading status and results.' },
  { name: 'flows', description: 'The configured flows.' },
  { name: 'dlq', description: 'The dead-letter table.' },
  { name: 'actuator', description: 'Health, metrics and information.' },
  { name: 'meta', description: 'This description.' },
];

/**
 * The document of the server that serves the API: with the `/actuator/*` routes, or without them
 * while a management port serves them (server.config.managementPort).
 */
export function createOpenApiDocument({ hasActuator }: { hasActuator: boolean }): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'async-engine',
      version: VERSION,
      summary: 'Multi-step asynchronous pipelines on Azure Storage Queues.',
      description: hasActuator ? DESCRIPTION : DESCRIPTION + ELSEWHERE,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: hasActuator ? TAGS : TAGS.filter((tag) => tag.name !== 'actuator'),
    security: [{ bearer: [] }],
    paths: hasActuator ? paths : Object.fromEntries(Object.entries(paths).filter(([path]) => !path.startsWith('/actuator/'))),
    components,
  };
}

export function createOpenApiRoutes(served: { hasActuator: boolean }): IngressRouter {
  const router = createRouter();
  const document = createOpenApiDocument(served);
  router.get('/openapi.json', (ctx) => {
    ctx.body = document;
  });
  return router;
}
