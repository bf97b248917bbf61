import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFlows } from '../../src/engine/flows.js';
import { isPastStep, resolveConflict } from '../../src/engine/routing.js';
import type { ConflictResolution } from '../../src/engine/routing.js';
import type { FlowDefinition, QueueOptions } from '../../src/config/types.js';
import type { StepQueue } from '../../src/storage/queues.js';
import { REQUEST_STATES, type RequestState, type RequestStatus } from '../../src/storage/status-table.js';

function definition(stepCount: number): FlowDefinition {
  return {
    name: 'orders',
    steps: Array.from({ length: stepCount }, (_, index) => ({
      index,
      sourceQueueName: `q-${index}`,
      targetQueueName: index === stepCount - 1 ? null : `q-${index + 1}`,
      endpoint: { kind: 'url', url: `http://127.0.0.1/step-${index}` },
      maxThreads: index + 1,
      callTimeoutInMs: 1000 * index,
      maxRatePerSecond: null,
    })),
    maxBacklog: null,
  };
}

function queueOptions(name: string): QueueOptions {
  return { name, maxMessages: 1, pollDelayInMs: 500, maxIdleDelayInMs: 5000, greedy: false, timeToLiveInMs: null, visibilityTimeoutInMs: 30_000, maxDequeueCount: 5 };
}

/** A queue that only has a name: resolving flows calls nothing on it. */
function namedQueue(name: string): StepQueue {
  const unused = (): never => {
    throw new Error('not called');
  };
  return { name, send: unused, receive: unused, updateVisibility: unused, update: unused, delete: unused, approximateMessageCount: unused };
}

/** The message whose conflicts are resolved; the rows below were written by it unless a case says otherwise. */
const OWN = 'message-own';

function row(status: RequestState, stepIndex: number, lastMessageId: string | null = OWN): RequestStatus {
  const at = new Date('2024-01-01T00:00:00Z');
  return {
    id: 'req-1',
    flow: 'orders',
    status,
    step: stepIndex,
    stepQueue: `q-${stepIndex}`,
    attempt: 1,
    createdAt: at,
    updatedAt: at,
    completedAt: null,
    lastHttpStatus: null,
    lastError: null,
    callbackUrl: null,
    callbackStatus: null,
    result: null,
    dlqId: null,
    lastMessageId,
    submittedBy: null,
  };
}

describe('createFlows', () => {
  const cases: Array<[name: string, stepCount: number]> = [
    ['a one-step flow ends after its only step', 1],
    ['a two-step flow forwards from the first step to the last', 2],
    ['a three-step flow chains every step to the one after it', 3],
  ];
  for (const [name, stepCount] of cases) {
    it(name, () => {
      const queues = new Map(Array.from({ length: stepCount }, (_, i) => [`q-${i}`, queueOptions(`q-${i}`)]));
      const flow = createFlows([definition(stepCount)], queues, namedQueue).get('orders');
      assert.ok(flow);
      assert.deepEqual(
        flow.steps.map((s) => [s.index, s.source.queue.name, s.source.options, s.next?.index ?? null, s.pool.size, s.callTimeoutInMs]),
        Array.from({ length: stepCount }, (_, i) => [i, `q-${i}`, queueOptions(`q-${i}`), i === stepCount - 1 ? null : i + 1, i + 1, 1000 * i]),
      );
      for (const s of flow.steps) assert.equal(s.next, flow.steps[s.index + 1] ?? null, 'next is the step object itself');
    });
  }

  it('throws for a step whose queue is not configured, naming it', () => {
    assert.throws(() => createFlows([definition(2)], new Map([['q-0', queueOptions('q-0')]]), namedQueue), /queue "q-1" is used by a flow but not configured/);
  });
});

describe('resolveConflict', () => {
  // Every status of the row against every place of the row's step relative to the message's, in a
  // three-step flow (steps 0, 1 and 2).
  const STALE: Record<RequestState, ConflictResolution> = { queued: 'stale', processing: 'stale', retrying: 'stale', completed: 'stale', 'dead-lettered': 'stale' };
  const RETRY_UNLESS_FINAL: Record<RequestState, ConflictResolution> = { queued: 'retry', processing: 'retry', retrying: 'retry', completed: 'stale', 'dead-lettered': 'stale' };
  const FORWARD_UNLESS_FINAL: Record<RequestState, ConflictResolution> = { queued: 'forward', processing: 'forward', retrying: 'forward', completed: 'stale', 'dead-lettered': 'stale' };
  const relations: Array<{ where: string; rowStep: number; messageStep: number; isLastStep: boolean; expected: Record<RequestState, ConflictResolution> }> = [
    { where: 'two steps behind the message\'s step', rowStep: 0, messageStep: 2, isLastStep: true, expected: STALE },
    { where: 'one step behind the message\'s step', rowStep: 0, messageStep: 1, isLastStep: false, expected: STALE },
    { where: 'at the message\'s step, the first', rowStep: 0, messageStep: 0, isLastStep: false, expected: RETRY_UNLESS_FINAL },
    { where: 'at the message\'s step, in the middle', rowStep: 1, messageStep: 1, isLastStep: false, expected: RETRY_UNLESS_FINAL },
    { where: 'at the message\'s step, the last', rowStep: 2, messageStep: 2, isLastStep: true, expected: RETRY_UNLESS_FINAL },
    { where: 'one step past the message\'s step, the first', rowStep: 1, messageStep: 0, isLastStep: false, expected: FORWARD_UNLESS_FINAL },
    { where: 'one step past the message\'s step, in the middle', rowStep: 2, messageStep: 1, isLastStep: false, expected: FORWARD_UNLESS_FINAL },
    { where: 'one step past the message\'s step, the last (a step the flow does not have)', rowStep: 3, messageStep: 2, isLastStep: true, expected: STALE },
    { where: 'two steps past the message\'s step', rowStep: 3, messageStep: 1, isLastStep: false, expected: STALE },
  ];
  for (const { where, rowStep, messageStep, isLastStep, expected } of relations) {
    for (const status of REQUEST_STATES) {
      it(`answers ${expected[status]} when the row is ${status} ${where}`, () => {
        assert.equal(resolveConflict(row(status, rowStep), messageStep, isLastStep, OWN), expected[status]);
      });
      it(`answers stale when the row is ${status} ${where} but another message wrote it`, () => {
        assert.equal(resolveConflict(row(status, rowStep, 'message-other'), messageStep, isLastStep, OWN), 'stale');
      });
      it(`answers stale when the row is ${status} ${where} and no message wrote it (the ingress, a replay)`, () => {
        assert.equal(resolveConflict(row(status, rowStep, null), messageStep, isLastStep, OWN), 'stale');
      });
    }
  }

  const gone: Array<{ where: string; messageStep: number; isLastStep: boolean }> = [
    { where: 'at the first step', messageStep: 0, isLastStep: false },
    { where: 'in the middle', messageStep: 1, isLastStep: false },
    { where: 'at the last step', messageStep: 2, isLastStep: true },
  ];
  for (const { where, messageStep, isLastStep } of gone) {
    it(`answers stale when the row is gone, for a message ${where}`, () => {
      assert.equal(resolveConflict(null, messageStep, isLastStep, OWN), 'stale');
    });
  }
});

describe('isPastStep', () => {
  const cases: Array<[name: string, statusRow: RequestStatus | null, step: number, expected: boolean]> = [
    ['the row is gone', null, 1, true],
    ['the request completed, even at this step', row('completed', 1), 1, true],
    ['the request was dead-lettered at this step', row('dead-lettered', 1), 1, true],
    ['the row is at the next step', row('queued', 2), 1, true],
    ['the row is at this step', row('processing', 1), 1, false],
    ['the row is retrying this step', row('retrying', 1), 1, false],
    ['the row is behind this step', row('processing', 0), 1, false],
  ];
  for (const [name, statusRow, step, expected] of cases) {
    it(`${expected ? 'is' : 'is not'} past the step when ${name}`, () => {
      assert.equal(isPastStep(statusRow, step), expected);
    });
  }
});
