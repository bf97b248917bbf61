import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callbackQueueName } from '../../src/config/callback-queue.js';
import { queueName } from '../../src/config/checks.js';
import { dueCallback } from '../../src/engine/callback-delivery.js';
import { type CallbackMessage, CallbackMessageError, decodeCallbackMessage, encodeCallbackMessage } from '../../src/storage/callback-message.js';
import type { RequestStatus } from '../../src/storage/status-table.js';

const ID = '6f1c2b9e-8d7a-4c3b-9e2f-1a2b3c4d5e6f';
const COMPLETED_AT = '2026-12-01T10:20:30.456Z';
const message: CallbackMessage = { v: 1, requestId: ID, completedAt: COMPLETED_AT, attempt: 1 };

const asText = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');

describe('callback queue messages', () => {
  it('read back what the engine writes', () => {
    assert.deepEqual(decodeCallbackMessage(encodeCallbackMessage(message)), message);
    assert.deepEqual(decodeCallbackMessage(encodeCallbackMessage({ ...message, attempt: 101 })), { ...message, attempt: 101 });
  });

  it('refuse anything else, saying why without quoting it', () => {
    for (const [text, why] of [
      ['not base64 at all!', /not base64-encoded JSON/],
      [Buffer.from('{"v":1,').toString('base64'), /not base64-encoded JSON/],
      [asText([message]), /not a JSON object/],
      [asText(7), /not a JSON object/],
      [asText({ ...message, v: 2 }), /not a callback message of version 1/],
      [asText({ ...message, requestId: 'not-a-uuid' }), /invalid fields: requestId$/],
      [asText({ ...message, requestId: ID.toUpperCase() }), /invalid fields: requestId$/],
      [asText({ ...message, requestId: `${ID}/../x` }), /invalid fields: requestId$/],
      [asText({ ...message, completedAt: '2026-12-01T10:20:30Z' }), /invalid fields: completedAt$/],
      [asText({ ...message, completedAt: '2026-02-30T10:20:30.456Z' }), /invalid fields: completedAt$/],
      [asText({ ...message, completedAt: 1764584430456 }), /invalid fields: completedAt$/],
      [asText({ ...message, attempt: 0 }), /invalid fields: attempt$/],
      [asText({ ...message, attempt: 1.5 }), /invalid fields: attempt$/],
      [asText({ ...message, attempt: 1_000_000 }), /invalid fields: attempt$/],
      [asText({ ...message, url: 'http://elsewhere.example/hook' }), /invalid fields: unknown fields \(1\)$/],
      [asText({ v: 1 }), /invalid fields: requestId, completedAt, attempt$/],
      ['x'.repeat(64 * 1024), /more than a callback message has/],
    ] as const) {
      assert.throws(
        () => decodeCallbackMessage(text),
        (err: unknown) => err instanceof CallbackMessageError && why.test(err.message) && !err.message.includes('elsewhere'),
        text.slice(0, 60),
      );
    }
  });
});

describe('the callback queue name', () => {
  it('is the status table lower-cased with -callbacks, a valid queue name for every valid table name', () => {
    const long = `A${'b'.repeat(62)}`;
    for (const [table, expected] of [
      ['AsyncEngineStatus', 'asyncenginestatus-callbacks'],
      ['Sta', 'sta-callbacks'],
      ['S2024', 's2024-callbacks'],
      [`A${'b'.repeat(52)}`, `a${'b'.repeat(52)}-callbacks`],
      [long, null],
    ] as const) {
      const name = callbackQueueName(table);
      if (expected !== null) assert.equal(name, expected, table);
      let issue: string | undefined;
      queueName(name, (_, m) => (issue = m));
      assert.equal(issue, undefined, `${name} is a valid queue name`);
      assert.ok(name.length <= 63);
    }
  });

  it('keeps two long table names that share their beginning apart, and ignores letter case like Azure', () => {
    const a = `Status${'x'.repeat(50)}A`;
    const b = `Status${'x'.repeat(50)}B`;
    assert.notEqual(callbackQueueName(a), callbackQueueName(b));
    assert.equal(callbackQueueName('MyStatus'), callbackQueueName('mystatus'));
  });
});

describe('whether a status row still waits for a callback message', () => {
  const row = (change: Partial<RequestStatus>): RequestStatus => ({
    id: ID,
    flow: 'flow',
    status: 'completed',
    step: 0,
    stepQueue: 'q',
    attempt: 1,
    createdAt: new Date(COMPLETED_AT),
    updatedAt: new Date(COMPLETED_AT),
    completedAt: new Date(COMPLETED_AT),
    lastHttpStatus: 200,
    lastError: null,
    callbackUrl: 'http://hooks.example/done',
    callbackStatus: 'pending',
    result: null,
    dlqId: null,
    lastMessageId: null,
    submittedBy: null,
    ...change,
  });

  it('is due for the outcome it names while pending; dropped otherwise, with the reason', () => {
    assert.equal(dueCallback(row({}), message).kind, 'due');
    assert.equal(dueCallback(row({ status: 'dead-lettered', lastHttpStatus: 400 }), message).kind, 'due');
    assert.equal(dueCallback(row({ callbackStatus: null }), message).kind, 'due');
    for (const [status, reason] of [
      [null, 'request-gone'],
      [row({ status: 'queued', completedAt: null }), 'not-final'],
      [row({ status: 'processing', step: 1 }), 'not-final'],
      [row({ completedAt: new Date(Date.parse(COMPLETED_AT) + 1) }), 'another-outcome'],
      [row({ completedAt: null }), 'another-outcome'],
      [row({ callbackUrl: null, callbackStatus: null }), 'no-callback-url'],
      [row({ callbackStatus: 'delivered' }), 'already-delivered'],
      [row({ callbackStatus: 'failed' }), 'already-failed'],
    ] as const) {
      assert.deepEqual(dueCallback(status, message), { kind: 'drop', reason }, reason);
    }
  });
});
