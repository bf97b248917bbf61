/**
 * Whether a URL reaches this process's own HTTP ingress: a completion callback must never make the
 * engine call its own API (a callback to `/api/dlq/replay?flow=` replayed and dead-lettered in a
 * loop). The decision is pure; {@link ownAddressOf} gathers what it needs once the ingress listens.
 *
 * Only what the URL names is judged, as the WHATWG URL parser (which undici uses too) reads it:
 * `http://2130706433:8080/`, `http://0x7f000001:8080/` and `http://127.1:8080/` are 127.0.0.1,
 * `[::ffff:127.0.0.1]` is `[::ffff:7f00:1]`. A DNS name that happens to resolve to this machine is
 * not caught here; callback.config.allowedHosts is the rule for names.
 */
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { isLoopbackAddress } from './addresses.js';

/** Where the ingress listens: the port, and the names and addresses besides loopback that reach it. */
export interface OwnAddress {
  /** The port the ingress really listens on (known only after listen when configured as 0). */
  readonly port: number;
  /** Canonical hosts (see {@link canonicalHost}) that reach the ingress besides the loopback ones. */
  readonly hosts: readonly string[];
}

/** This machine's interface addresses and host name, what a wildcard listener is reachable at. */
export interface MachineAddresses {
  readonly addresses: readonly string[];
  readonly hostname: string;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'http:': 80, 'https:': 443 };

/**
 * A host as comparable text: lowercase, without IPv6 brackets or trailing dots, an IP address in
 * the form the URL parser writes it, and an IPv4-mapped IPv6 address as its IPv4 address.
 */
export function canonicalHost(host: string): string {
  const bare = host.trim().replace(/^\[|\]$/g, '').toLowerCase();
  // The URL parser writes IP addresses one way (2130706433 and 0x7f000001 are 127.0.0.1) and names in punycode.
  const asUrl = isIP(bare) === 6 ? `http://[${bare}]/` : `http://${bare}/`;
  const written = (URL.canParse(asUrl) ? new URL(asUrl).hostname : bare).replace(/^\[|\]$/g, '').replace(/\.+$/, '');
  // ::ffff:a.b.c.d reaches a.b.c.d; the parser writes it as ::ffff:xxxx:yyyy.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(written);
  if (!mapped) return written;
  const [high, low] = [Number.parseInt(mapped[1] ?? '0', 16), Number.parseInt(mapped[2] ?? '0', 16)];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** The unspecified addresses: a connection to them reaches this machine. */
const isUnspecified = (host: string): boolean => host === '0.0.0.0' || host === '::';

/**
 * Whether `url` names the ingress at `own`: its port (explicit, or the scheme's default) is the
 * ingress's, and its host is a loopback name or address (localhost, 127.0.0.0/8, ::1, also
 * IPv4-mapped), an unspecified address (0.0.0.0, ::) or one of `own.hosts`. Userinfo
 * (`http://evil@127.0.0.1/`) and letter case change nothing. Not a URL: false (other rules refuse it).
 */
export function isOwnAddress(url: string, own: OwnAddress): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  const port = parsed.port === '' ? DEFAULT_PORTS[parsed.protocol] : Number(parsed.port);
  if (port !== own.port) return false;
  const host = canonicalHost(parsed.hostname);
  return isLoopbackAddress(host) || isUnspecified(host) || own.hosts.includes(host);
}

/**
 * The OwnAddress of an ingress configured with `configuredHost` (server.config.host) that listens
 * at `bound` (what server.address() says). On a wildcard host (0.0.0.0, ::) it is reachable at
 * every address of the machine and at its host name, as they are now.
 */
export function ownAddressOf(configuredHost: string, bound: { address: string; port: number }, machine: MachineAddresses = machineAddresses()): OwnAddress {
  const hosts = new Set([canonicalHost(configuredHost), canonicalHost(bound.address)]);
  if (isUnspecified(canonicalHost(configuredHost)) || isUnspecified(canonicalHost(bound.address))) {
    for (const address of machine.addresses) hosts.add(canonicalHost(address));
    hosts.add(canonicalHost(machine.hostname));
  }
  hosts.delete('');
  return { port: bound.port, hosts: [...hosts] };
}

/** This machine's interface addresses (without IPv6 zone ids) and host name. */
export function machineAddresses(): MachineAddresses {
  const addresses = Object.values(networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address.replace(/%.*$/, '')));
  return { addresses, hostname: hostname() };
}
