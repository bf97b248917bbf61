/**
 * Which URLs may be called back. The URL is judged twice by the same rules ({@link callbackRefusal}):
 * at submission, and again before delivery, because the configuration may have changed since (a
 * host removed from allowedHosts) and a replayed request carries the URL it was submitted with.
 */
import { isOwnAddress, type OwnAddress } from '../common/own-address.js';

/** Which URLs may be called back. */
export interface CallbackTargets {
  /** callback.config.allowedHosts */
  allowedHosts: readonly string[];
  /** Where this engine's own HTTP servers listen (the ingress, the management port); none before they do. */
  ownAddresses: () => readonly OwnAddress[];
}

/** Whether `url` may be called back: its host (`host`, or `host:port` for that port only) is allowed. */
export function isCallbackAllowed(url: string, allowedHosts: readonly string[]): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const host = parsed.hostname.toLowerCase();
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  return allowedHosts.some((allowed) => allowed === host || allowed === `${host}:${port}`);
}

/**
 * Why `url` may not be called back, or null when it may: it must be an http(s) URL on an allowed
 * host, carry no credentials (undici would not send them, and the status JSON shows the URL), and
 * not point at this engine's own ingress (whose API a callback could otherwise drive in a loop) or
 * its management port.
 */
export function callbackRefusal(url: string, { allowedHosts, ownAddresses }: CallbackTargets): string | null {
  if (!isCallbackAllowed(url, allowedHosts)) return 'X-Callback-Url must be an http(s) URL on a host of callback.config.allowedHosts';
  const { username, password } = new URL(url);
  if (username !== '' || password !== '') return 'X-Callback-Url must not carry credentials (user:password@)';
  if (ownAddresses().some((own) => isOwnAddress(url, own))) return "X-Callback-Url must not point at the engine's own address";
  return null;
}

/** What a log line may show of a callback URL: its origin, never its credentials, path or query. */
export function originOf(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : '(not a URL)';
}
