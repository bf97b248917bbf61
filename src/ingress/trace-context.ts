/**
 * W3C Trace Context: a `traceparent` a client sends is passed on to every endpoint only when it is
 * well-formed; anything else (malformed, oversized, all-zero ids, the forbidden version ff) is
 * dropped rather than forwarded.
 */

/** version-traceid-parentid-flags, lowercase hex; later versions may append `-` fields. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?$/;
/** Far more than any version's fields need. */
const MAX_LENGTH = 256;

/** The header when it is a valid traceparent, else null. */
export function validTraceparent(header: string): string | null {
  if (header.length > MAX_LENGTH) return null;
  const [, version, traceId, parentId, , extra] = TRACEPARENT.exec(header) ?? [];
  if (version === undefined || traceId === undefined || parentId === undefined) return null;
  if (version === 'ff' || (version === '00' && extra !== undefined)) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return null;
  return header;
}
