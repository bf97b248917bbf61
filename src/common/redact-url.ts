/**
 * URLs as the engine shows them: credentials written into a URL (`https://user:password@host/`)
 * are replaced wherever a URL is shown (GET /api/flows, DLQ entries, logs, `config check`).
 */

/**
 * An http(s) URL's authority up to its last `@`, as the WHATWG URL parser reads it: the authority
 * ends at the first `/`, `\`, `?` or `#`, and the parser accepts any number of slashes (even none)
 * after the scheme.
 */
const USERINFO = /^(https?:[/\\]*)[^/\\?#]*@/i;

/**
 * `url` with its userinfo (user and password alike) replaced by `***`, as in
 * `https://***@host/path`; everything else as it was. Text without userinfo is returned unchanged.
 */
export function redactUrl(url: string): string {
  // The parser skips leading spaces and control characters.
  let start = 0;
  while (start < url.length && url.charCodeAt(start) <= 0x20) start++;
  const redacted = url.slice(0, start) + url.slice(start).replace(USERINFO, '$1***@');
  if (redacted !== url || !URL.canParse(url)) return redacted;
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return url;
  // A form the pattern does not know (the parser also drops tabs and newlines anywhere): the
  // parser's own writing of the URL, credentials replaced.
  parsed.username = '';
  parsed.password = '';
  return parsed.href.replace('//', '//***@');
}

/** `value` with {@link redactUrl} applied to every string in it, at any depth. */
export function redactUrlsIn<T>(value: T): T {
  if (typeof value === 'string') return redactUrl(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => redactUrlsIn(item)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactUrlsIn(item)])) as T;
  }
  return value;
}
