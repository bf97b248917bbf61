import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startAzurite } from '../support/azurite.js';
import { spawnCli } from '../support/cli.js';
import { writeConfigFile } from '../support/config-docs.js';
import { EndpointServer, echo, echoWhen, gate } from '../support/endpoints.js';
import { flowDocument, submit, withFlowsOf } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

const GRACE_IN_MS = 3000;

/** Sends the headers of a submission and a little of its body, then nothing: a stalled upload. */
function stalledUpload(url: string): () => void {
  const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '1000' } });
  req.on('error', () => undefined); // the engine closes it at the deadline
  req.write('{"stalled":');
  return () => req.destroy();
}

describe('async-engine start, stopped by SIGTERM', () => {
  it('exits 0 within shutdownGraceMs plus a second while steps, a callback and an upload are still in flight', async () => {
    const azurite = await startAzurite();
    const held = gate();
    const hanging = await EndpointServer.start(echoWhen(held.opened));
    const receiver = await EndpointServer.start(echoWhen(held.opened));
    const fast = await EndpointServer.start(echo);
    const slowDoc = flowDocument(azurite, {
      flowName: 'slow',
      steps: [{ url: hanging.url(), maxThreads: 4 }],
      queue: { visibilityTimeout: 60 },
      extra: {
        'server.config': { port: 0, shutdownGraceMs: GRACE_IN_MS },
        'callback.config': { allowedHosts: [new URL(receiver.url()).host], timeout: 60_000, retries: 0 },
      },
    });
    const fastDoc = flowDocument(azurite, { flowName: 'fast', steps: [{ url: fast.url() }] });
    const doc = withFlowsOf(slowDoc, fastDoc);
    const file = await writeConfigFile(doc);
    const cli = spawnCli(['start', '--config', file]);
    let cancelUpload = (): void => undefined;
    try {
      const url = await cli.startedUrl();
      const engine = { url };
      for (let i = 0; i < 4; i++) await submit(engine, 'slow', `{"n":${i}}`);
      await submit(engine, 'fast', '{}', { 'x-callback-url': receiver.url('/done') });
      await eventually(() => assert.equal(hanging.inFlight, 4, 'every slot of the slow step is calling its endpoint'), { timeoutInMs: 30_000 });
      await eventually(() => assert.equal(receiver.inFlight, 1, 'the callback is being delivered'), { timeoutInMs: 30_000 });
      cancelUpload = stalledUpload(`${url}/api/flows/slow`);

      const stopAt = performance.now();
      cli.child.kill('SIGTERM');
      const { code } = await cli.exited;
      const tookInMs = performance.now() - stopAt;

      assert.equal(code, 0, cli.stderr);
      assert.ok(tookInMs <= GRACE_IN_MS + 1000, `stopped after ${Math.round(tookInMs)} ms, grace ${GRACE_IN_MS} ms`);
      const logged = (msg: string): number => cli.logLines().filter((l) => l['msg'] === msg).length;
      assert.equal(logged('engine.drain_timed_out'), 1);
      assert.equal(logged('step.released') + logged('step.release_failed'), 4, 'each step given up on lets its message go');
      assert.equal(logged('engine.stopped'), 1);
    } finally {
      cancelUpload();
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      held.open();
      await Promise.all([hanging.close(), receiver.close(), fast.close()]);
      await azurite.close();
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });
});
