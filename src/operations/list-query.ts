/**
 * The parameters of the listings (flow, status, limit, cursor), checked the same way whichever face
 * asks: the HTTP API's query string answers `400` or `404`, the command line's options a usage
 * error or "not found". Checked before anything reaches storage.
 */
import { isCursor } from '../storage/paging.js';
import { REQUEST_STATES, type RequestState } from '../storage/status-table.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 1000;

/**
 * A parameter that cannot be used: `invalid` (malformed or out of range; `message` follows the
 * parameter's name: "limit must be ...") or `unknown-flow` (well-formed, but no such flow).
 */
export type ParameterProblem = { kind: 'invalid'; parameter: string; message: string } | { kind: 'unknown-flow'; flow: string; message: string };

export type Checked<T> = { kind: 'ok'; value: T } | ParameterProblem;

/** The parameters as given: null when absent. */
export interface RawListParameters {
  flow: string | null;
  limit: string | null;
  cursor: string | null;
}

export interface RawRequestParameters extends RawListParameters {
  status: string | null;
}

export interface DlqQuery {
  /** null: every flow. */
  flow: string | null;
  limit: number;
  cursor: string | null;
}

export interface RequestQuery extends DlqQuery {
  /** null: every status. */
  status: RequestState | null;
}

const ok = <T>(value: T): Checked<T> => ({ kind: 'ok', value });
const invalid = (parameter: string, message: string): ParameterProblem => ({ kind: 'invalid', parameter, message });

/** `flow`: a configured flow, or null when absent (invalid when `isRequired`). */
export function checkFlow(raw: string | null, flows: ReadonlyMap<string, unknown>, isRequired: true): Checked<string>;
export function checkFlow(raw: string | null, flows: ReadonlyMap<string, unknown>, isRequired: false): Checked<string | null>;
export function checkFlow(raw: string | null, flows: ReadonlyMap<string, unknown>, isRequired: boolean): Checked<string | null> {
  if (raw === null) return isRequired ? invalid('flow', 'is required') : ok(null);
  if (!flows.has(raw)) return { kind: 'unknown-flow', flow: raw, message: unknownFlowMessage(raw) };
  return ok(raw);
}

export function unknownFlowMessage(flow: string): string {
  return `there is no flow named "${flow}"`;
}

/** `limit`: 1..MAX_LIMIT, DEFAULT_LIMIT when absent. */
export function checkLimit(raw: string | null): Checked<number> {
  if (raw === null) return ok(DEFAULT_LIMIT);
  const limit = Number(raw);
  // Number('') is 0 and Number(' 7 ') is 7: only digits count.
  if (!/^\d+$/.test(raw) || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) return invalid('limit', `must be an integer from 1 to ${MAX_LIMIT}`);
  return ok(limit);
}

/** `cursor`: the `nextCursor` of a previous page, or null when absent. */
export function checkCursor(raw: string | null): Checked<string | null> {
  if (raw !== null && !isCursor(raw)) return invalid('cursor', 'must be the nextCursor of a previous page');
  return ok(raw);
}

/** `status`: one of the request states, or null when absent. */
export function checkStatus(raw: string | null): Checked<RequestState | null> {
  if (raw === null) return ok(null);
  const status = REQUEST_STATES.find((s) => s === raw);
  return status === undefined ? invalid('status', `must be one of ${REQUEST_STATES.join(', ')}`) : ok(status);
}

/** The parameters of the DLQ listing, the first problem first (flow, limit, cursor). */
export function checkDlqQuery(raw: RawListParameters, flows: ReadonlyMap<string, unknown>): Checked<DlqQuery> {
  const flow = checkFlow(raw.flow, flows, false);
  if (flow.kind !== 'ok') return flow;
  const limit = checkLimit(raw.limit);
  if (limit.kind !== 'ok') return limit;
  const cursor = checkCursor(raw.cursor);
  if (cursor.kind !== 'ok') return cursor;
  return ok({ flow: flow.value, limit: limit.value, cursor: cursor.value });
}

/** The parameters of the request listing, the first problem first (flow, status, limit, cursor). */
export function checkRequestQuery(raw: RawRequestParameters, flows: ReadonlyMap<string, unknown>): Checked<RequestQuery> {
  const flow = checkFlow(raw.flow, flows, false);
  if (flow.kind !== 'ok') return flow;
  const status = checkStatus(raw.status);
  if (status.kind !== 'ok') return status;
  const rest = checkDlqQuery({ ...raw, flow: null }, flows);
  if (rest.kind !== 'ok') return rest;
  return ok({ ...rest.value, flow: flow.value, status: status.value });
}
