/**
 * The name of the engine's own queue of callback deliveries. It is derived from
 * table.config.statusTable because the callbacks belong to that table's rows: every replica that
 * shares the table shares the queue, and one whose table differs never takes another's callbacks.
 */
import { createHash } from 'node:crypto';

const SUFFIX = '-callbacks';
/** Azure's longest queue name. */
const MAX_QUEUE_NAME_LENGTH = 63;
/** Hex characters of the table name's hash kept when the name must be shortened. */
const HASH_LENGTH = 8;

/**
 * `{statusTable, lower-cased}-callbacks`, e.g. `asyncenginestatus-callbacks`: a valid queue name for
 * every valid table name (letters and digits, starting with a letter). A table name too long to
 * take the suffix is cut and followed by a hash of the whole name, so two long names that share
 * their beginning still name two queues.
 */
export function callbackQueueName(statusTable: string): string {
  const base = statusTable.toLowerCase();
  if (base.length + SUFFIX.length <= MAX_QUEUE_NAME_LENGTH) return `${base}${SUFFIX}`;
  const hash = createHash('sha256').update(base).digest('hex').slice(0, HASH_LENGTH);
  return `${base.slice(0, MAX_QUEUE_NAME_LENGTH - SUFFIX.length - HASH_LENGTH - 1)}-${hash}${SUFFIX}`;
}
