import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError, type EngineErrorCode } from '../../src/errors.js';
import { toProblem } from '../../src/ingress/problem.js';

describe('the problem of each error code', () => {
  const cases: Array<{ name: string; code: EngineErrorCode; expose: boolean; status: number; type: string; detail: RegExp; retryAfter?: string }> = [
    {
      name: 'a replay that cannot be done is 409, with its own message when it is marked expose',
      code: 'AE_REPLAY_IMPOSSIBLE',
      expose: true,
      status: 409,
      type: 'urn:async-engine:problem:replay-impossible',
      detail: /^the secret message$/,
    },
    {
      name: 'the same code not marked expose is 409 with the generic detail only',
      code: 'AE_REPLAY_IMPOSSIBLE',
      expose: false,
      status: 409,
      type: 'urn:async-engine:problem:replay-impossible',
      detail: /^the entry cannot be replayed$/,
    },
    {
      name: 'a conditional write that kept losing is 409, try again',
      code: 'AE_STORAGE_CONFLICT',
      expose: false,
      status: 409,
      type: 'urn:async-engine:problem:conflict',
      detail: /try again/,
    },
    {
      name: 'shutting down is 503 with Retry-After 1',
      code: 'AE_SHUTDOWN',
      expose: false,
      status: 503,
      type: 'urn:async-engine:problem:shutting-down',
      detail: /shutting down/,
      retryAfter: '1',
    },
    {
      name: 'an unreachable provider is 503 with Retry-After 5',
      code: 'AE_AUTH_UNAVAILABLE',
      expose: false,
      status: 503,
      type: 'urn:async-engine:problem:auth-unavailable',
      detail: /OpenID provider/,
      retryAfter: '5',
    },
    {
      name: 'a configuration error met at run time is a 500 that hides its message',
      code: 'AE_INVALID_CONFIG',
      expose: false,
      status: 500,
      type: 'about:blank',
      detail: /^the engine failed to handle the request$/,
    },
    {
      name: 'a missing blob behind a status row is a 500, not a 404 of the client\'s making',
      code: 'AE_NOT_FOUND',
      expose: false,
      status: 500,
      type: 'about:blank',
      detail: /^the engine failed to handle the request$/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { body, headers } = toProblem(new EngineError(c.code, 'the secret message', { expose: c.expose }));
      assert.equal(body.status, c.status);
      assert.equal(body.type, c.type);
      assert.match(body.detail, c.detail);
      if (!c.expose) assert.doesNotMatch(body.detail, /secret/);
      assert.equal(headers['retry-after'], c.retryAfter);
    });
  }
});
