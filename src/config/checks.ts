/**
 * Pure value checks for the configuration schema. A check reports each problem it finds through
 * `report(subPath, message, value)`; `subPath` is '' for the value itself, or `[2].name`-style for
 * the parts of a list. Messages are phrased to follow the value they describe:
 * `"x" is not declared in queue.config`.
 */
import { isAddressOrCidr } from '../common/addresses.js';
import { suggest } from './did-you-mean.js';
import { readHttpStatus } from './http-status.js';

export type Report = (subPath: string, message: string, value?: unknown) => void;

/** The JSON type a check accepts; a JSON-encoded string is decoded for every type but `string`. */
export type JsonType = 'string' | 'number' | 'boolean' | 'array' | 'object';

export interface Check {
  (value: unknown, report: Report): void;
  readonly jsonType: JsonType;
  /** Present on object checks and lists of objects: the fields (their defaults are applied before checking). */
  readonly fields?: Fields;
}

/** One field of a list element, described like a convict schema leaf. */
export interface Field {
  doc: string;
  format: Check;
  /** Omitted (undefined) for a required field. */
  default?: unknown;
  nullable?: boolean;
  sensitive?: boolean;
}
export type Fields = Readonly<Record<string, Field>>;

function check(jsonType: JsonType, fn: (value: unknown, report: Report) => void, fields?: Fields): Check {
  return Object.assign(fn, { jsonType, fields });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function integer(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER, hint?: string): Check {
  const range =
    max !== Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : min !== Number.MIN_SAFE_INTEGER ? ` of at least ${min}` : '';
  return check('number', (value, report) => {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      report('', `must be an integer${range}${hint ? ` (${hint})` : ''}`, value);
    }
  });
}

/** An integer that is either one of `specials` or at least `min`. */
export function integerOrSpecial(specials: readonly number[], min: number, meaning: string): Check {
  return check('number', (value, report) => {
    if (!Number.isInteger(value) || (!specials.includes(value as number) && (value as number) < min)) {
      report('', `must be ${meaning}`, value);
    }
  });
}

/** A finite number greater than 0, fractions allowed. */
export function positiveNumber(meaning: string): Check {
  return check('number', (value, report) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) report('', `must be ${meaning}`, value);
  });
}

export function positiveNumberOr(special: number, meaning: string): Check {
  return check('number', (value, report) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || (value !== special && value <= 0)) {
      report('', `must be ${meaning}`, value);
    }
  });
}

export const boolean: Check = check('boolean', (value, report) => {
  if (typeof value !== 'boolean') report('', 'must be true or false', value);
});

export function oneOf(choices: readonly string[]): Check {
  return check('string', (value, report) => {
    if (typeof value !== 'string' || !choices.includes(value)) {
      report('', `must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`, value);
    }
  });
}

export const nonEmptyString: Check = check('string', (value, report) => {
  if (typeof value !== 'string' || value.trim() === '') report('', 'must be a non-empty string', value);
});

export function matching(pattern: RegExp, rule: string): Check {
  return check('string', (value, report) => {
    if (typeof value !== 'string' || !pattern.test(value)) report('', `is not valid: ${rule}`, value);
  });
}

/** An IPv4 or IPv6 address, or a CIDR range (`10.0.0.0/8`, `fd00::/8`). */
export const ipOrCidr: Check = check('string', (value, report) => {
  if (typeof value !== 'string' || !isAddressOrCidr(value)) report('', 'must be an IP address or a CIDR range such as 10.0.0.0/8', value);
});

/** An absolute http(s) URL. */
export const httpUrl: Check = check('string', (value, report) => {
  if (typeof value !== 'string' || !URL.canParse(value)) {
    report('', 'is not a valid URL', value);
    return;
  }
  const { protocol } = new URL(value);
  if (protocol !== 'http:' && protocol !== 'https:') report('', 'must be an http or https URL', value);
});

/** Where the engine's own demo service answers (server.config.demoEndpoints). */
export const DEMO_PATH_PREFIX = '/demo/';

/**
 * Whether `value` is a path of the engine's own demo service, which a step may name instead of a
 * URL: under /demo/, with no ".", ".." or encoded slash segment and no backslash that could lead
 * out of it (the engine calls its own ingress there, and must never call its API).
 */
export function isDemoPath(value: string): boolean {
  if (!value.startsWith(DEMO_PATH_PREFIX) || value.includes('\\')) return false;
  const path = value.split(/[?#]/)[0] ?? '';
  return path.split('/').every((segment) => {
    try {
      const decoded = decodeURIComponent(segment);
      return decoded !== '.' && decoded !== '..' && !/[/\\]/.test(decoded);
    } catch {
      return false;
    }
  });
}

/** A step's endpointUrl: an absolute http(s) URL, or a path of the demo service ({@link isDemoPath}). */
export const endpointUrl: Check = check('string', (value, report) => {
  if (typeof value === 'string' && value.startsWith('/')) {
    if (!isDemoPath(value)) {
      report('', `is a path: only the engine's demo endpoints may be named by path (under ${DEMO_PATH_PREFIX}, without ".", ".." or encoded slashes); else use an absolute http(s) URL`, value);
    }
    return;
  }
  httpUrl(value, report);
});

/**
 * A redelivery rule's HTTP status (503), range ("500-599") or class ("5xx"). Its JSON type is
 * number, so "503" from a key-value store reads as 503 while "5xx" stays the string it is.
 */
export const httpStatusOrRange: Check = check('number', (value, report) => {
  const read = readHttpStatus(value);
  if (read.kind === 'invalid') report('', read.message, value);
});

export const urlPath: Check = check('string', (value, report) => {
  if (typeof value !== 'string' || !value.startsWith('/')) report('', 'must be a URL path starting with "/"', value);
});

// Azure naming rules: https://learn.microsoft.com/rest/api/storageservices/naming-queues-and-metadata
export const queueName = matching(
  /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/,
  'an Azure queue name has 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit',
);
// https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model#table-names
export const tableName: Check = check('string', (value, report) => {
  if (typeof value !== 'string' || !/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(value) || value.toLowerCase() === 'tables') {
    report('', 'is not valid: an Azure table name has 3-63 letters and digits, starts with a letter and is not "tables"', value);
  }
});
// https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata
export const containerName = matching(
  /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/,
  'an Azure blob container name has 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit',
);

export function listOf(item: Check): Check {
  return check('array', (value, report) => {
    if (!Array.isArray(value)) {
      report('', 'must be a list', value);
      return;
    }
    for (const [i, entry] of value.entries()) item(entry, (sub, message, v) => report(`[${i}]${sub}`, message, v));
  });
}

/** Reports unknown keys of `value` against `known`, each with the nearest known key when one is close. */
/**
 * Keys that name parts of every JavaScript object: never configuration, and a way to reach
 * prototypes when copied. Reported wherever they appear ({@link reportReservedKeys}).
 */
const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Reports every reserved key in `value`, however deep, lists and JSON-encoded entries included,
 * with its path below `prefix`.
 */
export function reportReservedKeys(value: unknown, report: Report, prefix = ''): void {
  const decoded = decodeJsonString(value, 'object');
  if (Array.isArray(decoded)) {
    for (const [i, entry] of decoded.entries()) reportReservedKeys(entry, report, `${prefix}[${i}]`);
  } else if (isPlainObject(decoded)) {
    for (const key of Object.keys(decoded)) {
      if (RESERVED_KEYS.has(key)) report(`${prefix}.${key}`, 'is a reserved name, not a configuration key');
      else reportReservedKeys(decoded[key], report, `${prefix}.${key}`);
    }
  }
}

export function reportUnknownKeys(value: Record<string, unknown>, known: readonly string[], report: Report, prefix = ''): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key) || RESERVED_KEYS.has(key)) continue;
    const near = suggest(key, known);
    report(`${prefix}.${key}`, `is not a known key${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`);
  }
}

/** An object checked field by field; defaults were applied by {@link applyDefaults}. */
export function objectOf(fields: Fields): Check {
  return check('object', (value, report) => checkObject(value, fields, report), fields);
}

/** A list of objects, each checked field by field; defaults were applied by {@link applyDefaults}. */
export function listOfObjects(fields: Fields): Check {
  return check(
    'array',
    (value, report) => {
      if (!Array.isArray(value)) {
        report('', 'must be a list', value);
        return;
      }
      for (const [i, entry] of value.entries()) checkObject(entry, fields, (sub, message, v) => report(`[${i}]${sub}`, message, v));
    },
    fields,
  );
}

function checkObject(value: unknown, fields: Fields, report: Report): void {
  if (!isPlainObject(value)) {
    report('', 'must be an object', value);
    return;
  }
  reportUnknownKeys(value, Object.keys(fields), report);
  for (const [key, field] of Object.entries(fields)) {
    const v = Object.hasOwn(value, key) ? value[key] : undefined;
    if (v === undefined) {
      if (field.default === undefined) report(`.${key}`, 'is required');
      continue;
    }
    if (v === null && field.nullable) continue;
    field.format(v, (sub, message, bad) => report(`.${key}${sub}`, message, field.sensitive ? REDACTED : bad));
  }
}

export const REDACTED = '[redacted]';

/**
 * Returns `value` with the defaults of an object or list-of-objects check filled in (recursively),
 * and JSON-encoded strings decoded where a field is not a string. Leaves anything malformed as it
 * is, for the check to report.
 */
export function applyDefaults(value: unknown, format: Check): unknown {
  const { fields } = format;
  if (!fields) return value;
  if (format.jsonType === 'array') return Array.isArray(value) ? value.map((entry) => withFieldDefaults(decodeJsonString(entry, 'object'), fields)) : value;
  return withFieldDefaults(value, fields);
}

function withFieldDefaults(entry: unknown, fields: Fields): unknown {
  if (!isPlainObject(entry)) return entry;
  // Schema order first, then whatever unknown keys the check will report.
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    const given = Object.hasOwn(entry, key) ? entry[key] : undefined;
    const raw = given === undefined ? structuredClone(field.default) : decodeJsonString(given, field.format.jsonType);
    if (raw !== undefined) out[key] = applyDefaults(raw, field.format);
  }
  // Reserved keys were reported on the document as written; copying them could set a prototype.
  for (const [key, raw] of Object.entries(entry)) if (!Object.hasOwn(fields, key) && !RESERVED_KEYS.has(key)) out[key] = raw;
  return out;
}

/**
 * Key-value stores hold strings, so any value whose type is not string may be written as its JSON
 * text ("10", "true", "[...]"). Returns the decoded value, or the original when it is not such a text.
 */
export function decodeJsonString(value: unknown, jsonType: JsonType): unknown {
  if (typeof value !== 'string' || jsonType === 'string') return value;
  try {
    const decoded: unknown = JSON.parse(value);
    return typeof decoded === 'string' ? value : decoded;
  } catch {
    return value;
  }
}
