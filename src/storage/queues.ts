/**
 * One Azure queue as the engine uses it: send, receive(count), update visibility, delete. Azure
 * counts in seconds and our timers in milliseconds; this file is the only place that converts.
 * Azure's RestErrors are translated to EngineErrors here.
 */
import { isRestError } from '@azure/core-rest-pipeline';
import type { QueueClient } from '@azure/storage-queue';
import { EngineError } from '../errors.js';
import { translateStorageError } from './storage-error.js';

/** Azure returns at most 32 messages per receive. */
export const MAX_RECEIVE_COUNT = 32;
/** Azure's longest visibility timeout: 7 days. */
const MAX_VISIBILITY_IN_SECONDS = 7 * 24 * 3600;

export interface ReceivedMessage {
  messageId: string;
  popReceipt: string;
  dequeueCount: number;
  messageText: string;
  insertedOn: Date;
  expiresOn: Date;
}

export interface SendOptions {
  /** null = never expires. */
  timeToLiveInMs: number | null;
  /** Hidden for this long after it is sent (default 0: visible at once). */
  hiddenForInMs?: number;
  abortSignal: AbortSignal;
}

export interface ReceiveOptions {
  visibilityTimeoutInMs: number;
  abortSignal: AbortSignal;
}

/** The narrow queue interface the engine's components depend on. */
export interface StepQueue {
  readonly name: string;
  send(messageText: string, options: SendOptions): Promise<void>;
  receive(count: number, options: ReceiveOptions): Promise<ReceivedMessage[]>;
  /** Hides the message for `hiddenForInMs` more (0 = visible at once); returns the new pop receipt. */
  updateVisibility(messageId: string, popReceipt: string, hiddenForInMs: number, abortSignal: AbortSignal): Promise<string>;
  /** Replaces the message's text and hides it for `hiddenForInMs`, in one call; returns the new pop receipt. */
  update(messageId: string, popReceipt: string, messageText: string, hiddenForInMs: number, abortSignal: AbortSignal): Promise<string>;
  delete(messageId: string, popReceipt: string, abortSignal: AbortSignal): Promise<void>;
  approximateMessageCount(abortSignal: AbortSignal): Promise<number>;
}

/** Milliseconds to whole seconds for Azure, rounded up so a delay is never shortened. */
export function toVisibilitySeconds(ms: number): number {
  return Math.min(Math.max(Math.ceil(ms / 1000), 0), MAX_VISIBILITY_IN_SECONDS);
}

/** A message's time to live for Azure: whole seconds, at least 1; -1 (never expires) for null. */
export function toTimeToLiveSeconds(ms: number | null): number {
  return ms === null ? -1 : Math.max(Math.ceil(ms / 1000), 1);
}

export function createStepQueue(client: QueueClient): StepQueue {
  const name = client.name;
  const call = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw translateStorageError(err, `${action} on queue ${name}`);
    }
  };
  /** For calls that name a received message: losing it is AE_MESSAGE_LOST, not a storage fault. */
  const onMessage = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (isRestError(err) && (err.statusCode === 404 || (err.statusCode === 400 && err.code === 'PopReceiptMismatch'))) {
        throw new EngineError('AE_MESSAGE_LOST', `${action} on queue ${name} failed: the message is gone or received by another consumer`, { cause: err });
      }
      throw translateStorageError(err, `${action} on queue ${name}`);
    }
  };
  return {
    name,
    send: (messageText, { timeToLiveInMs, hiddenForInMs = 0, abortSignal }) =>
      call('send', async () => {
        const visibilityTimeout = hiddenForInMs > 0 ? toVisibilitySeconds(hiddenForInMs) : undefined;
        await client.sendMessage(messageText, { messageTimeToLive: toTimeToLiveSeconds(timeToLiveInMs), visibilityTimeout, abortSignal });
      }),
    receive: (count, { visibilityTimeoutInMs, abortSignal }) =>
      call('receive', async () => {
        const response = await client.receiveMessages({
          numberOfMessages: Math.min(Math.max(count, 1), MAX_RECEIVE_COUNT),
          // Azure's shortest visibility timeout is one second.
          visibilityTimeout: Math.max(toVisibilitySeconds(visibilityTimeoutInMs), 1),
          abortSignal,
        });
        return response.receivedMessageItems.map((m) => ({
          messageId: m.messageId,
          popReceipt: m.popReceipt,
          dequeueCount: m.dequeueCount,
          messageText: m.messageText,
          insertedOn: m.insertedOn,
          expiresOn: m.expiresOn,
        }));
      }),
    updateVisibility: (messageId, popReceipt, hiddenForInMs, abortSignal) =>
      onMessage('update visibility', async () => {
        const response = await client.updateMessage(messageId, popReceipt, undefined, toVisibilitySeconds(hiddenForInMs), { abortSignal });
        return receiptOf(response.popReceipt, name);
      }),
    update: (messageId, popReceipt, messageText, hiddenForInMs, abortSignal) =>
      onMessage('update', async () => {
        const response = await client.updateMessage(messageId, popReceipt, messageText, toVisibilitySeconds(hiddenForInMs), { abortSignal });
        return receiptOf(response.popReceipt, name);
      }),
    delete: (messageId, popReceipt, abortSignal) =>
      onMessage('delete', async () => {
        await client.deleteMessage(messageId, popReceipt, { abortSignal });
      }),
    approximateMessageCount: (abortSignal) =>
      call('get properties', async () => (await client.getProperties({ abortSignal })).approximateMessagesCount ?? 0),
  };
}

/** The SDK types an update's pop receipt as optional; Azure always returns one. */
function receiptOf(popReceipt: string | undefined, queueName: string): string {
  if (popReceipt === undefined) throw new EngineError('AE_STORAGE', `an update on queue ${queueName} returned no pop receipt`);
  return popReceipt;
}
