/**
 * `async-engine requests list` and `requests get ID`, on operations/requests.ts.
 */
import { checkRequestQuery, type RequestQuery } from '../operations/list-query.js';
import { getRequest, isWellFormedRequestId, listRequests, requestListBody, unknownRequestMessage } from '../operations/requests.js';
import { type RequestState, type RequestStatus, toStatusJson } from '../storage/status-table.js';
import { type OptionValues, usageError } from './command-line.js';
import { EXIT_NOT_FOUND, EXIT_OK } from './exit-codes.js';
import { checkedOrExit, limitValue, stringValue } from './parameters.js';
import type { CommandIo, NotFoundPlan, OperatorDeps } from './operator-deps.js';
import { type Cell, shortTime, type Style } from './table.js';

export type RequestsPlan = { kind: 'requests list'; query: RequestQuery } | { kind: 'requests get'; id: string };

const TIMEOUT_IN_MS = 30_000;

export function planRequestsCommand(name: 'requests list' | 'requests get', values: OptionValues, args: readonly string[], flows: ReadonlyMap<string, unknown>): RequestsPlan | NotFoundPlan {
  if (name === 'requests get') {
    const id = args[0] ?? '';
    if (!isWellFormedRequestId(id)) throw usageError(`${JSON.stringify(id)} is not a request id: the engine's ids are UUIDs, as POST /api/flows/{flow} answers them`);
    return { kind: 'requests get', id };
  }
  const raw = { flow: stringValue(values, 'flow'), status: stringValue(values, 'status'), limit: limitValue(values), cursor: stringValue(values, 'cursor') };
  const checked = checkedOrExit(checkRequestQuery(raw, flows));
  if (checked.kind === 'not-found') return checked;
  return { kind: 'requests list', query: checked.value };
}

export async function runRequestsCommand(deps: OperatorDeps, plan: RequestsPlan, { isJson, io }: { isJson: boolean; io: CommandIo }): Promise<number> {
  const signal = AbortSignal.timeout(TIMEOUT_IN_MS);
  if (plan.kind === 'requests get') {
    // The command line has the engine's own rights: every request is its to read.
    const row = await getRequest(deps.statusTable, plan.id, null, signal);
    if (row === null) {
      io.err(`async-engine: ${unknownRequestMessage(plan.id)}`);
      return EXIT_NOT_FOUND;
    }
    if (isJson) io.out.raw(JSON.stringify(toStatusJson(row.status)));
    else io.out.fields(statusFields(row.status));
    return EXIT_OK;
  }
  const page = await listRequests(deps.statusTable, plan.query, null, signal);
  if (isJson) {
    io.out.raw(JSON.stringify(requestListBody(page)));
    return EXIT_OK;
  }
  if (page.items.length === 0) {
    io.out.line(plan.query.cursor === null ? 'no requests' : 'no more requests');
    return EXIT_OK;
  }
  io.out.table(
    [
      { header: 'ID', shrinkOrder: 0 },
      { header: 'FLOW', shrinkOrder: 2 },
      { header: 'STATUS', shrinkOrder: 1, minWidth: 13 },
      { header: 'STEP', shrinkOrder: 1, align: 'right' },
      { header: 'ATTEMPT', shrinkOrder: 1, align: 'right' },
      { header: 'UPDATED', shrinkOrder: 3 },
      { header: 'ERROR', shrinkOrder: 4 },
    ],
    page.items.map((s) => [s.id, s.flow, stateCell(s.status), String(s.step), String(s.attempt), shortTime(s.updatedAt), s.lastError ?? '']),
  );
  if (page.nextCursor !== null) io.out.line(io.out.style(`next page: the same command with --cursor ${page.nextCursor}`, 'dim'));
  return EXIT_OK;
}

const STATE_STYLES: Readonly<Record<RequestState, Style | null>> = {
  queued: null,
  processing: 'cyan',
  retrying: 'yellow',
  completed: 'green',
  'dead-lettered': 'red',
};

function stateCell(state: RequestState): Cell {
  return { text: state, style: STATE_STYLES[state] };
}


function statusFields(s: RequestStatus): Array<readonly [string, Cell]> {
  const fields: Array<readonly [string, Cell]> = [
    ['id', s.id],
    ['flow', s.flow],
    ['status', stateCell(s.status)],
    ['step', `${s.step} (${s.stepQueue})`],
    ['attempt', String(s.attempt)],
    ['created', s.createdAt.toISOString()],
    ['updated', s.updatedAt.toISOString()],
  ];
  if (s.completedAt) fields.push(['completed', s.completedAt.toISOString()]);
  if (s.lastHttpStatus !== null) fields.push(['last HTTP status', String(s.lastHttpStatus)]);
  if (s.lastError !== null) fields.push(['error', { text: s.lastError, style: 'red' }]);
  if (s.callbackUrl !== null) fields.push(['callback', `${s.callbackUrl} (${s.callbackStatus ?? 'pending'})`]);
  if (s.submittedBy !== null) fields.push(['submitted by', s.submittedBy]);
  return fields;
}
