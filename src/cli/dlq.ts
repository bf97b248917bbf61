/**
 * `async-engine dlq list|get|replay|delete`, on operations/dlq.ts.
 */
import { checkDlqQuery, checkFlow, type DlqQuery } from '../operations/list-query.js';
import { deleteDlqEntry, dlqListBody, getDlqEntry, isWellFormedDlqId, listDlq, replayBody, replayDlqEntry, runFlowReplay, unknownDlqEntryMessage } from '../operations/dlq.js';
import { type DlqEntry, toDlqJson } from '../storage/dlq-table.js';
import { type ReplayJob, toReplayJobJson } from '../storage/replay-jobs.js';
import { type OptionValues, usageError } from './command-line.js';
import { EXIT_INTERRUPTED, EXIT_NOT_FOUND, EXIT_OK, EXIT_RUNTIME } from './exit-codes.js';
import { checkedOrExit, limitValue, stringValue } from './parameters.js';
import type { CommandIo, NotFoundPlan, OperatorDeps } from './operator-deps.js';
import { type Cell, shortTime } from './table.js';

export type DlqPlan =
  | { kind: 'dlq list'; query: DlqQuery }
  | { kind: 'dlq get' | 'dlq replay' | 'dlq delete'; id: string }
  | { kind: 'dlq replay flow'; flow: string };

/** Names the claimant of a replay of one entry from the command line (the API's is `api`, a job's its id). */
const CLI_CLAIMANT = 'cli';
const TIMEOUT_IN_MS = 30_000;
/** Away from a terminal, a flow replay's progress is a line this often at most. */
const PROGRESS_LINE_EVERY_IN_MS = 1000;

export function planDlqCommand(name: 'dlq list' | 'dlq get' | 'dlq replay' | 'dlq delete', values: OptionValues, args: readonly string[], flows: ReadonlyMap<string, unknown>): DlqPlan | NotFoundPlan {
  const id = args[0];
  if (name === 'dlq list') {
    const raw = { flow: stringValue(values, 'flow'), limit: limitValue(values), cursor: stringValue(values, 'cursor') };
    const checked = checkedOrExit(checkDlqQuery(raw, flows));
    if (checked.kind === 'not-found') return checked;
    return { kind: 'dlq list', query: checked.value };
  }
  if (name === 'dlq replay' && values['flow'] !== undefined) {
    if (id !== undefined) throw usageError('dlq replay takes an ID or --flow F, not both');
    const flow = checkedOrExit(checkFlow(stringValue(values, 'flow'), flows, true));
    return flow.kind === 'ok' ? { kind: 'dlq replay flow', flow: flow.value } : flow;
  }
  if (id === undefined) throw usageError(`${name} needs an ID${name === 'dlq replay' ? ' or --flow F' : ''}`);
  if (!isWellFormedDlqId(id)) throw usageError(`${JSON.stringify(id)} is not a DLQ id: ids are FLOW~NUMBER-MESSAGEID, as dlq list shows them`);
  return { kind: name, id };
}

export async function runDlqCommand(deps: OperatorDeps, plan: DlqPlan, { isJson, io }: { isJson: boolean; io: CommandIo }): Promise<number> {
  const signal = AbortSignal.timeout(TIMEOUT_IN_MS);
  switch (plan.kind) {
    case 'dlq list': {
      const page = await listDlq(deps.dlqTable, plan.query, signal);
      if (isJson) {
        io.out.raw(JSON.stringify(dlqListBody(page)));
        return EXIT_OK;
      }
      if (page.items.length === 0) {
        io.out.line(plan.query.cursor !== null ? 'no more entries' : plan.query.flow === null ? 'the DLQ is empty' : `no DLQ entries for flow ${plan.query.flow}`);
        return EXIT_OK;
      }
      io.out.table(
        [
          { header: 'DLQ ID', shrinkOrder: 0 },
          { header: 'REQUEST', shrinkOrder: 1 },
          { header: 'STEP', shrinkOrder: 0, align: 'right' },
          { header: 'REASON', shrinkOrder: 1, minWidth: 9 },
          { header: 'TRIES', shrinkOrder: 0, align: 'right' },
          { header: 'HTTP', shrinkOrder: 0, align: 'right' },
          { header: 'DEAD-LETTERED', shrinkOrder: 3 },
          { header: 'ERROR', shrinkOrder: 4 },
        ],
        page.items.map((e) => [e.dlqId, e.requestId ?? '-', String(e.step), reasonCell(e), String(e.attempts), e.lastHttpStatus === null ? '-' : String(e.lastHttpStatus), shortTime(e.deadLetteredAt), e.error]),
      );
      if (page.nextCursor !== null) io.out.line(io.out.style(`next page: the same command with --cursor ${page.nextCursor}`, 'dim'));
      return EXIT_OK;
    }
    case 'dlq get': {
      const entry = await getDlqEntry(deps.dlqTable, plan.id, signal);
      if (entry === null) return notFound(io, plan.id);
      if (isJson) io.out.raw(JSON.stringify(toDlqJson(entry)));
      else io.out.fields(entryFields(entry));
      return EXIT_OK;
    }
    case 'dlq replay': {
      const entry = await getDlqEntry(deps.dlqTable, plan.id, signal);
      if (entry === null) return notFound(io, plan.id);
      // AE_REPLAY_IMPOSSIBLE (nothing to replay, nowhere to send it) is thrown: its message says why.
      const result = await replayDlqEntry(deps, entry, CLI_CLAIMANT, signal);
      if (result.kind === 'claimed-elsewhere') {
        io.err(`async-engine: ${result.message}`);
        return EXIT_RUNTIME;
      }
      deps.log.info({ dlqId: entry.dlqId, requestId: result.requestId, flow: entry.flow, step: entry.step, principal: CLI_CLAIMANT }, 'dlq.replayed');
      if (isJson) io.out.raw(JSON.stringify(replayBody(result.requestId)));
      else if (result.requestId !== null) io.out.line(`replayed ${entry.dlqId}: request ${result.requestId} is queued again at step ${entry.step} (${entry.sourceQueue})`);
      else io.out.line(`replayed ${entry.dlqId}: its message is back in ${entry.sourceQueue} as it was`);
      return EXIT_OK;
    }
    case 'dlq replay flow':
      return replayFlow(deps, plan.flow, { isJson, io });
    case 'dlq delete': {
      const entry = await getDlqEntry(deps.dlqTable, plan.id, signal);
      if (entry === null || !(await deleteDlqEntry(deps, entry, signal))) return notFound(io, plan.id);
      deps.log.info({ dlqId: entry.dlqId, requestId: entry.requestId, principal: CLI_CLAIMANT }, 'dlq.deleted');
      // The API answers 204 without a body: --json prints nothing.
      if (!isJson) io.out.line(`deleted ${entry.dlqId}`);
      return EXIT_OK;
    }
    default:
      throw new Error(`unhandled DLQ command ${(plan satisfies never as { kind: string }).kind}`);
  }
}

/**
 * Replays every entry of `flow` in this process, to the end, with a progress line; SIGINT or
 * SIGTERM stops it as an engine's shutdown stops a job (the entries under way are left to a later
 * replay) and exits 130.
 */
async function replayFlow(deps: OperatorDeps, flow: string, { isJson, io }: { isJson: boolean; io: CommandIo }): Promise<number> {
  let isInterrupted = false;
  const stop = (): void => {
    isInterrupted = true;
    void deps.replayJobs.close();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let lastLineAt = Number.NEGATIVE_INFINITY;
  const counts = (job: Readonly<ReplayJob>): string => `${job.replayed} replayed, ${job.skipped} skipped, ${job.failed} failed`;
  const onProgress = (job: Readonly<ReplayJob>): void => {
    if (isJson) return;
    if (io.out.isTty) {
      io.out.progress(`replaying flow ${flow} (${job.jobId}): ${counts(job)}`);
    } else if (performance.now() - lastLineAt >= PROGRESS_LINE_EVERY_IN_MS) {
      lastLineAt = performance.now();
      io.out.progress(`replaying flow ${flow} (${job.jobId}): ${counts(job)}`);
    }
  };
  let job: ReplayJob;
  try {
    job = await runFlowReplay(deps.replayJobs, flow, onProgress, AbortSignal.timeout(TIMEOUT_IN_MS));
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (isJson) io.out.raw(JSON.stringify(toReplayJobJson(job)));
  else if (job.done) io.out.line(`flow ${flow}: ${counts(job)}${job.skipped > 0 ? ' (skipped entries cannot be replayed and stay in the DLQ: dlq get shows why)' : ''}`);
  else io.out.line(`flow ${flow}: stopped after ${counts(job)}; run it again to replay the rest`);
  if (!job.done) return isInterrupted ? EXIT_INTERRUPTED : EXIT_RUNTIME;
  return job.failed > 0 ? EXIT_RUNTIME : EXIT_OK;
}

function notFound(io: CommandIo, dlqId: string): number {
  io.err(`async-engine: ${unknownDlqEntryMessage(dlqId)}`);
  return EXIT_NOT_FOUND;
}

function reasonCell(e: DlqEntry): Cell {
  return { text: e.reason, style: e.reason === 'exhausted' ? 'red' : 'yellow' };
}

function entryFields(e: DlqEntry): Array<readonly [string, Cell]> {
  const fields: Array<readonly [string, Cell]> = [
    ['dlqId', e.dlqId],
    ['request', e.requestId ?? '- (the message could not be read)'],
    ['flow', e.flow],
    ['step', `${e.step} (${e.sourceQueue})`],
    ['endpoint', e.endpoint],
    ['attempts', String(e.attempts)],
  ];
  if (e.lastHttpStatus !== null) fields.push(['last HTTP status', String(e.lastHttpStatus)]);
  fields.push(['reason', reasonCell(e)], ['dead-lettered', e.deadLetteredAt.toISOString()], ['error', { text: e.error, style: 'red' }], ['replay', replayDescription(e)]);
  return fields;
}

function replayDescription(e: DlqEntry): string {
  switch (e.replay.kind) {
    case 'request':
      return `queues the request again at step ${e.step}: async-engine dlq replay ${e.dlqId}`;
    case 'raw':
      return `sends the unreadable message back as it was: async-engine dlq replay ${e.dlqId}`;
    case 'none':
      return 'not possible: the input expired with its message';
    default:
      throw new Error(`unhandled replay kind ${(e.replay satisfies never as { kind: string }).kind}`);
  }
}
