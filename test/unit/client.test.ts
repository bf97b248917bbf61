import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Client, type ClientOptions, type Connection, createClientResolver } from '../../src/ingress/client.js';

const peer = (remoteAddress: string, forwardedFor?: string, forwardedProto?: string, isEncrypted = false): Connection => ({ remoteAddress, isEncrypted, forwardedFor, forwardedProto });

describe('the client of a connection', () => {
  const direct: ClientOptions = { trustProxy: false, trustedProxies: [] };
  const nearest: ClientOptions = { trustProxy: true, trustedProxies: [] };
  const listed: ClientOptions = { trustProxy: true, trustedProxies: ['10.0.0.0/8', '192.168.1.5', 'fd00::/8'] };
  const cases: Array<[name: string, options: ClientOptions, connection: Connection, expected: Client]> = [
    ['without trustProxy, the socket peer, whatever the headers say', direct, peer('203.0.113.7', '10.0.0.1', 'https'), { ip: '203.0.113.7', protocol: 'http' }],
    ['without trustProxy, https from the socket itself', direct, peer('203.0.113.7', undefined, undefined, true), { ip: '203.0.113.7', protocol: 'https' }],
    ['trusting the nearest hop, the right-most X-Forwarded-For entry', nearest, peer('10.0.0.2', '10.0.0.1, 203.0.113.7', 'http'), { ip: '203.0.113.7', protocol: 'http' }],
    ['trusting the nearest hop, its X-Forwarded-Proto', nearest, peer('10.0.0.2', '203.0.113.7', 'https'), { ip: '203.0.113.7', protocol: 'https' }],
    ['trusting the nearest hop, no header: the peer', nearest, peer('10.0.0.2'), { ip: '10.0.0.2', protocol: 'http' }],
    ['a listed proxy chain is skipped from the right', listed, peer('10.0.0.2', '198.51.100.9, 203.0.113.7, 192.168.1.5, 10.1.1.1', 'https'), { ip: '203.0.113.7', protocol: 'https' }],
    ['a spoofed private address on the left is never the client', listed, peer('10.0.0.2', '10.0.0.1, 203.0.113.7'), { ip: '203.0.113.7', protocol: 'http' }],
    ['a peer that is not a listed proxy: headers are ignored', listed, peer('203.0.113.50', '10.0.0.1', 'https'), { ip: '203.0.113.50', protocol: 'http' }],
    ['every entry a listed proxy: the left-most', listed, peer('10.0.0.2', '10.0.0.3, 10.0.0.4'), { ip: '10.0.0.3', protocol: 'http' }],
    ['entries with ports, and bracketed IPv6', nearest, peer('10.0.0.2', '[2001:db8::7]:443'), { ip: '2001:db8::7', protocol: 'http' }],
    ['an IPv4 entry with a port', nearest, peer('10.0.0.2', '203.0.113.7:51234'), { ip: '203.0.113.7', protocol: 'http' }],
    ['a header that is no address keeps the peer', nearest, peer('10.0.0.2', 'evil, <script>'), { ip: '10.0.0.2', protocol: 'http' }],
    ['an empty header keeps the peer', nearest, peer('10.0.0.2', ' , '), { ip: '10.0.0.2', protocol: 'http' }],
    ['an unknown protocol keeps the connection\'s', nearest, peer('10.0.0.2', '203.0.113.7', 'gopher'), { ip: '203.0.113.7', protocol: 'http' }],
    ['protocols per hop: the client hop\'s', listed, peer('10.0.0.2', '203.0.113.7, 10.0.0.9', 'https, http'), { ip: '203.0.113.7', protocol: 'https' }],
    ['protocol case does not matter', nearest, peer('10.0.0.2', '203.0.113.7', 'HTTPS'), { ip: '203.0.113.7', protocol: 'https' }],
    ['IPv4-mapped peers match the IPv4 list', listed, peer('::ffff:10.0.0.2', '203.0.113.7'), { ip: '203.0.113.7', protocol: 'http' }],
  ];
  for (const [name, options, connection, expected] of cases) {
    it(name, () => {
      assert.deepEqual(createClientResolver(options)(connection), expected);
    });
  }
});
