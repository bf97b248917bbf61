/**
 * Option values of the operator commands as operations/list-query.ts checks them: what the HTTP API
 * answers `400` for is a usage error here (exit 64), an unknown flow "not found" (exit 3).
 */
import type { Checked } from '../operations/list-query.js';
import { type OptionValues, usageError } from './command-line.js';

/** A string option's value; null when absent or empty, as the HTTP API reads an empty parameter. */
export function stringValue(values: OptionValues, name: string): string | null {
  const value = values[name];
  return typeof value === 'string' && value !== '' ? value : null;
}

/** `--limit` as given: empty is not absent (it is no number from 1 to 1000), as for `?limit=`. */
export function limitValue(values: OptionValues): string | null {
  const value = values['limit'];
  return typeof value === 'string' ? value : null;
}

/** The checked value, `not-found` for an unknown flow; throws AE_USAGE naming the option for anything invalid. */
export function checkedOrExit<T>(checked: Checked<T>): { kind: 'ok'; value: T } | { kind: 'not-found'; message: string } {
  switch (checked.kind) {
    case 'ok':
      return checked;
    case 'invalid':
      throw usageError(`--${checked.parameter} ${checked.message}`);
    case 'unknown-flow':
      return { kind: 'not-found', message: checked.message };
    default:
      throw new Error(`unhandled parameter check ${(checked satisfies never as { kind: string }).kind}`);
  }
}
