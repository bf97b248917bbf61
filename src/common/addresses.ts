/**
 * Whether an address is loopback or private: what Keycloak's `ssl-required: external` exempts.
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

/** Loopback or private address, or the name `localhost`. */
export function isPrivateAddress(host: string): boolean {
  const address = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (address === 'localhost' || address.endsWith('.localhost')) return true;
  const family = isIP(address);
  return family !== 0 && PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
