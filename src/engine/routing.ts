/**
 * Pure: what a lost conditional status write means (see step-runner.ts for the protocol). Where a
 * request goes after a step is `Step.next` (flows.ts).
 */
import { FINAL_STATES, type RequestStatus } from '../storage/status-table.js';

/**
 * What to do when the status write of step `step` found a different ETag than the message carried:
 * - `retry`: the row is still at this step (its ETag changed because of a retry record, or this
 *   message's earlier run crashed after writing): write again with the row's current ETag;
 * - `forward`: the row already moved to the next step (by this message before a crash, or by a
 *   duplicate): the next message may never have been sent, so send it, with the row's ETag;
 * - `stale`: the row is final, gone, or further on: this message is a late duplicate; drop it.
 */
export type ConflictResolution = 'retry' | 'forward' | 'stale';

export function resolveConflict(row: RequestStatus | null, step: number, isLastStep: boolean): ConflictResolution {
  if (row === null || FINAL_STATES.has(row.status)) return 'stale';
  if (row.step === step) return 'retry';
  if (row.step === step + 1 && !isLastStep) return 'forward';
  return 'stale';
}
