/**
 * The time index's meta row, in the status table: PartitionKey `meta~index`, RowKey `meta`. It holds
 * the sweeps' watermark (the oldest hour bucket that may still hold index rows) and the progress of
 * the one-off pass that indexes rows written by versions without the index (engine/index-migration.ts).
 *
 * It is created by the first engine of this version that starts against the table, before that
 * engine writes anything else: every index row is then at or after its first watermark (writers
 * never index before their own clock). Only the sweeper writes it afterwards, If-Match the ETag it
 * read; two sweepers overlapping at a handover agree or one loses its write, and either way the
 * row only moves forward: a watermark advanced too little costs a few empty reads, never a row.
 */
import { odata, type TableClient } from '@azure/data-tables';
import { isEngineError } from '../errors.js';
import { required } from '../common/required.js';
import { bucketOf, isBucket } from './due-index.js';
import { translateStorageError } from './storage-error.js';

const PARTITION_KEY = 'meta~index';
const ROW_KEY = 'meta';
/** Pages the start-up probe for rows of an earlier version follows before it assumes there are some. */
const PROBE_PAGES = 10;

export type MigrationPhase = 'status' | 'idempotency';

export type MigrationProgress =
  | { state: 'done'; finishedAt: Date }
  /** Rows created before `cutoff` are indexed a page at a time; `cursor` is where the next page starts. */
  | { state: 'pending'; cutoff: Date; phase: MigrationPhase; cursor: string | null; indexed: number };

export interface IndexMeta {
  firstStartedAt: Date;
  watermark: string;
  migration: MigrationProgress;
}

interface MetaEntity {
  partitionKey: string;
  rowKey: string;
  FirstStartedAt: Date;
  Watermark: string;
  MigrationState: string;
  MigrationCutoff: Date;
  MigrationPhase: string;
  MigrationCursor: string;
  MigrationIndexed: number;
  MigrationFinishedAt: Date;
}

const asDate = (value: unknown): Date => (value instanceof Date ? value : new Date(String(value)));

export class IndexMetaTable {
  readonly #table: TableClient;

  /** `table` is the status table's client. */
  constructor(table: TableClient) {
    this.#table = table;
  }

  async get(abortSignal: AbortSignal): Promise<{ meta: IndexMeta; etag: string } | null> {
    try {
      const e = await this.#table.getEntity<MetaEntity>(PARTITION_KEY, ROW_KEY, { abortSignal });
      return { meta: fromEntity(e), etag: e.etag };
    } catch (err) {
      const translated = translateStorageError(err, 'reading the index meta row');
      if (isEngineError(translated, 'AE_NOT_FOUND')) return null;
      throw translated;
    }
  }

  /**
   * The meta row, created when there is none: first watermark the bucket of `now`; the migration is
   * done at once when the table holds no request or idempotency record (nothing was written
   * without an index), else pending until `now + migrationDelayInMs`, the cutoff (see
   * engine/index-migration.ts). Of engines starting together, one creates it and the others read it.
   * `watermark` replaces the first watermark when the row is made again after someone deleted it.
   */
  async open(now: Date, migrationDelayInMs: number, abortSignal: AbortSignal, watermark = bucketOf(now)): Promise<IndexMeta> {
    const existing = await this.get(abortSignal);
    if (existing) return existing.meta;
    const hasRows = await this.#hasRequestRows(abortSignal);
    const meta: IndexMeta = {
      firstStartedAt: now,
      watermark,
      migration: hasRows
        ? { state: 'pending', cutoff: new Date(now.getTime() + migrationDelayInMs), phase: 'status', cursor: null, indexed: 0 }
        : { state: 'done', finishedAt: now },
    };
    try {
      await this.#table.createEntity(toEntity(meta), { abortSignal });
      return meta;
    } catch (err) {
      const translated = translateStorageError(err, 'creating the index meta row');
      if (!isEngineError(translated, 'AE_STORAGE_CONFLICT')) throw translated;
      return required(await this.get(abortSignal), 'AE_STORAGE', 'the index meta row another engine created').meta;
    }
  }

  /** Writes `meta` If-Match `etag`; the new ETag, or null when another writer changed it first. */
  async update(meta: IndexMeta, etag: string, abortSignal: AbortSignal): Promise<string | null> {
    try {
      const response = await this.#table.updateEntity(toEntity(meta), 'Replace', { etag, abortSignal });
      return required(response.etag, 'AE_STORAGE', 'the ETag of the index meta row');
    } catch (err) {
      const translated = translateStorageError(err, 'writing the index meta row');
      if (isEngineError(translated, 'AE_STORAGE_CONFLICT') || isEngineError(translated, 'AE_NOT_FOUND')) return null;
      throw translated;
    }
  }

  /** Whether any status row or idempotency record exists (a scan that stops at the first). */
  async #hasRequestRows(abortSignal: AbortSignal): Promise<boolean> {
    const filter = odata`RowKey eq ${'status'} or RowKey eq ${'idempotency'}`;
    try {
      let pages = 0;
      for await (const page of this.#table.listEntities({ abortSignal, queryOptions: { filter, select: ['RowKey'] } }).byPage({ maxPageSize: 1 })) {
        if (page.length > 0) return true;
        // Azure may answer an empty page with a continuation (a scan's time limit): give up after a few.
        if (++pages >= PROBE_PAGES) return true;
      }
      return false;
    } catch (err) {
      throw translateStorageError(err, 'looking for rows of an earlier version');
    }
  }
}

function toEntity(meta: IndexMeta): MetaEntity {
  const { migration } = meta;
  const pending = migration.state === 'pending' ? migration : null;
  return {
    partitionKey: PARTITION_KEY,
    rowKey: ROW_KEY,
    FirstStartedAt: meta.firstStartedAt,
    Watermark: meta.watermark,
    MigrationState: migration.state,
    MigrationCutoff: pending?.cutoff ?? meta.firstStartedAt,
    MigrationPhase: pending?.phase ?? '',
    MigrationCursor: pending?.cursor ?? '',
    MigrationIndexed: pending?.indexed ?? 0,
    MigrationFinishedAt: migration.state === 'done' ? migration.finishedAt : meta.firstStartedAt,
  };
}

function fromEntity(e: MetaEntity): IndexMeta {
  const firstStartedAt = asDate(e.FirstStartedAt);
  // A damaged row (someone edited it) falls back to what is safe: the first bucket, and the pass not done.
  const watermark = isBucket(e.Watermark) ? e.Watermark : bucketOf(firstStartedAt);
  const migration: MigrationProgress =
    e.MigrationState === 'done'
      ? { state: 'done', finishedAt: asDate(e.MigrationFinishedAt) }
      : {
          state: 'pending',
          cutoff: asDate(e.MigrationCutoff),
          phase: e.MigrationPhase === 'idempotency' ? 'idempotency' : 'status',
          cursor: typeof e.MigrationCursor === 'string' && e.MigrationCursor !== '' ? e.MigrationCursor : null,
          indexed: typeof e.MigrationIndexed === 'number' ? e.MigrationIndexed : 0,
        };
  return { firstStartedAt, watermark, migration };
}
