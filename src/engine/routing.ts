/**
 * Pure: what a lost conditional status write means (see step-runner.ts for the protocol). Where a
 * request goes after a step is `Step.next` (flows.ts).
 */
import { FINAL_STATES, type RequestStatus } from '../storage/status-table.js';

/**
 * What to do when the status write of message `messageId`, the input of step `step`, found a
 * different ETag than the message carried:
 * - `retry`: the row is still at this step and this message wrote it (its retry record, or its
 *   earlier run crashed after writing): write again with the row's current ETag;
 * - `forward`: this message already moved the row to the next step before a crash: the next
 *   message may never have been sent, so send it, with the row's ETag;
 * - `stale`: anything else. The row is final, gone or further on (a late duplicate), or another
 *   message wrote it: a duplicate of this step that got there first, or a message that does not
 *   belong to the request at all. Whoever can write to a step queue could otherwise make the
 *   engine overwrite any request's row by naming it.
 */
export type ConflictResolution = 'retry' | 'forward' | 'stale';

export function resolveConflict(row: RequestStatus | null, step: number, isLastStep: boolean, messageId: string): ConflictResolution {
  if (row === null || FINAL_STATES.has(row.status) || row.lastMessageId !== messageId) return 'stale';
  if (row.step === step) return 'retry';
  if (row.step === step + 1 && !isLastStep) return 'forward';
  return 'stale';
}

/** Whether the request has left step `step` behind: its row is gone, final, or at a later step. */
export function isPastStep(row: RequestStatus | null, step: number): boolean {
  return row === null || FINAL_STATES.has(row.status) || row.step > step;
}
