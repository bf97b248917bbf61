import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTraceparent, parseTraceparent, validTracestate } from '../../src/common/trace-context.js';

describe('W3C trace context', () => {
  it('reads the ids and flags of a traceparent and writes them back as version 00', () => {
    const parsed = parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.deepEqual(parsed, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 });
    assert.equal(formatTraceparent({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 0 }), `00-${'a'.repeat(32)}-${'b'.repeat(16)}-00`);
    // A later version's extra fields are read past and not written.
    const later = parseTraceparent(`01-${'a'.repeat(32)}-${'b'.repeat(16)}-03-extra`);
    assert.ok(later);
    assert.equal(formatTraceparent(later), `00-${'a'.repeat(32)}-${'b'.repeat(16)}-03`);
    assert.equal(parseTraceparent('garbage'), null);
  });

  const tracestates: Array<[value: string, expected: string | null]> = [
    ['vendor=opaque', 'vendor=opaque'],
    ['vendor=opaque,other@tenant=x', 'vendor=opaque,other@tenant=x'],
    [' a=1 ,\tb=2 ', 'a=1,b=2'],
    ['a=1,,b=2', 'a=1,b=2'],
    ['0tenant@vendor=v', '0tenant@vendor=v'],
    ['', null],
    [' , ', null],
    ['Vendor=x', null],
    ['vendor', null],
    ['vendor=', null],
    ['vendor=a,b', null],
    ['vendor=x=y', null],
    ['vendor=ends with space ', 'vendor=ends with space'],
    ['a=1,a=2', null],
    ['v=\u00e9', null],
    [Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(','), Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(',')],
    [Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','), null],
    // Over 512 characters in all, each member valid.
    [`a=${'x'.repeat(200)},b=${'y'.repeat(200)},c=${'z'.repeat(200)}`, null],
    [`a=${'x'.repeat(256)}`, `a=${'x'.repeat(256)}`],
    [`a=${'x'.repeat(257)}`, null],
  ];
  for (const [value, expected] of tracestates) {
    it(`judges the tracestate ${JSON.stringify(value.slice(0, 60))}: ${expected === null ? 'dropped' : 'kept'}`, () => {
      assert.equal(validTracestate(value), expected);
    });
  }
});
