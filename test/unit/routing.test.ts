import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFlows } from '../../src/engine/flows.js';
import { resolveConflict } from '../../src/engine/routing.js';
import type { ConflictResolution } from '../../src/engine/routing.js';
import type { FlowDefinition, QueueOptions } from '../../src/config/types.js';
import type { StepQueue } from '../../src/storage/queues.js';
import type { RequestState, RequestStatus } from '../../src/storage/status-table.js';

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
    })),
  };
}

function queueOptions(name: string): QueueOptions {
  return { name, maxMessages: 1, pollDelayInMs: 500, greedy: false, timeToLiveInMs: null, visibilityTimeoutInMs: 30_000, maxDequeueCount: 5 };
}

/** A queue that only has a name: resolving flows calls nothing on it. */
function namedQueue(name: string): StepQueue {
  const unused = (): never => {
    throw new Error('not called');
  };
  return { name, send: unused, receive: unused, updateVisibility: unused, update: unused, delete: unused, approximateMessageCount: unused };
}

function row(status: RequestState, stepIndex: number): RequestStatus {
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
  // The message is the input of step 1 of a three-step flow unless the case says it is the last step.
  const cases: Array<[name: string, row: RequestStatus | null, step: number, isLastStep: boolean, expected: ConflictResolution]> = [
    ['the row is gone', null, 1, false, 'stale'],
    ['the row is gone, on the last step', null, 2, true, 'stale'],
    ['the request completed', row('completed', 1), 1, false, 'stale'],
    ['the request completed at the next step', row('completed', 2), 1, false, 'stale'],
    ['the request was dead-lettered at this step', row('dead-lettered', 1), 1, false, 'stale'],
    ['the request was dead-lettered at the next step', row('dead-lettered', 2), 1, false, 'stale'],
    ['the row is processing this step', row('processing', 1), 1, false, 'retry'],
    ['the row is retrying this step', row('retrying', 1), 1, false, 'retry'],
    ['the row is queued at this step', row('queued', 1), 1, false, 'retry'],
    ['the row is processing the last step, which this message is', row('processing', 2), 2, true, 'retry'],
    ['the row moved to the next step', row('queued', 2), 1, false, 'forward'],
    ['the row is processing the next step', row('processing', 2), 1, false, 'forward'],
    ['the row points one past the last step', row('processing', 3), 2, true, 'stale'],
    ['the row is two steps further on', row('processing', 3), 1, false, 'stale'],
    ['the row is behind this step', row('processing', 0), 1, false, 'stale'],
    ['the row is at step 0 and the message at step 2', row('retrying', 0), 2, true, 'stale'],
  ];
  for (const [name, statusRow, stepIndex, isLastStep, expected] of cases) {
    it(`answers ${expected} when ${name}`, () => {
      assert.equal(resolveConflict(statusRow, stepIndex, isLastStep), expected);
    });
  }
});
