/**
 * Indexing what is about to be written: a new request (the ingress), a request whose status row a
 * DLQ replay makes again, a replay job. The index row (storage/due-index.ts) goes first, through the
 * group commit (storage/index-committer.ts), and the row it looks after only once it is stored. A
 * crash between the two leaves an index row whose target is missing, which the sweep removes; never
 * a row without an index row, which no sweep would ever find.
 */
import type { IndexCommitter } from '../storage/index-committer.js';
import type { DueRules } from './due-rules.js';

export interface RequestIndexOptions {
  committer: IndexCommitter;
  rules: DueRules;
}

export interface NewRequest {
  requestId: string;
  /** The queue its first message goes to. */
  queue: string;
  createdAt: Date;
  /** The PartitionKey of its idempotency record, when it claims a key. */
  idempotencyPartitionKey: string | null;
}

export class RequestIndex {
  readonly #committer: IndexCommitter;
  readonly #rules: DueRules;

  constructor({ committer, rules }: RequestIndexOptions) {
    this.#committer = committer;
    this.#rules = rules;
  }

  /** A new request id, in the shard whose index rows are being committed together. */
  createRequestId(): string {
    return this.#committer.createRequestId();
  }

  /** Stores the index row of `request`; its status row (and idempotency record) may be written once this resolves. */
  addRequest({ requestId, queue, createdAt, idempotencyPartitionKey }: NewRequest, abortSignal: AbortSignal): Promise<void> {
    const checkAt = this.#rules.initialCheckAt(queue, createdAt, idempotencyPartitionKey !== null);
    return this.#committer.add({ checkAt, target: { kind: 'request', requestId, idempotencyPartitionKey }, createdAt }, abortSignal);
  }

  /** Stores the index row of a replay job before its row. */
  addReplayJob(jobId: string, startedAt: Date, abortSignal: AbortSignal): Promise<void> {
    return this.#committer.add({ checkAt: this.#rules.jobInitialCheckAt(startedAt), target: { kind: 'replay-job', jobId }, createdAt: startedAt }, abortSignal);
  }
}
