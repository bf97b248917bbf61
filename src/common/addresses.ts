/**
 * Address checks: whether an address is loopback or private (what Keycloak's `ssl-required:
 * external` exempts), and lists of addresses and CIDR ranges (trusted proxies).
 */
import { BlockList, isIP } from 'node:net';

// Loopback, RFC 1918, link-local; IPv6 loopback, unique-local, link-local. BlockList also matches
// IPv4-mapped IPv6 addresses (::ffff:10.1.2.3) against the IPv4 ranges.
const PRIVATE = new BlockList();
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('169.254.0.0', 16, 'ipv4');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');
PRIVATE.addSubnet('fe80::', 10, 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** A loopback address, or the name `localhost`: reachable from this machine only. */
export function isLoopbackAddress(host: string): boolean {
  const address = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (address === 'localhost' || address.endsWith('.localhost')) return true;
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Loopback or private address, or the name `localhost`. */
export function isPrivateAddress(host: string): boolean {
  const address = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (address === 'localhost' || address.endsWith('.localhost')) return true;
  const family = isIP(address);
  return family !== 0 && PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** An address or `address/prefix`, as [address, family, prefix]; null when it is neither. */
function parseAddressOrCidr(entry: string): { address: string; family: 'ipv4' | 'ipv6'; prefix: number } | null {
  const [address = '', prefixText, ...rest] = entry.replace(/^\[|\]$/g, '').split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return null;
  const bits = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > bits) return null;
  return { address, family: version === 4 ? 'ipv4' : 'ipv6', prefix };
}

/** Whether `entry` is an IPv4 or IPv6 address, or one with a /prefix. */
export function isAddressOrCidr(entry: string): boolean {
  return parseAddressOrCidr(entry) !== null;
}

/** Matches addresses against a list of addresses and CIDR ranges (entries that are neither are ignored). */
export function createAddressList(entries: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = parseAddressOrCidr(entry);
    if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return (address) => {
    const bare = address.replace(/^\[|\]$/g, '');
    const family = isIP(bare);
    return family !== 0 && list.check(bare, family === 4 ? 'ipv4' : 'ipv6');
  };
}
