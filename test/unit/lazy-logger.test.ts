import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, lazyChild, type Logger } from '../../src/observability/log.js';

/** A logger at `level` whose lines are collected, and how many children it has made. */
function collecting(level: string): { log: Logger; lines: Array<Record<string, unknown>>; children: () => number } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = createLogger({ level, destination });
  let made = 0;
  // Unbound: a child inherits this method, and its own children must descend from it.
  const child = log.child;
  log.child = function (this: Logger, ...args: Parameters<Logger['child']>) {
    made++;
    return child.apply(this, args);
  } as Logger['child'];
  return { log, lines, children: () => made };
}

describe('lazyChild', () => {
  it('makes no child while nothing is written at an enabled level', () => {
    const { log, lines, children } = collecting('warn');
    const lazy = lazyChild(log, { messageId: 'm-1' });
    lazy.info({ attempt: 1 }, 'step.forwarded');
    lazy.debug('step.debug');
    assert.equal(children(), 0);
    assert.equal(lines.length, 0);
  });

  it('writes a line with the bindings once a level is enabled, and makes the child once', () => {
    const { log, lines, children } = collecting('info');
    const lazy = lazyChild(log, { messageId: 'm-2', requestId: 'r-2' });
    lazy.info({ attempt: 1 }, 'step.forwarded');
    lazy.warn({ reason: 'x' }, 'step.retry_scheduled');
    assert.equal(children(), 1);
    assert.deepEqual(
      lines.map((l) => [l['msg'], l['messageId'], l['requestId'], l['level']]),
      [
        ['step.forwarded', 'm-2', 'r-2', 30],
        ['step.retry_scheduled', 'm-2', 'r-2', 40],
      ],
    );
  });

  it('redacts secrets among the bindings, as a child made at once does', () => {
    const { log, lines } = collecting('info');
    lazyChild(log, { messageId: 'm-3', token: 'secret-value' }).error({ err: new Error('boom') }, 'step.error');
    assert.equal(lines[0]?.['token'], '[redacted]');
    assert.ok(!JSON.stringify(lines).includes('secret-value'));
  });

  it('answers what the logger is asked, as the child would (level, isLevelEnabled, child)', () => {
    const { log, lines } = collecting('warn');
    const lazy = lazyChild(log, { messageId: 'm-4' });
    assert.equal(lazy.level, 'warn');
    assert.equal(lazy.isLevelEnabled('info'), false);
    lazy.child({ requestId: 'r-4' }).warn('callback.dropped');
    assert.deepEqual([lines[0]?.['messageId'], lines[0]?.['requestId']], ['m-4', 'r-4']);
  });
});
