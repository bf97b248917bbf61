/**
 * Counts storage calls by kind (queue.send, queue.receive, table.update, ...) with a policy in each
 * SDK's pipeline. It sits before the SDKs' retry policies, so it counts calls the engine makes,
 * not the SDKs' retries of them (which Azure bills too): a transient fault cannot make a count
 * flaky. Tests use it to keep extra calls from creeping in; metrics export it, and the calls that
 * failed in the end.
 */
import type { PipelinePolicy } from '@azure/core-rest-pipeline';

export type StorageService = 'queue' | 'table' | 'blob';

export type StorageCallListener = (kind: string) => void;

/** `error` (no answer), `5xx`, or `4xx` for the refusals the engine does not expect (401, 403, 429). */
export type StorageFailureClass = 'error' | '5xx' | '4xx';

export type StorageFailureListener = (kind: string, failure: StorageFailureClass) => void;

/**
 * Whether an answer is a failure: a 5xx, or a refusal of the credentials or the rate. 404, 409 and
 * 412 are answers the engine expects (a conditional write that lost, a message already gone, a
 * lease held by another replica) and count as calls, not as failures.
 */
export function failureOf(status: number): StorageFailureClass | null {
  if (status >= 500) return '5xx';
  return status === 401 || status === 403 || status === 429 ? '4xx' : null;
}

export class StorageCallCounter {
  readonly #counts = new Map<string, number>();
  readonly #listeners: StorageCallListener[] = [];
  readonly #failureListeners: StorageFailureListener[] = [];

  record(kind: string): void {
    this.#counts.set(kind, (this.#counts.get(kind) ?? 0) + 1);
    for (const listener of this.#listeners) listener(kind);
  }

  onCall(listener: StorageCallListener): void {
    this.#listeners.push(listener);
  }

  /** A call of `kind` failed, after the SDK's own retries (see {@link failureOf}). */
  recordFailure(kind: string, failure: StorageFailureClass): void {
    for (const listener of this.#failureListeners) listener(kind, failure);
  }

  onFailure(listener: StorageFailureListener): void {
    this.#failureListeners.push(listener);
  }

  /** Sends through `send`, recording a failed answer, or a call without one unless it was aborted. */
  async #observe<R extends { status: number }>(kind: string, abortSignal: { aborted: boolean } | undefined, send: () => Promise<R>): Promise<R> {
    let response: R;
    try {
      response = await send();
    } catch (err) {
      if (abortSignal?.aborted !== true) this.recordFailure(kind, 'error');
      throw err;
    }
    const failure = failureOf(response.status);
    if (failure !== null) this.recordFailure(kind, failure);
    return response;
  }

  /** Counts by kind since the start (or the last reset). */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.#counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  total(): number {
    let sum = 0;
    for (const n of this.#counts.values()) sum += n;
    return sum;
  }

  reset(): void {
    this.#counts.clear();
  }

  /**
   * The counting policy of one service's pipeline (core-rest-pipeline's, which all three SDKs run).
   * `serviceUrl` is the service client's URL; its path (the account, on Azurite) is where queue
   * names start. A core policy rather than the Queue and Blob SDKs' request-policy factories: those
   * run behind a compatibility layer that converts each request and response both ways, about 8%
   * of a queue call's CPU (Performance issue).
   */
  corePolicy(service: StorageService, serviceUrl = ''): PipelinePolicy {
    const servicePath = serviceUrl === '' ? '' : new URL(serviceUrl).pathname;
    return {
      name: `async-engine-count-${service}`,
      sendRequest: (request, next) => {
        const kind = classify(service, request.method, request.url, request.headers.get('x-http-method'), servicePath);
        this.record(kind);
        return this.#observe(kind, request.abortSignal, () => next(request));
      },
    };
  }
}

/**
 * The kind of a storage REST call, from its method and URL. `servicePath` is the path of the
 * service's URL (`/devstoreaccount1` on Azurite, empty on Azure): below it a queue URL is
 * `/{queue}`, `/{queue}/messages` or `/{queue}/messages/{id}`, whatever the queue is called.
 */
export function classify(service: StorageService, method: string, url: string, methodOverride: string | undefined, servicePath = ''): string {
  const { pathname, searchParams } = new URL(url);
  const verb = (methodOverride ?? method).toUpperCase();
  if (service === 'queue') {
    const base = servicePath.replace(/\/+$/, '');
    const segments = (pathname.startsWith(`${base}/`) ? pathname.slice(base.length) : pathname).split('/').filter(Boolean);
    if (segments.length >= 2 && segments.length <= 3 && segments[1] === 'messages') {
      const hasId = segments.length === 3;
      if (verb === 'GET') return searchParams.get('peekonly') === 'true' ? 'queue.peek' : 'queue.receive';
      if (verb === 'POST') return 'queue.send';
      if (verb === 'PUT' && hasId) return 'queue.update';
      if (verb === 'DELETE') return hasId ? 'queue.delete' : 'queue.clear';
    }
    return 'queue.admin';
  }
  if (service === 'table') {
    if (/\/Tables(\(|$|\/)/.test(pathname)) return 'table.admin';
    // An entity-group transaction: up to 100 writes within one partition, one call (and one bill).
    if (pathname.endsWith('/$batch')) return 'table.batch';
    if (verb === 'GET') return /\(.+\)$/.test(pathname) ? 'table.read' : 'table.query';
    if (verb === 'POST') return 'table.insert';
    if (verb === 'PUT' || verb === 'PATCH' || verb === 'MERGE') return 'table.update';
    if (verb === 'DELETE') return 'table.delete';
    return 'table.admin';
  }
  // A Blob Batch request: up to 256 deletes in one call.
  if (searchParams.get('comp') === 'batch') return 'blob.batch';
  // Listing a container's blobs (by a request's prefix, for retention).
  if (searchParams.get('comp') === 'list' && searchParams.get('restype') === 'container') return 'blob.list';
  if (searchParams.get('restype') === 'container') return 'blob.admin';
  // Acquire, renew, release or break a blob's lease (the sweepers' election): billed as a write.
  if (searchParams.get('comp') === 'lease') return 'blob.lease';
  if (verb === 'PUT') return 'blob.write';
  if (verb === 'GET' || verb === 'HEAD') return 'blob.read';
  if (verb === 'DELETE') return 'blob.delete';
  return 'blob.admin';
}
