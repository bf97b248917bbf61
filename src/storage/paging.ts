/**
 * Paging over a table query: one page of at most `limit` entities, and an opaque cursor that wraps
 * the table's continuation token (clients pass it back as it is).
 */
import type { ListTableEntitiesOptions, TableClient, TableEntityResult } from '@azure/data-tables';

export interface Page<T> {
  items: T[];
  /** null on the last page. */
  nextCursor: string | null;
}

/**
 * Whether `cursor` has the shape of a `nextCursor` this module hands out. The SDK throws a bare
 * SyntaxError on a token it cannot decode, so anything else is refused before it gets there.
 */
export function isCursor(cursor: string): boolean {
  try {
    // The SDK's token: base64 of JSON, decoded one byte per character.
    const token: unknown = JSON.parse(Buffer.from(Buffer.from(cursor, 'base64url').toString('utf8'), 'base64').toString('latin1'));
    if (typeof token !== 'object' || token === null) return false;
    const { nextPartitionKey, nextRowKey } = token as { nextPartitionKey?: unknown; nextRowKey?: unknown };
    return typeof nextPartitionKey === 'string' && nextPartitionKey !== '' && (nextRowKey === undefined || typeof nextRowKey === 'string');
  } catch {
    return false;
  }
}

export async function queryPage<E extends object>(
  table: TableClient,
  queryOptions: ListTableEntitiesOptions['queryOptions'],
  limit: number,
  cursor: string | null,
  abortSignal: AbortSignal,
): Promise<Page<TableEntityResult<E>>> {
  const pages = table
    .listEntities<E>({ abortSignal, queryOptions })
    .byPage({ maxPageSize: limit, ...(cursor ? { continuationToken: Buffer.from(cursor, 'base64url').toString('utf8') } : {}) });
  const page = (await pages.next()).value as (TableEntityResult<E>[] & { continuationToken?: string }) | undefined;
  return {
    items: page ? [...page] : [],
    nextCursor: page?.continuationToken ? Buffer.from(page.continuationToken, 'utf8').toString('base64url') : null,
  };
}
