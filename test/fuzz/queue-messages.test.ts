/**
 * Property-based fuzzing of the step runner: random messages sent straight into the first step's
 * source queue of a running engine: base64 or not, JSON or not, envelopes of other versions, with
 * fields missing or of the wrong type, valid envelopes of other flows and steps, messages near
 * Azure's 64 KiB limit, any Unicode.
 *
 * Properties, per message:
 * - one that is not a readable envelope of this flow and step is poison: it lands in the DLQ once,
 *   reason `poison`, no request named, its raw text kept, and no endpoint is ever called for it;
 * - a readable envelope of this flow and step whose request has no status row (forged, or the row
 *   was removed after a failed send) follows the normal path, which reads nothing before the call
 *   (step-runner.ts): its endpoint is called at most once, the status write then finds no row, and
 *   the message is dropped as stale (settle.ts): no DLQ entry, no status row, no next message;
 * - every message leaves the queue, and the engine keeps serving: a normal submission afterwards
 *   completes.
 *
 * Replay a failure with the seed fast-check prints: FUZZ_SEED=<seed> (FUZZ_RUNS to run longer).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DlqTable } from '../../src/storage/dlq-table.js';
import { decodeEnvelope } from '../../src/storage/envelope.js';
import { StatusTable } from '../../src/storage/status-table.js';
import { uniqueQueueName } from '../support/azurite.js';
import { engineSuite, flowDocument, submit, waitForStatus, type TestEngine } from '../support/engine.js';
import type { EndpointServer } from '../support/endpoints.js';
import { eventually } from '../support/eventually.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261202);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 30);
/** Azure Queues' largest message: 64 KiB. */
const MAX_MESSAGE_CHARS = 64 * 1024;
/** How long a message may take to leave the queue once sent. */
const SETTLE_TIMEOUT_IN_MS = 20_000;

// ---------------------------------------------------------------------------------------------
// Messages

/** How the generator made a message; `expected` is decided from what the engine may read. */
type Origin = 'garbage' | 'valid' | 'other-step' | 'mutated';

interface FuzzMessage {
  origin: Origin;
  text: string;
}

const base64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64');
const graphemes = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: 'grapheme', maxLength });

const inlineBody = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }).map((data) => ({ kind: 'inline', encoding: 'utf8', data })),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ kind: 'inline', encoding: 'base64', data: Buffer.from(bytes).toString('base64') })),
);
/** A payload blob name as payloads.ts writes them, under the request's own prefix. */
const blobNameOf = (requestId: string): fc.Arbitrary<string> => fc.uuid({ version: 4 }).map((id) => `${requestId}/step-0-${id}`);

/** An envelope as the engine writes them, of `flow` and `step`, for a request without a status row. */
const envelopeOf = (flow: string, step: number): fc.Arbitrary<Record<string, unknown>> =>
  fc.uuid({ version: 4 }).chain((requestId) =>
    fc.record({
      v: fc.constant(1),
      requestId: fc.constant(requestId),
      flow: fc.constant(flow),
      step: fc.constant(step),
      attempt: fc.integer({ min: 1, max: 4 }),
      contentType: fc.constantFrom('application/json', 'text/plain; charset=utf-8', 'application/octet-stream', ''),
      statusEtag: fc.constantFrom(`W/"datetime'2026-12-01T10%3A00%3A00.1234567Z'"`, '*', ''),
      traceparent: fc.constantFrom(null, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
      callbackUrl: fc.constantFrom(null, 'http://127.0.0.1:9/callback'),
      acceptedAt: fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
      body: fc.oneof(
        { arbitrary: inlineBody, weight: 4 },
        { arbitrary: fc.tuple(blobNameOf(requestId), fc.nat({ max: 10_000_000 })).map(([blobName, byteLength]) => ({ kind: 'blob', blobName, byteLength })), weight: 1 },
      ),
      blobs: fc.array(blobNameOf(requestId), { maxLength: 2 }),
    }),
  );

const FIELDS = ['v', 'requestId', 'flow', 'step', 'attempt', 'contentType', 'statusEtag', 'traceparent', 'callbackUrl', 'acceptedAt', 'body', 'blobs'] as const;
type Field = (typeof FIELDS)[number];

/** Values of the wrong type or shape for each field, beside any JSON value. */
const oddValues: Record<Field, unknown[]> = {
  v: [0, 2, '1', null, true, 1.5, -1, [1], 'x'.repeat(40_000)],
  requestId: ['', ' ', 'a/b', 'a#b', 'a?b', 'a\\b', '\u0000', '\u007f', '\u0085', 'x'.repeat(2000), '☃', '../..', "x' or '1' eq '1", 7],
  flow: ['other', 'nope', '', 'FLOW', 'flow ', 'x'.repeat(40_000), 7, null],
  step: [1, -1, 1.5, '0', 99, 1e21, null, Number.MAX_SAFE_INTEGER],
  attempt: [0, -1, 1.5, '1', 1e300, Number.MAX_SAFE_INTEGER, null],
  contentType: ['a\r\nb: c', '\u0000', '☃', 'x'.repeat(20_000), 7, null],
  statusEtag: ['a\r\nb', '☃', '\u0000', 'x'.repeat(20_000), 7, null],
  traceparent: ['a\r\nb', '☃', 7, ''],
  callbackUrl: ['javascript:alert(1)', 'http://169.254.169.254/', 7, ''],
  acceptedAt: ['2026-13-45T99:99:99Z', '0', 'Infinity', '', 7, null],
  body: [
    { kind: 'blob', blobName: '', byteLength: 0 },
    { kind: 'blob', blobName: '00000000-0000-4000-8000-000000000000/step-0-00000000-0000-4000-8000-000000000000', byteLength: 2 },
    { kind: 'blob', blobName: '../../x', byteLength: -1 },
    { kind: 'blob', blobName: 'a?b#c', byteLength: 1 },
    { kind: 'blob', blobName: 'x'.repeat(2000), byteLength: 1 },
    { kind: 'inline', encoding: 'base64', data: '%%% not base64 %%%' },
    { kind: 'inline', encoding: 'utf8', data: 7 },
    { kind: 'inline', encoding: 'hex', data: 'ff' },
    { kind: 'queue' },
    [],
    'inline',
  ],
  blobs: [[1], 'x', [''], null, {}, ['00000000-0000-4000-8000-000000000000/result-00000000-0000-4000-8000-000000000000'], ['../x']],
};

/** One change to an envelope: a field removed, or set to an odd value or any JSON value. */
type Mutation = { field: string; remove: true } | { field: string; remove: false; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom(...FIELDS).map((field): Mutation => ({ field, remove: true })),
  fc.constantFrom(...FIELDS).chain((field) => fc.constantFrom(...oddValues[field]).map((value): Mutation => ({ field, remove: false, value }))),
  fc.tuple(fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 2 })).map(([field, value]): Mutation => ({ field, remove: false, value })),
  fc.tuple(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 })).map(([field, value]): Mutation => ({ field, remove: false, value })),
);

function mutate(envelope: Record<string, unknown>, mutations: readonly Mutation[]): Record<string, unknown> {
  const e = { ...envelope };
  for (const m of mutations) {
    if (m.remove) delete e[m.field];
    else e[m.field] = m.value;
  }
  return e;
}

const garbage: fc.Arbitrary<string> = fc.oneof(
  graphemes(300),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes).toString('base64')),
  fc.json().map(base64),
  fc.jsonValue().map((value) => JSON.stringify(value) ?? 'undefined'),
  fc.constantFrom('', ' ', '=', '====', 'null', 'e30=', base64('null'), base64('[]'), base64('{}'), base64('"envelope"'), base64('{"v":1}'), '<QueueMessage/>', ']]>'),
  // The JSON of a good envelope, never base64-encoded.
  envelopeOf('flow', 0).map((e) => JSON.stringify(e)),
  // Base64 of a good envelope, cut short or encoded twice.
  envelopeOf('flow', 0).chain((e) => fc.integer({ min: 1, max: 40 }).map((cut) => base64(e).slice(0, -cut - 4))),
  envelopeOf('flow', 0).map((e) => base64(base64(e))),
  // Near the 64 KiB limit: base64 of random bytes, and Unicode that is three bytes a character.
  fc.integer({ min: MAX_MESSAGE_CHARS - 2000, max: MAX_MESSAGE_CHARS }).map((n) => Buffer.alloc(Math.floor((n * 3) / 4), 0xa5).toString('base64')),
  fc.integer({ min: 10_000, max: 22_000 }).map((n) => '☃'.repeat(n)),
);

/**
 * Text XML 1.0 can carry. Azure refuses to store anything else; Azurite stores it and then never
 * returns it to a receive (nor a peek), so no engine could ever see such a message: it is left out.
 */
const isXmlText = (text: string): boolean =>
  [...text].every((c) => (c >= ' ' || c === '\t' || c === '\n' || c === '\r') && c !== '\ufffe' && c !== '\uffff');

const message: fc.Arbitrary<FuzzMessage> = fc.oneof(
  { arbitrary: garbage.filter(isXmlText).map((text): FuzzMessage => ({ origin: 'garbage', text })), weight: 4 },
  {
    arbitrary: fc.oneof(
      envelopeOf('flow', 0).map(base64),
      // base64url and wrapped base64 decode to the same bytes.
      envelopeOf('flow', 0).map((e) => Buffer.from(JSON.stringify(e)).toString('base64url')),
      envelopeOf('flow', 0).map((e) => base64(e).replace(/(.{76})/g, '$1\n')),
      // Large, still under the limit: the envelope with a 45 KB inline body.
      envelopeOf('flow', 0).map((e) => base64({ ...e, body: { kind: 'inline', encoding: 'utf8', data: 'x'.repeat(45_000) } })),
    ).map((text): FuzzMessage => ({ origin: 'valid', text })),
    weight: 2,
  },
  {
    arbitrary: fc
      .oneof(envelopeOf('flow', 1), envelopeOf('other', 0), envelopeOf('nope', 0), envelopeOf('flow', 2))
      .map((e): FuzzMessage => ({ origin: 'other-step', text: base64(e) })),
    weight: 2,
  },
  {
    arbitrary: fc
      .tuple(envelopeOf('flow', 0), fc.array(mutation, { minLength: 1, maxLength: 3 }))
      .map(([e, mutations]): FuzzMessage => ({ origin: 'mutated', text: base64(mutate(e, mutations)) })),
    weight: 4,
  },
);

/**
 * What must become of a message: `stale` for a readable envelope of the fuzzed step (its request
 * has no status row), `poison` for anything else.
 */
function expectedOutcome(text: string): { kind: 'stale'; requestId: string } | { kind: 'poison'; requestId: string | null } {
  try {
    const envelope = decodeEnvelope(text);
    if (envelope.flow === 'flow' && envelope.step === 0) return { kind: 'stale', requestId: envelope.requestId };
    return { kind: 'poison', requestId: envelope.requestId };
  } catch {
    return { kind: 'poison', requestId: null };
  }
}

// ---------------------------------------------------------------------------------------------
// The engine

interface Harness {
  engine: TestEngine;
  first: EndpointServer;
  second: EndpointServer;
  other: EndpointServer;
  queueName: string;
  dlq: DlqTable;
  statusTable: StatusTable;
}

/** A two-step flow "flow" and a one-step flow "other", each step its own recording endpoint. */
async function startHarness(suite: ReturnType<typeof engineSuite>): Promise<Harness> {
  const [first, second, other] = [await suite.endpoint(), await suite.endpoint(), await suite.endpoint()];
  // A visibility timeout of a second: a message the engine fails on comes back at once.
  const queue = { visibilityTimeout: 1000, maxDequeueCount: 2 };
  const document = flowDocument(suite.azurite, { steps: [{ url: first.url() }, { url: second.url() }], queue });
  const otherQueue = uniqueQueueName('other');
  (document['queue.config'] as object[]).push({ name: otherQueue, delay: 50, greedy: true, maxMessages: 8, ...queue });
  (document['flow.config'] as object[]).push({
    flowName: 'other',
    queueMappings: [{ initial: true, sourceQueueName: otherQueue, endpointUrl: other.url(), maxThreads: 4 }],
  });
  const engine = await suite.engine(document);
  const queueName = engine.runtime.flows.get('flow')?.steps[0]?.source.queue.name;
  assert.ok(queueName);
  const { clients } = engine.runtime.storage;
  return { engine, first, second, other, queueName, dlq: new DlqTable(clients.dlqTable), statusTable: new StatusTable(clients.statusTable) };
}

/** The message ids, with the characters a DLQ id keeps (dlq-table.ts). */
const dlqSuffixOf = (messageId: string): string => `-${messageId.replace(/[^A-Za-z0-9-]/g, '')}`;

async function listDlq(h: Harness): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let cursor: string | null = null;
  do {
    const query: string = `flow=flow&limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
    const response = await fetch(`${h.engine.url}/api/dlq?${query}`);
    assert.equal(response.status, 200);
    const page = (await response.json()) as { items: Array<Record<string, unknown>>; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return items;
}

interface Sent {
  message: FuzzMessage;
  messageId: string;
  expected: ReturnType<typeof expectedOutcome>;
}

/** Sends the batch; a message the queue itself refuses (too large, not XML-safe) is left out. */
async function sendAll(h: Harness, batch: FuzzMessage[]): Promise<{ sent: Sent[]; refused: number }> {
  const queue = h.engine.runtime.storage.clients.queues.getQueueClient(h.queueName);
  const sent: Sent[] = [];
  let refused = 0;
  for (const m of batch) {
    try {
      const { messageId } = await queue.sendMessage(m.text);
      sent.push({ message: m, messageId, expected: expectedOutcome(m.text) });
    } catch {
      refused++;
    }
  }
  return { sent, refused };
}

/** Text a queue keeps exactly: no lone surrogates, no control characters (which XML cannot carry). */
const isPlainText = (text: string): boolean => !/[\p{Cs}\p{Cc}]/u.test(text);

const describeMessage = (m: FuzzMessage): string => `${m.origin} message ${JSON.stringify(m.text.slice(0, 200))}${m.text.length > 200 ? ` (${m.text.length} chars)` : ''}`;

/** The sent messages not dead-lettered, with the engine's last error on each: the stuck ones are among them. */
async function describeStuck(h: Harness, sent: readonly Sent[]): Promise<string> {
  const errors = h.engine.logged('step.error');
  const dlqIds = (await listDlq(h)).map((entry) => String(entry['dlqId']));
  const lines = sent
    .filter((s) => !dlqIds.some((id) => id.endsWith(dlqSuffixOf(s.messageId))))
    .map((s) => {
      const last = errors.filter((l) => l['messageId'] === s.messageId).at(-1);
      const err = last?.['err'] as { message?: string } | undefined;
      return `- ${describeMessage(s.message)}: expected ${s.expected.kind}; ${last ? `step.error ${JSON.stringify(err?.message?.slice(0, 300))}` : 'no step.error'}`;
    });
  return `not dead-lettered (a stale one may be gone already):\n${lines.join('\n')}`;
}

describe('queue message fuzzing', () => {
  const suite = engineSuite();

  it('a message that is not an envelope of its step is dead-lettered as poison without an endpoint call; a forged valid one is dropped as stale', async (t) => {
    const h = await startHarness(suite);
    const queue = h.engine.runtime.storage.clients.queues.getQueueClient(h.queueName);
    const counts = { poison: 0, stale: 0, refused: 0 };
    const staleIds = new Set<string>();

    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), async (batch) => {
        const { sent, refused } = await sendAll(h, batch);
        counts.refused += refused;
        for (const s of sent) {
          // The generator's own labels agree with what the engine can read.
          if (s.message.origin === 'garbage' || s.message.origin === 'other-step') assert.equal(s.expected.kind, 'poison', `${describeMessage(s.message)} reads as an envelope of the step`);
          if (s.message.origin === 'valid') assert.equal(s.expected.kind, 'stale', `${describeMessage(s.message)} does not read as an envelope`);
          if (s.expected.kind === 'stale') staleIds.add(s.expected.requestId);
        }

        // Every message leaves the queue (dead-lettered or dropped), none loops.
        await eventually(
          async () => {
            const { approximateMessagesCount } = await queue.getProperties();
            if (approximateMessagesCount !== 0) assert.fail(`messages still in the queue after ${SETTLE_TIMEOUT_IN_MS} ms:\n${await describeStuck(h, sent)}`);
          },
          { timeoutInMs: SETTLE_TIMEOUT_IN_MS, intervalInMs: 100 },
        );

        const dlq = await listDlq(h);
        for (const s of sent) {
          const entries = dlq.filter((entry) => String(entry['dlqId']).endsWith(dlqSuffixOf(s.messageId)));
          if (s.expected.kind === 'poison') {
            counts.poison++;
            assert.equal(entries.length, 1, `one DLQ entry for ${describeMessage(s.message)}`);
            const [entry] = entries;
            assert.equal(entry?.['reason'], 'poison');
            assert.equal(entry?.['flow'], 'flow');
            assert.equal(entry?.['step'], 0);
            assert.equal(entry?.['sourceQueue'], h.queueName);
            assert.equal(entry?.['requestId'], null, 'a message not of this step names no request (its own may not exist)');
            assert.equal(typeof entry?.['error'], 'string');
            const stored = await h.dlq.get(String(entry?.['dlqId']), AbortSignal.timeout(10_000));
            assert.equal(stored?.replay.kind, 'raw', 'the raw text is kept for a replay');
            if (stored?.replay.kind === 'raw' && isPlainText(s.message.text)) assert.equal(stored.replay.messageText, s.message.text, 'the raw text is kept as it was');
          } else {
            counts.stale++;
            assert.equal(entries.length, 0, `no DLQ entry for the forged ${describeMessage(s.message)}`);
            assert.equal(await h.statusTable.get(s.expected.requestId, AbortSignal.timeout(10_000)), null, 'no status row appears for a forged request');
          }
        }

        // Endpoints: only forged valid envelopes reach the first step, each at most once; nothing goes further.
        for (const call of h.first.calls) assert.ok(staleIds.has(String(call.headers['x-request-id'])), `the endpoint was called for ${call.headers['x-request-id']}, not a readable envelope of its step`);
        for (const id of staleIds) assert.ok(h.first.calls.filter((c) => c.headers['x-request-id'] === id).length <= 1, `request ${id} was called more than once`);
        assert.equal(h.second.calls.length, 0, 'a stale message is not forwarded');
        assert.equal(h.other.calls.length, 0, 'a message of flow "other" in this queue never reaches that flow');
      }),
      // No shrinking: a message that failed to leave the queue stays there and would fail every smaller run too.
      { seed: SEED, numRuns: RUNS, includeErrorInReport: true, endOnFailure: true },
    );
    t.diagnostic(`poison ${counts.poison}, stale ${counts.stale}, refused by the queue ${counts.refused}; endpoint calls ${h.first.calls.length}`);
    assert.ok(counts.poison > 20 && counts.stale > 5, `enough of each kind to mean something: ${JSON.stringify(counts)}`);

    // The engine keeps serving: a normal submission goes through both steps.
    const health = await fetch(`${h.engine.url}/actuator/health`);
    assert.equal(health.status, 200, await health.text());
    const id = await submit(h.engine, 'flow', '{"after":"the fuzz"}');
    await waitForStatus(h.engine, id, 'completed');
    assert.equal(h.second.calls.filter((c) => c.headers['x-request-id'] === id).length, 1);
  });
});
