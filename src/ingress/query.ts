/**
 * Query-string parameters of the list routes, checked before anything reaches storage.
 */
import type { Context } from 'koa';
import { isCursor } from '../storage/paging.js';
import { HttpProblem } from './problem.js';

const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 1000;

/** `limit`: 1..1000, default 50; 400 otherwise. */
export function limitOf(ctx: Context): number {
  const raw = ctx.query['limit'];
  if (raw === undefined) return DEFAULT_LIMIT;
  const limit = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new HttpProblem(400, 'bad-query', 'Bad Request', `limit must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return limit;
}

/** A single string parameter, or null when absent or empty; 400 when given twice. */
export function queryOf(ctx: Context, name: string): string | null {
  const raw = ctx.query[name];
  if (raw === undefined || raw === '') return null;
  if (typeof raw !== 'string') throw new HttpProblem(400, 'bad-query', 'Bad Request', `${name} may be given once`);
  return raw;
}

/** `flow`, which must name a configured flow (404 otherwise); 400 when required and absent. */
export function flowOf(ctx: Context, flows: ReadonlyMap<string, unknown>, isRequired: true): string;
export function flowOf(ctx: Context, flows: ReadonlyMap<string, unknown>, isRequired: false): string | null;
export function flowOf(ctx: Context, flows: ReadonlyMap<string, unknown>, isRequired: boolean): string | null {
  const flow = queryOf(ctx, 'flow');
  if (flow === null && isRequired) throw new HttpProblem(400, 'bad-query', 'Bad Request', 'flow is required');
  if (flow !== null && !flows.has(flow)) throw new HttpProblem(404, 'unknown-flow', 'Not Found', `there is no flow named "${flow}"`);
  return flow;
}

/** `cursor`: the `nextCursor` of a previous page, or null when absent; 400 for anything else. */
export function cursorOf(ctx: Context): string | null {
  const cursor = queryOf(ctx, 'cursor');
  if (cursor !== null && !isCursor(cursor)) throw new HttpProblem(400, 'bad-query', 'Bad Request', 'cursor must be the nextCursor of a previous page');
  return cursor;
}
