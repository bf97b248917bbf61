/**
 * What an operator command works with (built by operator.ts's OperatorContext) and where it writes.
 */
import type { Flows } from '../engine/flows.js';
import type { ReplayJobs } from '../engine/replay-jobs.js';
import type { RequestIndex } from '../engine/request-index.js';
import type { Logger } from '../observability/log.js';
import type { DlqTable } from '../storage/dlq-table.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { StatusTable } from '../storage/status-table.js';
import type { Terminal } from './terminal.js';

export interface OperatorDeps {
  flows: Flows;
  statusTable: StatusTable;
  dlqTable: DlqTable;
  payloads: PayloadStore;
  replayJobs: ReplayJobs;
  /** Index rows for what a replay writes (a status row made again). */
  index: RequestIndex;
  log: Logger;
}

/** Where a command writes: its answer on `out`, and on `err` what went wrong and notes for people. */
export interface CommandIo {
  out: Terminal;
  err: (line: string) => void;
}

/** A command that cannot name anything that exists (an unknown flow): exit 3 without a storage call. */
export interface NotFoundPlan {
  kind: 'not-found';
  message: string;
}
