/**
 * Reading requests: one page of the status table, or one request's row. The HTTP API
 * (ingress/routes/requests.ts) and the command line (`async-engine requests`) answer with these.
 */
import { isRequestId } from '../storage/envelope.js';
import type { Page } from '../storage/paging.js';
import { type RequestStatus, type StatusRow, type StatusTable, toStatusJson } from '../storage/status-table.js';
import type { RequestQuery } from './list-query.js';

/** `GET /api/requests`'s body. */
export interface RequestListBody {
  items: Array<Record<string, unknown>>;
  nextCursor: string | null;
}

/** One page of requests; `submittedBy` narrows to one principal's (null: everyone's). */
export function listRequests(statusTable: StatusTable, query: RequestQuery, submittedBy: string | null, abortSignal: AbortSignal): Promise<Page<RequestStatus>> {
  return statusTable.list({ flow: query.flow, status: query.status, submittedBy }, query.limit, query.cursor, abortSignal);
}

export function requestListBody(page: Page<RequestStatus>): RequestListBody {
  return { items: page.items.map(toStatusJson), nextCursor: page.nextCursor };
}

/** Whether `id` has the shape of a request id the engine hands out; anything else is never asked of storage. */
export function isWellFormedRequestId(id: string): boolean {
  return isRequestId(id);
}

/**
 * The row of request `id`; null for an id the engine never hands out (without asking storage), for
 * an unknown one, and for another principal's request when `owner` is set (the caller learns
 * nothing of requests that are not its own).
 */
export async function getRequest(statusTable: StatusTable, id: string, owner: string | null, abortSignal: AbortSignal): Promise<StatusRow | null> {
  const row = isRequestId(id) ? await statusTable.get(id, abortSignal) : null;
  if (row === null || (owner !== null && row.status.submittedBy !== owner)) return null;
  return row;
}

export function unknownRequestMessage(id: string): string {
  return `there is no request with id "${id}"`;
}
