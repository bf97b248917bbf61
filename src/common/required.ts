/**
 * For values that a type leaves optional but an invariant guarantees (a field validation has
 * checked, a property Azure always returns): the value, or an EngineError naming what is missing.
 */
import { EngineError, type EngineErrorCode } from '../errors.js';

export function required<T>(value: T | null | undefined, code: EngineErrorCode, what: string): T {
  if (value === null || value === undefined) throw new EngineError(code, `${what} is missing`);
  return value;
}
