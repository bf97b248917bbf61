/**
 * Who is calling, and over what: the client's address and protocol, from the connection, or from
 * X-Forwarded-For and X-Forwarded-Proto when server.config.trustProxy says proxies stand in front.
 *
 * Forwarded headers are written by every hop, the client included, so only what trusted proxies
 * appended counts: the chain is read from the right (the socket's peer, then X-Forwarded-For's
 * entries right to left), trusted proxies are skipped, and the first address that is not one is the
 * client. The left-most entry, which any client can write, is never believed because it is there.
 * Without trustedProxies, the nearest hop alone is trusted: the client is the right-most entry.
 */
import { isIP } from 'node:net';
import { createAddressList } from '../common/addresses.js';

export interface ClientOptions {
  trustProxy: boolean;
  /** Addresses and CIDR ranges; empty = the nearest hop only. */
  trustedProxies: readonly string[];
}

export interface Client {
  ip: string;
  protocol: 'http' | 'https';
}

export interface Connection {
  /** The socket's peer. */
  remoteAddress: string;
  isEncrypted: boolean;
  forwardedFor: string | undefined;
  forwardedProto: string | undefined;
}

const listOf = (header: string | undefined): string[] =>
  (header ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

/** Builds the function that tells the client of a connection. */
export function createClientResolver({ trustProxy, trustedProxies }: ClientOptions): (connection: Connection) => Client {
  const isListed = createAddressList(trustedProxies);
  const isTrusted = trustedProxies.length === 0 ? null : isListed;
  return ({ remoteAddress, isEncrypted, forwardedFor, forwardedProto }) => {
    const direct: Client = { ip: remoteAddress, protocol: isEncrypted ? 'https' : 'http' };
    if (!trustProxy) return direct;
    if (isTrusted && !isTrusted(remoteAddress)) return direct; // not from one of our proxies: headers are the client's own
    const hops = listOf(forwardedFor);
    if (hops.length === 0) return direct;
    // Right to left: with a list, skip the trusted proxies; without one, trust the peer only.
    let index = hops.length - 1;
    if (isTrusted) while (index > 0 && isTrusted(stripPort(hops[index] ?? ''))) index--;
    const ip = stripPort(hops[index] ?? '');
    if (isIP(ip) === 0) return direct; // garbage in the header: keep the peer, never a made-up address
    const protos = listOf(forwardedProto).map((p) => p.toLowerCase());
    // The protocol the client's hop reported: the same position when every hop wrote one, else the nearest's.
    const proto = protos.length === hops.length ? protos[index] : protos.at(-1);
    return { ip, protocol: proto === 'https' ? 'https' : proto === 'http' ? 'http' : direct.protocol };
  };
}

/** `1.2.3.4:5678` and `[::1]:80` as proxies sometimes write them, to the bare address. */
function stripPort(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed?.[1]) return bracketed[1];
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  return v4WithPort?.[1] ?? entry;
}
