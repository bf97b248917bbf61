/**
 * A message of the engine's callback queue: which request's callback to deliver, for which of its
 * outcomes, and the attempt to come. A versioned JSON object, base64-encoded like the step
 * envelopes. It names nothing else on purpose: where the callback goes and what it says come from
 * the request's status row, so a message written by someone else can at most have a request's own
 * callback delivered to its own URL.
 */
import { isRequestId } from './envelope.js';

export const CALLBACK_MESSAGE_VERSION = 1;

export interface CallbackMessage {
  v: typeof CALLBACK_MESSAGE_VERSION;
  requestId: string;
  /**
   * The `completedAt` of the outcome this callback reports (ISO 8601, milliseconds): a replay
   * clears it and the next outcome writes a new one, so a message of an earlier outcome is told
   * apart and dropped instead of posting the new status twice or an old one late.
   */
  completedAt: string;
  /** Counts from 1; the message's text is updated with the next attempt when a try fails. */
  attempt: number;
}

/** Far more than any callback message needs (about 150 characters); a longer text is not read at all. */
const MAX_MESSAGE_TEXT_LENGTH = 1024;
/** callback.config.retries is at most 100; a little room beyond for a configuration lowered since. */
const MAX_ATTEMPT = 1000;
/** Date.prototype.toISOString's form, which is what the engine writes. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Whether `text` is an instant as toISOString() writes it (no 30 February, which Date would roll over). */
function isIsoInstant(text: string): boolean {
  const ms = Date.parse(text);
  return ISO_INSTANT.test(text) && !Number.isNaN(ms) && new Date(ms).toISOString() === text;
}

/** Why a callback queue message could not be read. */
export class CallbackMessageError extends Error {
  override name = 'CallbackMessageError';
}

export function encodeCallbackMessage(message: CallbackMessage): string {
  return Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
}

/** Reads a callback queue message's text; throws {@link CallbackMessageError} saying what is wrong (never quoting it). */
export function decodeCallbackMessage(messageText: string): CallbackMessage {
  if (messageText.length > MAX_MESSAGE_TEXT_LENGTH) throw new CallbackMessageError(`the message has ${messageText.length} characters, more than a callback message has`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(messageText, 'base64').toString('utf8'));
  } catch {
    throw new CallbackMessageError('the message is not base64-encoded JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CallbackMessageError('the message is not a JSON object');
  const m = value as Record<string, unknown>;
  if (m['v'] !== CALLBACK_MESSAGE_VERSION) throw new CallbackMessageError('the message is not a callback message of version 1');
  const problems: string[] = [];
  const need = (key: string, ok: boolean): void => {
    if (!ok) problems.push(key);
  };
  need('requestId', isRequestId(m['requestId']));
  const completedAt = m['completedAt'];
  need('completedAt', typeof completedAt === 'string' && isIsoInstant(completedAt));
  need('attempt', Number.isInteger(m['attempt']) && (m['attempt'] as number) >= 1 && (m['attempt'] as number) <= MAX_ATTEMPT);
  const extra = Object.keys(m).filter((key) => !['v', 'requestId', 'completedAt', 'attempt'].includes(key));
  if (extra.length > 0) problems.push(`unknown fields (${extra.length})`);
  if (problems.length > 0) throw new CallbackMessageError(`the callback message has invalid fields: ${problems.join(', ')}`);
  return { v: CALLBACK_MESSAGE_VERSION, requestId: m['requestId'] as string, completedAt: completedAt as string, attempt: m['attempt'] as number };
}
