import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDlqIdOf, makeDlqId, parseDlqId } from '../../src/storage/dlq-table.js';

const MESSAGE_ID = 'b5f4c0c1-7e0d-4a5e-9c1f-3f2a1d6e8b90';
const OTHER_MESSAGE_ID = 'c0ffee00-7e0d-4a5e-9c1f-3f2a1d6e8b90';
const NEW_YEAR_2024 = new Date('2024-01-01T00:00:00.000Z');
/** The latest time a 13-digit inverted row key can hold: 2286-11-20T17:46:39.999Z. */
const LATEST = new Date(9_999_999_999_999);

describe('makeDlqId', () => {
  const cases: Array<{ name: string; flow: string; at: Date; messageId: string; expected: string }> = [
    {
      name: 'names the flow, then the dead-letter time inverted to 13 digits and the message id',
      flow: 'orders',
      at: NEW_YEAR_2024,
      messageId: MESSAGE_ID,
      expected: `orders~8295932799999-${MESSAGE_ID}`,
    },
    { name: 'one millisecond later is one less in the row key', flow: 'orders', at: new Date('2024-01-01T00:00:00.001Z'), messageId: MESSAGE_ID, expected: `orders~8295932799998-${MESSAGE_ID}` },
    { name: 'the Unix epoch gives the largest row key', flow: 'orders', at: new Date(0), messageId: MESSAGE_ID, expected: `orders~9999999999999-${MESSAGE_ID}` },
    { name: 'the latest time it can hold gives a row key of zeros', flow: 'orders', at: LATEST, messageId: MESSAGE_ID, expected: `orders~0000000000000-${MESSAGE_ID}` },
    { name: 'an inverted time of 12 digits is padded to 13', flow: 'orders', at: new Date(9_000_000_000_000), messageId: MESSAGE_ID, expected: `orders~0999999999999-${MESSAGE_ID}` },
    { name: 'drops characters other than letters, digits and hyphens from the message id', flow: 'orders', at: NEW_YEAR_2024, messageId: 'a+b/c=d_e.f', expected: 'orders~8295932799999-abcdef' },
    { name: 'keeps a flow name with dots, underscores and hyphens as written', flow: 'Order_v2.1-eu', at: NEW_YEAR_2024, messageId: MESSAGE_ID, expected: `Order_v2.1-eu~8295932799999-${MESSAGE_ID}` },
    { name: 'keeps the hyphen of the expiry sweep\'s message ids', flow: 'orders', at: NEW_YEAR_2024, messageId: `expired-${MESSAGE_ID}`, expected: `orders~8295932799999-expired-${MESSAGE_ID}` },
  ];
  for (const { name, flow, at, messageId, expected } of cases) {
    it(name, () => {
      const dlqId = makeDlqId(flow, at, messageId);
      assert.equal(dlqId, expected);
      assert.deepEqual(parseDlqId(dlqId), { flow, rowKey: expected.slice(flow.length + 1) }, 'parses back into its partition and row key');
      assert.equal(isDlqIdOf(dlqId, messageId), true, 'is recognised as made for its message');
    });
  }
});

describe('makeDlqId sorts a flow\'s entries newest first', () => {
  // The later entry gets the message id that sorts last, so only its time can put it first.
  const cases: Array<{ name: string; earlier: Date; later: Date }> = [
    { name: 'one millisecond apart', earlier: NEW_YEAR_2024, later: new Date('2024-01-01T00:00:00.001Z') },
    { name: 'one millisecond apart across a second', earlier: new Date('2024-01-01T00:00:00.999Z'), later: new Date('2024-01-01T00:00:01.000Z') },
    { name: 'one millisecond apart where the inverted time drops to 12 digits', earlier: new Date(8_999_999_999_999), later: new Date(9_000_000_000_000) },
    { name: 'the epoch and one millisecond after it', earlier: new Date(0), later: new Date(1) },
    { name: 'the latest time it can hold and one millisecond before it', earlier: new Date(LATEST.getTime() - 1), later: LATEST },
    { name: 'years apart', earlier: NEW_YEAR_2024, later: new Date('2031-06-15T12:00:00.000Z') },
  ];
  for (const { name, earlier, later } of cases) {
    it(`${name}: the later entry's id sorts first`, () => {
      const earlierId = makeDlqId('orders', earlier, '00000000-0000-4000-8000-000000000000');
      const laterId = makeDlqId('orders', later, 'ffffffff-ffff-4fff-bfff-ffffffffffff');
      assert.ok(laterId < earlierId, `${laterId} should sort before ${earlierId}`);
    });
  }
});

describe('parseDlqId', () => {
  const rowKey = `8295932799999-${MESSAGE_ID}`;
  const cases: Array<{ name: string; dlqId: string; expected: { flow: string; rowKey: string } | null }> = [
    { name: 'splits an id into its flow and row key', dlqId: `orders~${rowKey}`, expected: { flow: 'orders', rowKey } },
    { name: 'takes a one-character flow name', dlqId: `o~${rowKey}`, expected: { flow: 'o', rowKey } },
    { name: 'takes a flow name of 100 characters', dlqId: `${'f'.repeat(100)}~${rowKey}`, expected: { flow: 'f'.repeat(100), rowKey } },
    { name: 'takes a message id of one character', dlqId: 'orders~8295932799999-a', expected: { flow: 'orders', rowKey: '8295932799999-a' } },
    { name: 'takes a message id of 100 characters', dlqId: `orders~8295932799999-${'a'.repeat(100)}`, expected: { flow: 'orders', rowKey: `8295932799999-${'a'.repeat(100)}` } },
    { name: 'refuses an empty string', dlqId: '', expected: null },
    { name: 'refuses an id without "~"', dlqId: `orders${rowKey}`, expected: null },
    { name: 'refuses an id without a flow', dlqId: `~${rowKey}`, expected: null },
    { name: 'refuses a flow name of 101 characters', dlqId: `${'f'.repeat(101)}~${rowKey}`, expected: null },
    { name: 'refuses a flow name that starts with a hyphen', dlqId: `-orders~${rowKey}`, expected: null },
    { name: 'refuses a flow name with a space', dlqId: `my orders~${rowKey}`, expected: null },
    { name: 'refuses an id with two "~"', dlqId: `orders~x~${rowKey}`, expected: null },
    { name: 'refuses an id without a row key', dlqId: 'orders~', expected: null },
    { name: 'refuses a time of 12 digits', dlqId: `orders~829593279999-${MESSAGE_ID}`, expected: null },
    { name: 'refuses a time of 14 digits', dlqId: `orders~82959327999990-${MESSAGE_ID}`, expected: null },
    { name: 'refuses a time with a letter in it', dlqId: `orders~829593279999x-${MESSAGE_ID}`, expected: null },
    { name: 'refuses a time without the hyphen before the message id', dlqId: `orders~8295932799999${MESSAGE_ID}`, expected: null },
    { name: 'refuses an empty message id', dlqId: 'orders~8295932799999-', expected: null },
    { name: 'refuses a message id of 101 characters', dlqId: `orders~8295932799999-${'a'.repeat(101)}`, expected: null },
    { name: 'refuses a message id with a character a made id never has', dlqId: 'orders~8295932799999-a+b', expected: null },
    { name: 'refuses an id with a trailing newline', dlqId: `orders~${rowKey}\n`, expected: null },
    { name: 'refuses a request id in place of a DLQ id', dlqId: MESSAGE_ID, expected: null },
  ];
  for (const { name, dlqId, expected } of cases) {
    it(name, () => {
      assert.deepEqual(parseDlqId(dlqId), expected);
    });
  }
});

describe('isDlqIdOf', () => {
  const cases: Array<{ name: string; dlqId: string; messageId: string; expected: boolean }> = [
    { name: 'recognises the id made for the message', dlqId: makeDlqId('orders', NEW_YEAR_2024, MESSAGE_ID), messageId: MESSAGE_ID, expected: true },
    { name: 'recognises it whatever time it was made at', dlqId: makeDlqId('orders', new Date(0), MESSAGE_ID), messageId: MESSAGE_ID, expected: true },
    { name: 'recognises the id of a message whose id had characters dropped', dlqId: makeDlqId('orders', NEW_YEAR_2024, 'a+b/c='), messageId: 'a+b/c=', expected: true },
    { name: 'does not take the id of another message dead-lettered in the same millisecond', dlqId: makeDlqId('orders', NEW_YEAR_2024, OTHER_MESSAGE_ID), messageId: MESSAGE_ID, expected: false },
    { name: 'does not take the id of a message whose id ends like this one without the hyphen before it', dlqId: makeDlqId('orders', NEW_YEAR_2024, `x${MESSAGE_ID}`), messageId: MESSAGE_ID, expected: false },
    { name: 'does not take an id that holds the message id in the middle', dlqId: makeDlqId('orders', NEW_YEAR_2024, `${MESSAGE_ID}-1`), messageId: MESSAGE_ID, expected: false },
  ];
  for (const { name, dlqId, messageId, expected } of cases) {
    it(name, () => {
      assert.equal(isDlqIdOf(dlqId, messageId), expected);
    });
  }
});
