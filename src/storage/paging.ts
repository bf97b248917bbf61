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
