/**
 * The configuration document as users write it: top-level keys with dots, values that may be
 * JSON-encoded strings. Turns it into convict assignments (schema path -> value) and back into a
 * normalised, redacted document for printing.
 */
import { redactUrlsIn } from '../common/redact-url.js';
import { applyDefaults, decodeJsonString, isPlainObject, REDACTED, reportReservedKeys, reportUnknownKeys } from './checks.js';
import type { ConfigIssue } from './issues.js';
import { isLeaf, leaves, nodeAt, SECTION_KEYS, type Group, type Leaf } from './schema.js';

export interface Placement {
  assignments: Array<[path: string, value: unknown]>;
  issues: ConfigIssue[];
}

/** Maps each value of the document to the schema leaf it sets, reporting what has no place. */
export function placeDocument(document: unknown): Placement {
  const assignments: Array<[string, unknown]> = [];
  const issues: ConfigIssue[] = [];
  if (!isPlainObject(document)) {
    // Not echoed: a list or string here may well be the whole configuration, secrets included.
    const kind = document === null ? 'null' : Array.isArray(document) ? 'a list' : `a ${typeof document}`;
    issues.push({ path: '$', message: `must be a JSON object of configuration keys, not ${kind}` });
    return { assignments, issues };
  }
  const report = (path: string, message: string, value?: unknown): void => {
    issues.push(value === undefined ? { path, message } : { path, message, value });
  };
  reportUnknownKeys(document, SECTION_KEYS, (sub, message) => report(sub.slice(1), message));
  reportReservedKeys(document, (sub, message) => report(sub.slice(1), message));

  const place = (path: string, node: Leaf | Group, raw: unknown): void => {
    if (isLeaf(node)) {
      const value = decodeJsonString(raw, node.format.jsonType);
      if (typeof value === 'string' && node.format.jsonType !== 'string') {
        // Not JSON of the right kind: report it here, since convict would coerce it ("abc" -> NaN).
        node.format(value, (sub, message, bad) => report(path + sub, message, node.sensitive ? REDACTED : bad));
        return;
      }
      assignments.push([path, applyDefaults(value, node.format)]);
      return;
    }
    const value = decodeJsonString(raw, 'object');
    if (!isPlainObject(value)) {
      report(path, 'must be an object', containsSecret(node) ? REDACTED : value);
      return;
    }
    reportUnknownKeys(value, Object.keys(node), (sub, message) => report(path + sub, message));
    for (const [key, child] of Object.entries(value)) {
      const childNode = Object.hasOwn(node, key) ? node[key] : undefined;
      if (childNode) place(`${path}.${key}`, childNode, child);
    }
  };

  for (const key of SECTION_KEYS) {
    if (document[key] === undefined) continue;
    const node = nodeAt(key);
    if (node) place(key, node, document[key]);
  }
  return { assignments, issues };
}

/** The values of the leaves that are objects or lists of objects, with their own defaults filled in. */
export function defaultAssignments(): Array<[string, unknown]> {
  return leaves()
    .filter(([, leaf]) => leaf.format.fields !== undefined)
    .map(([path, leaf]) => [path, applyDefaults(structuredClone(leaf.default), leaf.format)]);
}

function containsSecret(group: Group): boolean {
  return leaves(group).some(([, leaf]) => leaf.sensitive);
}

/**
 * The document with every key present, its defaults filled in, secrets replaced by "[redacted]"
 * and credentials in URLs by `***` (`https://***@host/path`), keyed by the top-level keys users
 * write.
 */
export function renderDocument(properties: Record<string, unknown>): Record<string, unknown> {
  const redacted = redactUrlsIn(structuredClone(properties));
  for (const [path, leaf] of leaves()) {
    if (!leaf.sensitive) continue;
    const keys = path.split('.');
    const last = keys.pop() ?? '';
    const parent = keys.reduce<unknown>((node, key) => (isPlainObject(node) ? node[key] : undefined), redacted);
    if (isPlainObject(parent) && parent[last] !== null && parent[last] !== undefined) parent[last] = REDACTED;
  }
  const out: Record<string, unknown> = {};
  for (const key of SECTION_KEYS) {
    out[key] = key.split('.').reduce<unknown>((node, k) => (isPlainObject(node) ? node[k] : undefined), redacted);
  }
  return out;
}
