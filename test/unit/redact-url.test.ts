import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactUrl, redactUrlsIn } from '../../src/common/redact-url.js';

describe('redactUrl', () => {
  for (const [url, expected] of [
    ['https://user:secret@host.example/path', 'https://***@host.example/path'],
    ['http://user:secret@127.0.0.1:8080/x?q=1#f', 'http://***@127.0.0.1:8080/x?q=1#f'],
    ['http://user@host.example/', 'http://***@host.example/'],
    ['http://:secret@host.example/', 'http://***@host.example/'],
    ['HTTPS://User:Secret@Host.Example/X', 'HTTPS://***@Host.Example/X'],
    ['http://user:se@cret@host.example/', 'http://***@host.example/'],
    ['http://user:se%40cret@host.example/', 'http://***@host.example/'],
    ['http:\\\\user:secret@host.example/', 'http:\\\\***@host.example/'],
    ['http:user:secret@host.example/', 'http:***@host.example/'],
    [' http://user:secret@host.example/', ' http://***@host.example/'],
    ['ht\ttp://user:secret@Host.example/x', 'http://***@host.example/x'],
    ['ftp://user:secret@host.example/', 'ftp://***@host.example/'],
    ['https://host.example/path', 'https://host.example/path'],
    ['https://host.example/a@b', 'https://host.example/a@b'],
    ['https://host.example?to=a@b', 'https://host.example?to=a@b'],
    ['https://host.example#a@b', 'https://host.example#a@b'],
    ['orders/submit', 'orders/submit'],
    ['mailto:someone@host.example', 'mailto:someone@host.example'],
  ] as const) {
    it(`shows ${url} as ${expected}`, () => {
      assert.equal(redactUrl(url), expected);
      assert.ok(!redactUrl(url).includes('secret'));
      // What the parser (and so undici) reads of the shown URL has no credentials but `***`.
      if (URL.canParse(expected)) assert.ok(['', '***'].includes(new URL(expected).username) && new URL(expected).password === '');
    });
  }

  it('redacts every string of a document, at any depth, and leaves the rest', () => {
    const document = { a: 'http://u:secret@h/', b: [{ c: 'https://u:secret@h/x' }, 3, null, true], d: 'plain' };
    assert.deepEqual(redactUrlsIn(document), { a: 'http://***@h/', b: [{ c: 'https://***@h/x' }, 3, null, true], d: 'plain' });
    assert.equal(document.a, 'http://u:secret@h/', 'the input is left as it was');
  });
});
