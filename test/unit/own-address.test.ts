import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalHost, isOwnAddress, type MachineAddresses, ownAddressOf } from '../../src/common/own-address.js';

const MACHINE: MachineAddresses = { addresses: ['127.0.0.1', '::1', '192.0.2.2', 'fd00::2', 'fe80::fc:ff:fe00:1'], hostname: 'Engine-1' };

describe('canonicalHost', () => {
  for (const [host, expected] of [
    ['LOCALHOST.', 'localhost'],
    ['localhost..', 'localhost'],
    ['[::1]', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['[::ffff:7f00:1]', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['127.0.0.1.', '127.0.0.1'],
    ['0', '0.0.0.0'],
    ['[::]', '::'],
    ['Bücher.example', 'xn--bcher-kva.example'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
  ] as const) {
    it(`writes ${host} as ${expected}`, () => assert.equal(canonicalHost(host), expected));
  }
});

describe('isOwnAddress', () => {
  const loopback = ownAddressOf('127.0.0.1', { address: '127.0.0.1', port: 8080 }, MACHINE);
  const wildcard = ownAddressOf('0.0.0.0', { address: '0.0.0.0', port: 8080 }, MACHINE);
  const wildcard6 = ownAddressOf('::', { address: '::', port: 8080 }, MACHINE);
  const named = ownAddressOf('Engine.Internal.', { address: '10.1.2.3', port: 8080 }, MACHINE);

  for (const [url, own, expected, why] of [
    ['http://127.0.0.1:8080/api/dlq/replay?flow=f', loopback, true, 'the reported loop'],
    ['http://localhost:8080/', loopback, true, 'localhost'],
    ['http://LocalHost:8080/', loopback, true, 'letter case'],
    ['http://localhost.:8080/', loopback, true, 'a trailing dot'],
    ['http://localhost%2e:8080/', loopback, true, 'an encoded trailing dot'],
    ['http://hooks.localhost:8080/', loopback, true, 'a name under localhost'],
    ['http://127.8.9.10:8080/', loopback, true, 'anywhere in 127.0.0.0/8'],
    ['http://[::1]:8080/', loopback, true, 'IPv6 loopback'],
    ['http://[0:0:0:0:0:0:0:1]:8080/', loopback, true, 'IPv6 loopback written out'],
    ['http://[::ffff:127.0.0.1]:8080/', loopback, true, 'IPv4-mapped loopback'],
    ['http://2130706433:8080/', loopback, true, 'decimal IPv4'],
    ['http://0x7f000001:8080/', loopback, true, 'hexadecimal IPv4'],
    ['http://0177.0.0.1:8080/', loopback, true, 'octal IPv4'],
    ['http://127.1:8080/', loopback, true, 'short IPv4'],
    ['http://0.0.0.0:8080/', loopback, true, 'the unspecified address reaches this machine'],
    ['http://0:8080/', loopback, true, '0 is 0.0.0.0'],
    ['http://[::]:8080/', loopback, true, 'the IPv6 unspecified address'],
    ['http://evil@127.0.0.1:8080/', loopback, true, 'userinfo does not hide the host'],
    ['http://hooks.example@127.0.0.1:8080/', loopback, true, 'a host name as userinfo'],
    ['https://127.0.0.1:8080/', loopback, true, 'any scheme on the port'],
    ['http://127.0.0.1:8080@hooks.example/', loopback, false, 'the host is hooks.example, on port 80'],
    ['http://127.0.0.1:8081/', loopback, false, 'another port'],
    ['http://localhost/', loopback, false, 'the default port 80 is not 8080'],
    ['http://hooks.example:8080/', loopback, false, 'another host'],
    ['http://192.0.2.2:8080/', loopback, false, 'an interface address, while listening on loopback only'],
    ['not a url', loopback, false, 'not a URL'],
    ['http://localhost/', { port: 80, hosts: [] }, true, 'the default port of http'],
    ['https://localhost/', { port: 80, hosts: [] }, false, 'the default port of https is 443'],
    ['https://localhost/', { port: 443, hosts: [] }, true, 'the default port of https'],
    ['http://192.0.2.2:8080/', wildcard, true, 'an interface address on a wildcard listener'],
    ['http://[fd00::2]:8080/', wildcard, true, 'an IPv6 interface address'],
    ['http://[fe80::fc:ff:fe00:1]:8080/', wildcard, true, 'a link-local interface address'],
    ['http://[::ffff:192.0.2.2]:8080/', wildcard, true, 'an interface address, IPv4-mapped'],
    ['http://3221225986:8080/', wildcard, true, 'an interface address in decimal'],
    ['http://engine-1:8080/', wildcard, true, 'the host name'],
    ['http://ENGINE-1.:8080/', wildcard, true, 'the host name with case and a trailing dot'],
    ['http://192.0.2.3:8080/', wildcard, false, 'another machine'],
    ['http://192.0.2.2:9090/', wildcard, false, 'another port of this machine'],
    ['http://192.0.2.2:8080/', wildcard6, true, 'an IPv4 interface address on an IPv6 wildcard listener'],
    ['http://engine.internal:8080/', named, true, 'the configured host'],
    ['http://10.1.2.3:8080/', named, true, 'the address the configured host bound'],
    ['http://192.0.2.2:8080/', named, false, 'an interface address, while listening on one address only'],
  ] as const) {
    it(`${url} is ${expected ? '' : 'not '}the ingress (${why})`, () => assert.equal(isOwnAddress(url, own), expected));
  }
});
