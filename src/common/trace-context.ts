/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): a `traceparent` or `tracestate` is
 * used only when it is well-formed; anything else (malformed, oversized, all-zero ids, the
 * forbidden version ff) is dropped rather than forwarded or trusted. Clients send these headers and
 * queue messages carry them, so neither is trusted further than these checks.
 */

/** version-traceid-parentid-flags, lowercase hex; later versions may append `-` fields. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?$/;
/** Far more than any version's fields need. */
const MAX_TRACEPARENT_LENGTH = 256;

/** The ids and flags a traceparent carries. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  /** The trace-flags byte; bit 0 is `sampled`. */
  traceFlags: number;
}

/** The header when it is a valid traceparent, else null. */
export function validTraceparent(header: string): string | null {
  return parseTraceparent(header) === null ? null : header;
}

/** The ids and flags of a valid traceparent, else null. */
export function parseTraceparent(header: string): TraceParent | null {
  if (header.length > MAX_TRACEPARENT_LENGTH) return null;
  const [, version, traceId, spanId, flags, extra] = TRACEPARENT.exec(header) ?? [];
  if (version === undefined || traceId === undefined || spanId === undefined || flags === undefined) return null;
  if (version === 'ff' || (version === '00' && extra !== undefined)) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return null;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) };
}

/** The version 00 traceparent of `parent`: what a downstream call receives. */
export function formatTraceparent({ traceId, spanId, traceFlags }: TraceParent): string {
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * A tracestate list member: `key=value`. Keys are lowercase (`vendor` or `tenant@vendor`); values
 * are printable ASCII without `,` and `=`, not ending in a space.
 */
const TRACESTATE_MEMBER = /^(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
/** W3C: a list of at most 32 members, and what must be propagated is at most 512 characters. */
const MAX_TRACESTATE_MEMBERS = 32;
const MAX_TRACESTATE_LENGTH = 512;

/**
 * The header when it is a valid tracestate, else null (also for the empty list). A tracestate
 * longer than 512 characters is dropped whole, as the specification allows: a client cannot make
 * the engine store and forward an arbitrary amount of text with every message.
 */
export function validTracestate(header: string): string | null {
  if (header.length > MAX_TRACESTATE_LENGTH) return null;
  const members = header.split(',').map((member) => member.trim());
  const present = members.filter((member) => member !== '');
  if (present.length === 0 || present.length > MAX_TRACESTATE_MEMBERS) return null;
  if (!present.every((member) => TRACESTATE_MEMBER.test(member))) return null;
  const keys = present.map((member) => member.slice(0, member.indexOf('=')));
  if (new Set(keys).size !== keys.length) return null;
  return present.join(',');
}
