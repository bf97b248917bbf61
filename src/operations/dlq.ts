/**
 * The dead-letter table's operations: list, get, replay and delete an entry, and replay a whole
 * flow. The HTTP API (ingress/routes/dlq.ts) and the command line (`async-engine dlq`) answer with
 * these; each face adds only how it is asked and how it answers.
 */
import { type ReplayDeps, replayEntry } from '../engine/replay.js';
import type { ReplayJobs } from '../engine/replay-jobs.js';
import { type DlqPage, type DlqTable, parseDlqId, type StoredDlqEntry, toDlqJson } from '../storage/dlq-table.js';
import type { PayloadStore } from '../storage/payloads.js';
import type { ReplayJob } from '../storage/replay-jobs.js';
import type { DlqQuery } from './list-query.js';

/** `GET /api/dlq`'s body. */
export interface DlqListBody {
  items: Array<Record<string, unknown>>;
  nextCursor: string | null;
}

export function listDlq(dlqTable: DlqTable, query: DlqQuery, abortSignal: AbortSignal): Promise<DlqPage> {
  return dlqTable.list(query.flow, query.limit, query.cursor, abortSignal);
}

export function dlqListBody(page: DlqPage): DlqListBody {
  return { items: page.items.map(toDlqJson), nextCursor: page.nextCursor };
}

/** Whether `dlqId` has the shape of a DLQ id the engine hands out; anything else is never asked of storage. */
export function isWellFormedDlqId(dlqId: string): boolean {
  return parseDlqId(dlqId) !== null;
}

/** The entry `dlqId`; null for an unknown or malformed id (a malformed one costs no storage call). */
export function getDlqEntry(dlqTable: DlqTable, dlqId: string, abortSignal: AbortSignal): Promise<StoredDlqEntry | null> {
  return dlqTable.get(dlqId, abortSignal);
}

export function unknownDlqEntryMessage(dlqId: string): string {
  return `there is no DLQ entry "${dlqId}"`;
}

/** What became of a replay of one entry. AE_REPLAY_IMPOSSIBLE and storage errors are thrown. */
export type DlqReplayResult = { kind: 'replayed'; requestId: string | null } | { kind: 'claimed-elsewhere'; message: string };

/**
 * Replays `entry` (as {@link getDlqEntry} read it) now: its request is queued again at the step it
 * failed, attempts reset, and the entry removed (engine/replay.ts). `claimant` names who replays,
 * on the entry's claim.
 */
export async function replayDlqEntry(deps: ReplayDeps, entry: StoredDlqEntry, claimant: string, abortSignal: AbortSignal): Promise<DlqReplayResult> {
  const outcome = await replayEntry(deps, entry, claimant, abortSignal);
  if (outcome.kind === 'replayed') return { kind: 'replayed', requestId: outcome.requestId };
  const lapse = outcome.until ? `; should that replay have stopped, the entry can be replayed again after ${outcome.until.toISOString()}` : '';
  return { kind: 'claimed-elsewhere', message: `DLQ entry "${entry.dlqId}" is being replayed by another request or job: it leaves the DLQ when that replay is done${lapse}` };
}

/** `POST /api/dlq/{dlqId}/replay`'s body. */
export function replayBody(requestId: string | null): { id: string | null } {
  return { id: requestId };
}

/**
 * Deletes `entry` (as {@link getDlqEntry} read it) and its payload blobs, which were kept only for a
 * replay (see storage/payloads.ts); false when the entry was gone meanwhile.
 */
export async function deleteDlqEntry({ dlqTable, payloads }: { dlqTable: DlqTable; payloads: PayloadStore }, entry: StoredDlqEntry, abortSignal: AbortSignal): Promise<boolean> {
  if (!(await dlqTable.delete(entry.dlqId, abortSignal))) return false;
  if (entry.replay.kind === 'request') await payloads.delete(entry.replay.blobs, abortSignal);
  return true;
}

/** Starts replaying every entry of `flow` in the background (engine/replay-jobs.ts); resolves once the job is stored. */
export function startFlowReplay(replayJobs: ReplayJobs, flow: string, abortSignal: AbortSignal): Promise<ReplayJob> {
  return replayJobs.start(flow, abortSignal);
}

/**
 * Replays every entry of `flow` and resolves with the job once it has ended (done, or stopped by
 * the ReplayJobs' close()); `onProgress` sees the counts after each entry. The job is stored like a
 * background one, so `GET /api/dlq/replays/{jobId}` shows it on every engine meanwhile.
 */
export function runFlowReplay(replayJobs: ReplayJobs, flow: string, onProgress: (job: Readonly<ReplayJob>) => void, abortSignal: AbortSignal): Promise<ReplayJob> {
  return replayJobs.run(flow, { onProgress, abortSignal });
}
