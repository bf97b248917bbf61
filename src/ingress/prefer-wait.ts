/**
 * `Prefer: wait=N` (RFC 7240) on a submission: the ingress holds its answer up to N seconds (at
 * most server.config.maxWaitSeconds) for the request to reach a final state. It learns of that at
 * once when this process's engine finished the request (Completions), and otherwise by reading the
 * status row, at most twice a second (another replica runs it).
 */
import type { Completions } from '../engine/completions.js';
import type { Logger } from '../observability/log.js';
import type { StatusRow, StatusTable } from '../storage/status-table.js';

/** The shortest time between two reads of a waited-for request's status row. */
const STATUS_READ_INTERVAL_IN_MS = 500;

/** One preference's name, as RFC 7240 section 2 writes it (an RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DELTA_SECONDS = /^[0-9]+$/;

/**
 * The seconds to wait that a `Prefer` header value asks for, capped to `maxInSeconds`; null when it
 * asks for none: no `wait` preference, or one that is not a positive whole number of seconds (an
 * invalid preference is as if absent). Preferences are comma-separated, may carry `;` parameters
 * (ignored), names are case-insensitive, and only the first `wait` counts (RFC 7240 section 2).
 */
export function preferredWaitInSeconds(header: string, maxInSeconds: number): number | null {
  for (const preference of splitOutsideQuotes(header, ',')) {
    const [head = ''] = splitOutsideQuotes(preference, ';');
    const equals = head.indexOf('=');
    const name = (equals < 0 ? head : head.slice(0, equals)).trim();
    if (!TOKEN.test(name) || name.toLowerCase() !== 'wait') continue;
    const value = unquote(equals < 0 ? '' : head.slice(equals + 1).trim());
    if (!DELTA_SECONDS.test(value)) return null;
    const seconds = Number(value);
    return seconds <= 0 ? null : Math.min(seconds, maxInSeconds);
  }
  return null;
}

/** Splits on `separator` where it is not inside a quoted-string. */
function splitOutsideQuotes(text: string, separator: ',' | ';'): string[] {
  const parts: string[] = [];
  let start = 0;
  let isQuoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (isQuoted && c === '\\') i++;
    else if (c === '"') isQuoted = !isQuoted;
    else if (!isQuoted && c === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** A quoted-string's content (a token is kept as it is). */
function unquote(word: string): string {
  return word.length >= 2 && word.startsWith('"') && word.endsWith('"') ? word.slice(1, -1).replace(/\\(.)/g, '$1') : word;
}

export interface FinalWaitDeps {
  statusTable: StatusTable;
  completions: Completions;
  log: Logger;
}

/**
 * The row of `requestId` once it is completed or dead-lettered; null when `signal` aborts first
 * (time up, client gone, shutdown). A storage fault on one read is not the client's problem: the
 * next read may succeed, and at worst the client gets the usual 202.
 */
export async function waitForFinal({ statusTable, completions, log }: FinalWaitDeps, requestId: string, signal: AbortSignal): Promise<StatusRow | null> {
  while (!signal.aborted) {
    const pace = new AbortController();
    const timer = setTimeout(() => pace.abort(), STATUS_READ_INTERVAL_IN_MS);
    const stop = (): void => pace.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      // Listening before the read: a notify that comes while the read is under way is not missed.
      const notified = completions.waitFor(requestId, pace.signal);
      const row = await statusTable.get(requestId, signal).catch((err: unknown) => {
        if (!signal.aborted) log.debug({ err, requestId }, 'request.wait_read_failed');
        return null;
      });
      if (row !== null && isFinal(row)) return row;
      // The next read comes when this process finished the request, or the interval is over.
      await notified;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      pace.abort();
    }
  }
  return null;
}

function isFinal({ status }: StatusRow): boolean {
  return status.status === 'completed' || status.status === 'dead-lettered';
}

/**
 * The signal a waiting submission waits on: it aborts after `seconds`, when the client goes away
 * (its connection closes before the answer is sent), or when the engine shuts down. `dispose`
 * removes its listeners.
 */
export function waitSignal(seconds: number, response: { once(event: 'close', listener: () => void): unknown; off(event: 'close', listener: () => void): unknown }, shuttingDown: AbortSignal): { signal: AbortSignal; dispose: () => void } {
  const waiting = new AbortController();
  const stop = (): void => waiting.abort();
  const timer = setTimeout(stop, seconds * 1000);
  response.once('close', stop);
  shuttingDown.addEventListener('abort', stop, { once: true });
  if (shuttingDown.aborted) stop();
  return {
    signal: waiting.signal,
    dispose: () => {
      clearTimeout(timer);
      response.off('close', stop);
      shuttingDown.removeEventListener('abort', stop);
    },
  };
}
