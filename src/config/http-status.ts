/**
 * A redelivery rule's `httpStatus`: an exact status (`503`), a range (`"500-599"`, both ends
 * included) or a class (`"5xx"`, the range of 100), all within 100..599. Read once by the schema's
 * check, the cross-checks (overlaps) and the resolver, so the three agree on what a value means.
 */

/** The statuses a rule applies to, or what is wrong with its httpStatus. */
export type HttpStatusRange = { kind: 'range'; fromStatus: number; toStatus: number } | { kind: 'invalid'; message: string };

const LOWEST = 100;
const HIGHEST = 599;
const RANGE = /^(\d{3})-(\d{3})$/;
const CLASS = /^(\d)xx$/i;

export function readHttpStatus(value: unknown): HttpStatusRange {
  if (typeof value === 'number' && Number.isInteger(value)) return within(value, value);
  if (typeof value === 'string') {
    const range = RANGE.exec(value);
    if (range) {
      const fromStatus = Number(range[1]);
      const toStatus = Number(range[2]);
      if (fromStatus > toStatus) return { kind: 'invalid', message: `is a reversed range: write "${toStatus}-${fromStatus}"` };
      return within(fromStatus, toStatus);
    }
    const statusClass = CLASS.exec(value);
    if (statusClass) return within(Number(statusClass[1]) * 100, Number(statusClass[1]) * 100 + 99);
  }
  return { kind: 'invalid', message: `must be an HTTP status from ${LOWEST} to ${HIGHEST}, a range such as "500-599" or a class such as "5xx"` };
}

function within(fromStatus: number, toStatus: number): HttpStatusRange {
  if (fromStatus < LOWEST || toStatus > HIGHEST) return { kind: 'invalid', message: `must lie within ${LOWEST}..${HIGHEST}` };
  return { kind: 'range', fromStatus, toStatus };
}
