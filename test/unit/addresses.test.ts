import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPrivateAddress } from '../../src/common/addresses.js';

describe('isPrivateAddress', () => {
  for (const [address, expected] of [
    ['127.0.0.1', true],
    ['10.9.8.7', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['172.32.0.1', false],
    ['192.168.1.1', true],
    ['169.254.1.1', true],
    ['8.8.8.8', false],
    ['::1', true],
    ['[::1]', true],
    ['fd00::5', true],
    ['fe80::1', true],
    ['2001:db8::1', false],
    ['::ffff:192.168.0.1', true],
    ['::ffff:8.8.8.8', false],
    ['localhost', true],
    ['keycloak.example', false],
  ] as const) {
    it(`${address} is ${expected ? '' : 'not '}loopback or private`, () => assert.equal(isPrivateAddress(address), expected));
  }
});
