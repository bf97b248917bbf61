/**
 * The time index: one row per request (and per DLQ replay job) in the status table, keyed by when
 * it next needs a look (its "check-at"), so that the sweeps read only what is due instead of
 * scanning the table. The status row cannot carry it: its PartitionKey is the request id (contract
 * section 5), and a range over time needs rows that share partitions.
 *
 * Layout. PartitionKey `due~{yyyyMMddHH of the check-at, UTC}~{s}`, `s` the first hex digit of the
 * request id (of the UUID in a job id): 16 shards, so that no partition takes more than a sixteenth
 * of the index writes (Azure's target is 2,000 entities a second per partition). RowKey
 * `{check-at, epoch milliseconds, 13 digits}~{request id or job id}`. Properties: `RequestId` (or
 * `ReplayJobId`), `IdempotencyPartitionKey` when the request claimed an Idempotency-Key (the
 * PartitionKey of its record, idempotency-keys.ts), and `CreatedAt`. Request listings and sweeps
 * of requests filter on RowKey `status`, so index rows never show up there, and `~` never occurs in
 * a request id.
 *
 * Reading. A sweep asks each shard of an hour bucket for `RowKey lt '{now}~'`: a range within one
 * partition, whose cost depends on what is due there, not on the table.
 *
 * Writing. Index rows are upserted (a row written again after a crash is the same row) and deleted
 * in entity-group transactions of up to 100 actions within one partition: one call, one bill. Two
 * index rows of one target may fall on one key (a request indexed twice, re-indexed to the same
 * time): the upsert merges, so a row that names an idempotency record keeps naming it, and a
 * transaction never holds one key twice (storage would refuse it whole).
 * Writers never put a check-at before their own clock, so a bucket that has ended (plus a grace for
 * clocks and slow writes) receives no more rows and the sweep's watermark can pass it.
 *
 * Trust. Anyone with write access to the table can write rows here. A row that does not parse as
 * one the engine writes (its keys and properties agree) is reported without an entry, and the sweep
 * only removes it; a row that parses names a request or job whose own row decides what happens.
 */
import { randomUUID } from 'node:crypto';
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { isEngineError } from '../errors.js';
import { isRequestId } from './envelope.js';
import { isReplayJobId } from './replay-jobs.js';
import { translateStorageError } from './storage-error.js';

export const SHARD_COUNT = 16;
/** Azure's most actions in one entity-group transaction. */
export const MAX_TRANSACTION_ACTIONS = 100;

const PARTITION_PREFIX = 'due~';
const HOUR_IN_MS = 3_600_000;
const CHECK_AT_DIGITS = 13;
/** The PartitionKey of an idempotency record (idempotency-keys.ts): nothing else is ever touched through an index row. */
const IDEMPOTENCY_PARTITION = /^idem~[A-Za-z0-9][A-Za-z0-9_.-]{0,99}~[0-9a-f]{64}$/;

/** What an index row looks after. */
export type IndexTarget =
  /** A request's status row, and its idempotency record when it claimed a key. */
  | { kind: 'request'; requestId: string; idempotencyPartitionKey: string | null }
  | { kind: 'replay-job'; jobId: string };

export interface IndexEntry {
  checkAt: Date;
  target: IndexTarget;
  /** When the request (or job) was created: its idempotency record's time comes from it. */
  createdAt: Date;
}

export interface IndexKeys {
  partitionKey: string;
  rowKey: string;
}

/** An index row as read: its entry, or null when it is not a row the engine writes (to be removed). */
export interface StoredIndexRow {
  keys: IndexKeys;
  entry: IndexEntry | null;
}

// A type, not an interface: a transaction takes entities as records.
type IndexEntity = {
  partitionKey: string;
  rowKey: string;
  RequestId?: string;
  ReplayJobId?: string;
  IdempotencyPartitionKey?: string;
  CreatedAt: Date;
};

/** The hour bucket of `at`: `yyyyMMddHH`, UTC. */
export function bucketOf(at: Date): string {
  return at.toISOString().slice(0, 13).replace(/[-T]/g, '');
}

/** When `bucket` begins. */
export function bucketStart(bucket: string): Date {
  const [, y, m, d, h] = /^(\d{4})(\d{2})(\d{2})(\d{2})$/.exec(bucket) ?? [];
  return new Date(Date.UTC(Number(y), Number(m) - 1, Number(d), Number(h)));
}

/** The bucket `hours` after `bucket` (before, when negative). */
export function addHours(bucket: string, hours: number): string {
  return bucketOf(new Date(bucketStart(bucket).getTime() + hours * HOUR_IN_MS));
}

export function isBucket(value: unknown): value is string {
  return typeof value === 'string' && /^\d{10}$/.test(value) && bucketOf(bucketStart(value)) === value;
}

export function partitionKeyOf(bucket: string, shard: number): string {
  return `${PARTITION_PREFIX}${bucket}~${shard.toString(16)}`;
}

/** The shard of a request id or a replay job id: the first hex digit of its UUID. */
export function shardOf(id: string): number {
  const uuid = id.startsWith('replay-') ? id.slice('replay-'.length) : id;
  return Number.parseInt(uuid.charAt(0), 16);
}

/** A new random UUID (v4) whose first hex digit, and so whose shard, is `shard`. */
export function randomIdInShard(shard: number): string {
  return `${shard.toString(16)}${randomUUID().slice(1)}`;
}

export function isIdempotencyPartitionKey(value: unknown): value is string {
  return typeof value === 'string' && IDEMPOTENCY_PARTITION.test(value);
}

const targetIdOf = (target: IndexTarget): string => (target.kind === 'request' ? target.requestId : target.jobId);

export function keysOf({ checkAt, target }: IndexEntry): IndexKeys {
  const id = targetIdOf(target);
  return {
    partitionKey: partitionKeyOf(bucketOf(checkAt), shardOf(id)),
    rowKey: `${String(checkAt.getTime()).padStart(CHECK_AT_DIGITS, '0')}~${id}`,
  };
}

/** The entities of `entries`, one per key: of two on one key, the one naming an idempotency record. */
function upsertsOf(entries: readonly IndexEntry[]): IndexEntity[] {
  const byKey = new Map<string, IndexEntity>();
  for (const entry of entries) {
    const entity = toEntity(entry);
    const key = `${entity.partitionKey}/${entity.rowKey}`;
    const earlier = byKey.get(key);
    if (earlier === undefined || earlier.IdempotencyPartitionKey === undefined) byKey.set(key, entity);
  }
  return [...byKey.values()];
}

function toEntity(entry: IndexEntry): IndexEntity {
  const { target } = entry;
  const entity: IndexEntity = { ...keysOf(entry), CreatedAt: entry.createdAt };
  if (target.kind === 'replay-job') entity.ReplayJobId = target.jobId;
  else {
    entity.RequestId = target.requestId;
    if (target.idempotencyPartitionKey !== null) entity.IdempotencyPartitionKey = target.idempotencyPartitionKey;
  }
  return entity;
}

/** The entry of a row, or null unless its keys and properties agree as the engine writes them. */
function fromEntity(e: TableEntityResult<IndexEntity>): IndexEntry | null {
  const [, time] = /^(\d{13})~/.exec(e.rowKey ?? '') ?? [];
  const createdAt = e.CreatedAt instanceof Date ? e.CreatedAt : new Date(String(e.CreatedAt));
  if (time === undefined || Number.isNaN(createdAt.getTime())) return null;
  let target: IndexTarget;
  if (isRequestId(e.RequestId) && e.ReplayJobId === undefined) {
    const idempotency = e.IdempotencyPartitionKey;
    if (idempotency !== undefined && !isIdempotencyPartitionKey(idempotency)) return null;
    target = { kind: 'request', requestId: e.RequestId, idempotencyPartitionKey: idempotency ?? null };
  } else if (typeof e.ReplayJobId === 'string' && isReplayJobId(e.ReplayJobId) && e.RequestId === undefined) {
    target = { kind: 'replay-job', jobId: e.ReplayJobId };
  } else {
    return null;
  }
  const entry: IndexEntry = { checkAt: new Date(Number(time)), target, createdAt };
  const keys = keysOf(entry);
  return keys.partitionKey === e.partitionKey && keys.rowKey === e.rowKey ? entry : null;
}

export class DueIndexTable {
  readonly #table: TableClient;

  /** `table` is the status table's client. */
  constructor(table: TableClient) {
    this.#table = table;
  }

  /**
   * Up to `limit` rows of one partition whose check-at is before `before`, in check-at order,
   * after RowKey `after` when given: one call.
   */
  async listDue(partitionKey: string, { before, after, limit }: { before: Date; after: string | null; limit: number }, abortSignal: AbortSignal): Promise<StoredIndexRow[]> {
    const upper = `${String(before.getTime()).padStart(CHECK_AT_DIGITS, '0')}~`;
    let filter = odata`PartitionKey eq ${partitionKey} and RowKey lt ${upper}`;
    if (after !== null) filter += ` and ${odata`RowKey gt ${after}`}`;
    try {
      const pages = this.#table.listEntities<IndexEntity>({ abortSignal, queryOptions: { filter } }).byPage({ maxPageSize: limit });
      const page = (await pages.next()).value as TableEntityResult<IndexEntity>[] | undefined;
      return (page ?? []).slice(0, limit).map((e) => ({ keys: { partitionKey: e.partitionKey ?? partitionKey, rowKey: e.rowKey ?? '' }, entry: fromEntity(e) }));
    } catch (err) {
      throw translateStorageError(err, `listing due index rows of ${partitionKey}`);
    }
  }

  /** Writes `entries` (again), in transactions of up to 100 per partition. */
  async upsert(entries: readonly IndexEntry[], abortSignal: AbortSignal): Promise<void> {
    const actions = upsertsOf(entries).map((entity): [string, TransactionAction] => [entity.partitionKey, ['upsert', entity, 'Merge']]);
    await this.#inTransactions(actions, 'writing index rows', abortSignal);
  }

  /** Upserts one partition's entries (at most 100) in one transaction: the group commit's call. */
  async upsertTransaction(entries: readonly IndexEntry[], abortSignal: AbortSignal): Promise<void> {
    if (entries.length === 0) return;
    await this.#submit(
      upsertsOf(entries).map((entity) => ['upsert', entity, 'Merge']),
      'writing index rows',
      abortSignal,
    );
  }

  /**
   * Removes rows, in transactions of up to 100 per partition. A row already gone fails its whole
   * transaction (another sweeper removed it meanwhile): that partition's rows are then removed one
   * by one, the missing ones counted as removed.
   */
  async delete(keys: readonly IndexKeys[], abortSignal: AbortSignal): Promise<void> {
    const unique = new Map(keys.map((k) => [`${k.partitionKey}/${k.rowKey}`, k]));
    const actions = [...unique.values()].map((k): [string, TransactionAction] => [k.partitionKey, ['delete', { partitionKey: k.partitionKey, rowKey: k.rowKey }]]);
    await this.#inTransactions(actions, 'deleting index rows', abortSignal, async (chunk) => {
      await Promise.all(chunk.map(async ([, entity]) => this.#deleteOne(entity.partitionKey, entity.rowKey, abortSignal)));
    });
  }

  async #deleteOne(partitionKey: string, rowKey: string, abortSignal: AbortSignal): Promise<void> {
    try {
      await this.#table.deleteEntity(partitionKey, rowKey, { abortSignal });
    } catch (err) {
      const translated = translateStorageError(err, `deleting index row ${partitionKey}/${rowKey}`);
      if (!isEngineError(translated, 'AE_NOT_FOUND')) throw translated;
    }
  }

  /** Partitions side by side; one partition's transactions one after another (one in flight each). */
  async #inTransactions(
    actions: ReadonlyArray<[string, TransactionAction]>,
    what: string,
    abortSignal: AbortSignal,
    onNotFound?: (chunk: TransactionAction[]) => Promise<void>,
  ): Promise<void> {
    const byPartition = new Map<string, TransactionAction[]>();
    for (const [partition, action] of actions) {
      const list = byPartition.get(partition);
      if (list) list.push(action);
      else byPartition.set(partition, [action]);
    }
    await Promise.all(
      [...byPartition.values()].map(async (list) => {
        for (let i = 0; i < list.length; i += MAX_TRANSACTION_ACTIONS) {
          const chunk = list.slice(i, i + MAX_TRANSACTION_ACTIONS);
          try {
            await this.#submit(chunk, what, abortSignal);
          } catch (err) {
            if (!onNotFound || !isEngineError(err, 'AE_NOT_FOUND')) throw err;
            await onNotFound(chunk);
          }
        }
      }),
    );
  }

  async #submit(actions: TransactionAction[], what: string, abortSignal: AbortSignal): Promise<void> {
    try {
      await this.#table.submitTransaction(actions, { abortSignal });
    } catch (err) {
      throw translateStorageError(err, what);
    }
  }
}
