import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConflict, routeAfter } from '../../src/engine/routing.js';
import type { ConflictResolution } from '../../src/engine/routing.js';
import type { FlowDefinition, FlowStep } from '../../src/config/types.js';
import type { RequestState, RequestStatus } from '../../src/storage/status-table.js';

function step(index: number, isLast: boolean): FlowStep {
  return {
    index,
    sourceQueueName: `q-${index}`,
    targetQueueName: isLast ? null : `q-${index + 1}`,
    endpoint: { kind: 'url', url: `http://127.0.0.1/step-${index}` },
    maxThreads: 1,
  };
}

function flow(stepCount: number): FlowDefinition {
  return { name: 'orders', steps: Array.from({ length: stepCount }, (_, i) => step(i, i === stepCount - 1)) };
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

describe('routeAfter', () => {
  const three = flow(3);

  it('routes each step but the last to the step after it', () => {
    assert.deepEqual(routeAfter(three, 0), { kind: 'next', step: three.steps[1] });
    assert.deepEqual(routeAfter(three, 1), { kind: 'next', step: three.steps[2] });
  });

  it('ends the request after the last step', () => {
    assert.deepEqual(routeAfter(three, 2), { kind: 'done' });
  });

  it('ends a one-step flow after its only step', () => {
    assert.deepEqual(routeAfter(flow(1), 0), { kind: 'done' });
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
