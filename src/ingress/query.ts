/**
 * Query-string parameters of the list routes, read from the request and checked by the shared
 * rules of operations/list-query.ts before anything reaches storage: a malformed one answers `400`,
 * an unknown flow `404`.
 */
import type { Context } from 'koa';
import { type Checked, checkFlow, type RawListParameters, type RawRequestParameters } from '../operations/list-query.js';
import { HttpProblem } from './problem.js';

/** A single string parameter, or null when absent or empty; 400 when given twice. */
export function queryOf(ctx: Context, name: string): string | null {
  const raw = ctx.query[name];
  if (raw === undefined || raw === '') return null;
  if (typeof raw !== 'string') throw new HttpProblem(400, 'bad-query', 'Bad Request', `${name} may be given once`);
  return raw;
}

/** `limit` as given: an empty one is not absent (it is no number from 1 to 1000). */
function limitParameterOf(ctx: Context): string | null {
  const raw = ctx.query['limit'];
  if (raw === undefined) return null;
  if (typeof raw !== 'string') throw new HttpProblem(400, 'bad-query', 'Bad Request', 'limit may be given once');
  return raw;
}

/** The listing parameters of the DLQ: flow, limit and cursor. */
export function listParametersOf(ctx: Context): RawListParameters {
  return { flow: queryOf(ctx, 'flow'), limit: limitParameterOf(ctx), cursor: queryOf(ctx, 'cursor') };
}

/** The listing parameters of the requests: those of the DLQ, and status. */
export function requestParametersOf(ctx: Context): RawRequestParameters {
  return { ...listParametersOf(ctx), status: queryOf(ctx, 'status') };
}

/** The checked value, or the problem as its answer: `400` `bad-query`, `404` `unknown-flow`. */
export function checkedOrThrow<T>(checked: Checked<T>): T {
  switch (checked.kind) {
    case 'ok':
      return checked.value;
    case 'invalid':
      throw new HttpProblem(400, 'bad-query', 'Bad Request', `${checked.parameter} ${checked.message}`);
    case 'unknown-flow':
      throw new HttpProblem(404, 'unknown-flow', 'Not Found', checked.message);
    default:
      throw new Error(`unhandled parameter check ${(checked satisfies never as { kind: string }).kind}`);
  }
}

/** `flow`, which must name a configured flow (404 otherwise); 400 when absent. */
export function requiredFlowOf(ctx: Context, flows: ReadonlyMap<string, unknown>): string {
  return checkedOrThrow(checkFlow(queryOf(ctx, 'flow'), flows, true));
}
