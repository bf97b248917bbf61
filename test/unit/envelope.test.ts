import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENVELOPE_VERSION, EnvelopeError, decodeEnvelope, encodeEnvelope, inlineBody, inlineBytes, readEnvelope } from '../../src/storage/envelope.js';
import type { Envelope } from '../../src/storage/envelope.js';

const REQUEST_ID = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
/** A payload blob of REQUEST_ID, as payloads.ts names them. */
const blobOf = (label: string, requestId = REQUEST_ID): string => `${requestId}/${label}-0b9d7e4c-1a2b-4c3d-8e5f-6a7b8c9d0e1f`;

function envelope(overrides: Partial<Envelope> = {}): Envelope {
  return {
    v: ENVELOPE_VERSION,
    requestId: REQUEST_ID,
    flow: 'orders',
    step: 1,
    attempt: 2,
    contentType: 'application/json',
    statusEtag: 'W/"datetime\'2024-01-01T00%3A00%3A00Z\'"',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    callbackUrl: 'https://callback.example/done',
    acceptedAt: '2024-01-01T00:00:00.000Z',
    body: { kind: 'inline', encoding: 'utf8', data: '{"a":1}' },
    blobs: [blobOf('step-0')],
    ...overrides,
  };
}

/** Base64 of the JSON of `value`, as a queue message would carry it. */
const asMessage = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');

/** The envelope as a plain record, so tests can remove or break fields the type would not allow. */
const asRecord = (e: Envelope): Record<string, unknown> => ({ ...e });

function assertEnvelopeError(messageText: string, messagePattern: RegExp): void {
  assert.throws(
    () => decodeEnvelope(messageText),
    (err: unknown) => {
      assert.ok(err instanceof EnvelopeError, `expected an EnvelopeError, got ${String(err)}`);
      assert.equal(err.name, 'EnvelopeError');
      assert.match(err.message, messagePattern);
      return true;
    },
  );
}

describe('encodeEnvelope and decodeEnvelope', () => {
  it('encodes an envelope as base64 of its JSON', () => {
    const e = envelope();
    assert.deepEqual(JSON.parse(Buffer.from(encodeEnvelope(e), 'base64').toString('utf8')), e);
  });

  const roundTrips: Array<[string, Envelope]> = [
    ['an inline utf8 body with trace and callback', envelope()],
    ['an inline base64 body', envelope({ body: { kind: 'inline', encoding: 'base64', data: Buffer.from([0xff, 0xfe, 0x00]).toString('base64') } })],
    ['a blob body without trace or callback', envelope({ body: { kind: 'blob', blobName: blobOf('step-1'), byteLength: 70_000 }, traceparent: null, callbackUrl: null, blobs: [] })],
    ['the first step of a first attempt with an empty etag and content type', envelope({ step: 0, attempt: 1, statusEtag: '', contentType: '' })],
    ['non-ASCII text in its fields', envelope({ contentType: 'text/plain; name="flüsse"', body: { kind: 'inline', encoding: 'utf8', data: 'grüße 👋 日本' } })],
  ];
  for (const [name, e] of roundTrips) {
    it(`decodes what it encoded: ${name}`, () => {
      assert.deepEqual(decodeEnvelope(encodeEnvelope(e)), e);
    });
  }
});

describe('inlineBody and inlineBytes', () => {
  const texts: Array<[string, string]> = [
    ['ASCII JSON', '{"hello":"world"}'],
    ['the empty body', ''],
    ['multi-byte text (2, 3 and 4 byte sequences)', 'ä € 𝄞 👋 日本語'],
    ['text holding the replacement character itself', 'broken \uFFFD here'],
  ];
  for (const [name, text] of texts) {
    it(`keeps valid UTF-8 as text: ${name}`, () => {
      const bytes = Buffer.from(text, 'utf8');
      const body = inlineBody(bytes);
      assert.deepEqual(body, { kind: 'inline', encoding: 'utf8', data: text });
      assert.ok(inlineBytes(body).equals(bytes));
    });
  }

  const binaries: Array<[string, Buffer]> = [
    ['bytes that are never UTF-8', Buffer.from([0xff, 0xfe, 0x00])],
    ['a truncated three-byte sequence', Buffer.from('€', 'utf8').subarray(0, 2)],
    // Decodes to one U+FFFD, itself three bytes: only comparing the bytes tells it from valid text.
    ['a truncated four-byte sequence', Buffer.from('😀', 'utf8').subarray(0, 3)],
    ['an overlong encoding of "/"', Buffer.from([0xc0, 0xaf])],
    ['an encoded surrogate half', Buffer.from([0xed, 0xa0, 0x80])],
    ['text followed by one invalid byte', Buffer.concat([Buffer.from('valid text ', 'utf8'), Buffer.from([0x80])])],
  ];
  for (const [name, bytes] of binaries) {
    it(`carries invalid UTF-8 as base64 and restores the exact bytes: ${name}`, () => {
      const body = inlineBody(bytes);
      assert.deepEqual(body, { kind: 'inline', encoding: 'base64', data: bytes.toString('base64') });
      assert.ok(inlineBytes(body).equals(bytes), `restored ${inlineBytes(body).toString('hex')}, expected ${bytes.toString('hex')}`);
    });
  }

  it('restores the exact bytes of every single byte value through an envelope', () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const decoded = decodeEnvelope(encodeEnvelope(envelope({ body: inlineBody(bytes) })));
    assert.equal(decoded.body.kind, 'inline');
    if (decoded.body.kind !== 'inline') return;
    assert.ok(inlineBytes(decoded.body).equals(bytes));
  });
});

describe('decodeEnvelope rejects what is not an envelope', () => {
  const unreadable: Array<[string, string]> = [
    ['text that is not base64', '%%% not base64 at all %%%'],
    ['the empty message', ''],
    ['base64 of text that is not JSON', Buffer.from('hello, world', 'utf8').toString('base64')],
    ['base64 of truncated JSON', Buffer.from('{"v":1,', 'utf8').toString('base64')],
    ['plain JSON that was never base64-encoded', JSON.stringify(envelope())],
  ];
  for (const [name, messageText] of unreadable) {
    it(`throws an EnvelopeError for ${name}`, () => {
      assertEnvelopeError(messageText, /not a base64-encoded JSON envelope/);
    });
  }

  const notObjects: Array<[string, unknown]> = [
    ['null', null],
    ['a number', 42],
    ['a string', 'envelope'],
    ['a boolean', true],
  ];
  for (const [name, value] of notObjects) {
    it(`throws an EnvelopeError for JSON that is ${name}`, () => {
      assertEnvelopeError(asMessage(value), /not a JSON object/);
    });
  }

  it('throws an EnvelopeError for a JSON array', () => {
    // An array passes the object check and fails on the version; all that matters is that it is poison.
    assertEnvelopeError(asMessage([envelope()]), /^(the message is not a JSON object|unsupported envelope version undefined)$/);
  });

  const versions: Array<[string, unknown]> = [
    ['a later version', 2],
    ['version 0', 0],
    ['the version as a string', '1'],
    ['no version', undefined],
  ];
  for (const [name, v] of versions) {
    it(`throws an EnvelopeError naming the version for ${name}`, () => {
      const record = asRecord(envelope());
      if (v === undefined) delete record['v'];
      else record['v'] = v;
      assertEnvelopeError(asMessage(record), /unsupported envelope version/);
    });
  }
});

describe('decodeEnvelope names each invalid field', () => {
  const REMOVE = Symbol('remove');
  const fieldCases: Array<[field: keyof Envelope, label: string, value: unknown]> = [
    ['requestId', 'missing', REMOVE],
    ['requestId', 'empty', ''],
    ['requestId', 'a number', 7],
    // Only ids the ingress hands out: anything else would fail every status write (see isRequestId).
    ['requestId', 'not a UUID', 'req-1'],
    ['requestId', 'a UUID in upper case', '6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B'],
    ['requestId', 'a string with a slash, which no table key may hold', '6f1c2a3b/4d5e'],
    ['requestId', 'a control character', '\u0085'],
    ['flow', 'missing', REMOVE],
    ['flow', 'empty', ''],
    // Only names a flow can have (1-100 of A-Z a-z 0-9 _ . -): the poison error quotes the flow.
    ['flow', 'not a flow name', 'flüsse'],
    ['flow', 'longer than any flow name', 'f'.repeat(101)],
    ['step', 'missing', REMOVE],
    ['step', 'negative', -1],
    ['step', 'fractional', 1.5],
    ['step', 'a string', '1'],
    ['attempt', 'missing', REMOVE],
    ['attempt', 'zero', 0],
    ['attempt', 'fractional', 1.5],
    ['contentType', 'missing', REMOVE],
    ['contentType', 'null', null],
    ['statusEtag', 'missing', REMOVE],
    ['statusEtag', 'null', null],
    // It goes out as If-Match: what no header can carry would fail every status write.
    ['statusEtag', 'holding a character no header may carry', '☃'],
    ['statusEtag', 'holding a line break', 'W/"x"\r\nX-Injected: 1'],
    ['statusEtag', 'longer than any ETag', 'x'.repeat(257)],
    ['traceparent', 'missing', REMOVE],
    ['traceparent', 'a number', 1],
    ['tracestate', 'a number', 1],
    ['tracestate', 'null', null],
    ['callbackUrl', 'missing', REMOVE],
    ['callbackUrl', 'an object', { url: 'https://x' }],
    ['acceptedAt', 'missing', REMOVE],
    ['acceptedAt', 'not a date', 'yesterday'],
    ['body', 'missing', REMOVE],
    ['body', 'null', null],
    ['body', 'of an unknown kind', { kind: 'queue', data: 'x' }],
    ['body', 'inline with an unknown encoding', { kind: 'inline', encoding: 'hex', data: 'ff' }],
    ['body', 'inline without data', { kind: 'inline', encoding: 'utf8' }],
    ['body', 'a blob without a name', { kind: 'blob', byteLength: 10 }],
    ['body', 'a blob with a fractional length', { kind: 'blob', blobName: 'b', byteLength: 1.5 }],
    ['blobs', 'missing', REMOVE],
    ['blobs', 'not an array', 'payload-1'],
    ['blobs', 'holding a non-string', [blobOf('step-0'), 2]],
    ['blobs', 'naming a blob of another request', [blobOf('step-0', '00000000-0000-4000-8000-000000000001')]],
    ['blobs', 'naming a blob outside the payload naming', ['../other-container/secret']],
    ['blobs', 'naming a blob with a parent segment', [`${REQUEST_ID}/../00000000-0000-4000-8000-000000000001/result-0b9d7e4c-1a2b-4c3d-8e5f-6a7b8c9d0e1f`]],
    ['body', 'a blob of another request', { kind: 'blob', blobName: blobOf('result', '00000000-0000-4000-8000-000000000001'), byteLength: 10 }],
    ['body', 'a blob in another container', { kind: 'blob', blobName: '../other/blob', byteLength: 10 }],
    ['body', 'a blob named like a URL', { kind: 'blob', blobName: `https://evil.example/${blobOf('step-1')}`, byteLength: 10 }],
  ];
  for (const [field, label, value] of fieldCases) {
    it(`throws an EnvelopeError naming ${field} when it is ${label}`, () => {
      const record = asRecord(envelope());
      if (value === REMOVE) delete record[field];
      else record[field] = value;
      assertEnvelopeError(asMessage(record), new RegExp(`invalid fields: ${field}$`));
    });
  }

  it('quotes at most 40 characters of an unsupported version', () => {
    const record = asRecord(envelope());
    record['v'] = 'v'.repeat(40_000);
    assertEnvelopeError(asMessage(record), /^unsupported envelope version "v{39}\.\.\.$/);
  });

  it('names every invalid field at once', () => {
    const record = asRecord(envelope());
    delete record['requestId'];
    record['step'] = -1;
    record['blobs'] = null;
    assertEnvelopeError(asMessage(record), /invalid fields: requestId, step, blobs$/);
  });
});

describe('readEnvelope and trace context', () => {
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('reads an envelope written before tracestate existed as one without it', () => {
    const record = asRecord(envelope());
    delete record['tracestate'];
    assert.deepEqual(readEnvelope(asMessage(record)), { envelope: envelope(), ignored: null });
  });

  it('keeps a valid traceparent and tracestate', () => {
    const e = envelope({ traceparent, tracestate: 'vendor=x,tenant@other=y' });
    assert.deepEqual(readEnvelope(encodeEnvelope(e)), { envelope: e, ignored: null });
  });

  const dropped: Array<[label: string, trace: Partial<Envelope>, expected: Partial<Envelope>, reason: RegExp]> = [
    ['a traceparent that is not W3C Trace Context', { traceparent: 'a\r\nb' }, { traceparent: null }, /^traceparent "a\\r\\nb" is not W3C Trace Context$/],
    ['an all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-b7ad6b7169203331-01` }, { traceparent: null }, /^traceparent .* is not W3C Trace Context$/],
    ['the empty traceparent', { traceparent: '' }, { traceparent: null }, /^traceparent "" is not W3C Trace Context$/],
    ['a tracestate over 512 characters', { traceparent, tracestate: `a=${'x'.repeat(600)}` }, { traceparent }, /^tracestate "a=x{37}\.\.\. is not W3C Trace Context$/],
    ['a tracestate with an invalid member', { traceparent, tracestate: 'Vendor=x' }, { traceparent }, /^tracestate "Vendor=x" is not W3C Trace Context$/],
    [
      'both',
      { traceparent: 'nope', tracestate: 'a=b' },
      { traceparent: null },
      /^traceparent "nope" is not W3C Trace Context$/,
    ],
  ];
  for (const [label, trace, expected, reason] of dropped) {
    it(`drops ${label}, says why, and reads the rest`, () => {
      const { envelope: read, ignored } = readEnvelope(encodeEnvelope(envelope(trace)));
      const { tracestate: _, ...withoutState } = envelope(expected);
      assert.deepEqual(read, withoutState);
      assert.match(ignored ?? '', reason);
    });
  }
});
