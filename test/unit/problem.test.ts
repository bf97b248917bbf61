import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpProblem, problemType, toProblem } from '../../src/ingress/problem.js';
import { EngineError } from '../../src/errors.js';

/** An error shaped like the ones http-errors makes for Koa and @koa/router. */
function httpError(status: number, message: string, expose: boolean, headers?: Record<string, string>): Error {
  return Object.assign(new Error(message), { status, statusCode: status, expose, ...(headers ? { headers } : {}) });
}

describe('toProblem', () => {
  it('answers an HttpProblem with its status, a URN type from its slug, its title, detail and headers', () => {
    const problem = new HttpProblem(429, 'backlog-full', 'Too Many Requests', 'flow orders has 500 requests waiting', { 'retry-after': '30' });
    assert.deepEqual(toProblem(problem), {
      body: { type: 'urn:async-engine:problem:backlog-full', title: 'Too Many Requests', status: 429, detail: 'flow orders has 500 requests waiting' },
      headers: { 'retry-after': '30' },
    });
    assert.equal(problemType('backlog-full'), 'urn:async-engine:problem:backlog-full');
  });

  it('copies the headers of an HttpProblem rather than handing out its own object', () => {
    const problem = new HttpProblem(404, 'request-not-found', 'Not Found', 'no request r-1');
    const { headers } = toProblem(problem);
    headers['x-extra'] = '1';
    assert.deepEqual(problem.headers, {});
  });

  it('answers 503 with Retry-After when storage is unreachable, without the error message', () => {
    const err = new EngineError('AE_STORAGE_UNAVAILABLE', 'connect ECONNREFUSED 10.0.0.7:10001 with key abc', { cause: new Error('socket') });
    const { body, headers } = toProblem(err);
    assert.deepEqual(body, {
      type: 'urn:async-engine:problem:storage-unavailable',
      title: 'Service Unavailable',
      status: 503,
      detail: 'storage is unreachable; try again later',
    });
    assert.deepEqual(headers, { 'retry-after': '5' });
  });

  it('answers any other EngineError as a 500 that hides its message', () => {
    const { body, headers } = toProblem(new EngineError('AE_STORAGE', 'table status: 500 from 10.0.0.7'));
    assert.equal(body.status, 500);
    assert.doesNotMatch(body.detail, /10\.0\.0\.7/);
    assert.deepEqual(headers, {});
  });

  it('answers an exposed http-errors style 405 with its status, title, message and headers', () => {
    const { body, headers } = toProblem(httpError(405, 'POST is not allowed on /requests/r-1', true, { allow: 'GET, HEAD' }));
    assert.deepEqual(body, { type: 'about:blank', title: 'Method Not Allowed', status: 405, detail: 'POST is not allowed on /requests/r-1' });
    assert.deepEqual(headers, { allow: 'GET, HEAD' });
  });

  it('reads the status from statusCode when there is no status', () => {
    const err = Object.assign(new Error('too big'), { statusCode: 413, expose: true });
    assert.deepEqual(toProblem(err).body, { type: 'about:blank', title: 'Content Too Large', status: 413, detail: 'too big' });
  });

  it('hides the message of an error with status 500 that is not exposed', () => {
    const { body } = toProblem(httpError(500, 'password=hunter2 in connection string', false));
    assert.deepEqual(body, { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'Internal Server Error' });
  });

  it('titles a status it has no name for as Error', () => {
    assert.deepEqual(toProblem(httpError(418, 'teapot', false)).body, { type: 'about:blank', title: 'Error', status: 418, detail: 'Error' });
  });

  const notHttpStatuses: Array<[string, unknown]> = [
    ['a 302', 302],
    ['a 600', 600],
    ['a string "404"', '404'],
  ];
  for (const [name, status] of notHttpStatuses) {
    it(`answers an error whose status is ${name} as a generic 500`, () => {
      const err = Object.assign(new Error('secret detail'), { status, expose: true });
      assert.deepEqual(toProblem(err).body, { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'the engine failed to handle the request' });
    });
  }

  const plain: Array<[string, unknown]> = [
    ['a plain Error', new Error('ENOENT: /etc/async-engine/secret.json')],
    ['a thrown string', 'ENOENT: /etc/async-engine/secret.json'],
    ['undefined', undefined],
    ['null', null],
  ];
  for (const [name, err] of plain) {
    it(`answers ${name} with a 500 and a generic detail, never its message`, () => {
      assert.deepEqual(toProblem(err), {
        body: { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'the engine failed to handle the request' },
        headers: {},
      });
    });
  }
});
