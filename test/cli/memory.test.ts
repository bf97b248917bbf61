import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startAzurite } from '../support/azurite.js';
import { spawnCli } from '../support/cli.js';
import { writeConfigFile } from '../support/config-docs.js';
import { EndpointServer, echo, streamBody } from '../support/endpoints.js';
import { flowDocument, getStatus, submit, withFlowsOf } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

const HUGE_BYTES = 256 * 1024 * 1024;
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Peak resident memory of a process, from /proc (VmHWM), in MiB. */
function peakRssInMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmHWM:'));
  assert.ok(line, 'VmHWM in /proc/<pid>/status');
  return Number(/(\d+)\s*kB/.exec(line)?.[1]) / 1024;
}

/** An endpoint that answers 200 with `bytes` of body, streamed as fast as the reader takes it; counts hang-ups. */
async function hugeAnswers(bytes: number): Promise<{ url: string; hungUp: () => number; close: () => Promise<void> }> {
  let hungUp = 0;
  const server: Server = createServer((req, res: ServerResponse) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const sent = streamBody(res, bytes);
    res.on('close', () => {
      if (sent() < bytes) hungUp++;
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/huge`,
    hungUp: () => hungUp,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('memory bounded by configuration', () => {
  it('stays under 400 MiB while 8 endpoints answer 256 MiB each, and a healthy flow keeps completing', async () => {
    const azurite = await startAzurite();
    const huge = await hugeAnswers(HUGE_BYTES);
    const healthy = await EndpointServer.start(echo);
    const bigDoc = flowDocument(azurite, {
      flowName: 'big',
      steps: [{ url: huge.url, maxThreads: 8 }],
      extra: {
        'server.config': { port: 0 },
        'payload.config': { maxResponseBytes: MAX_RESPONSE_BYTES },
        'redelivery.config': { default: { count: 0, delay: 0 } },
      },
    });
    const healthyDoc = flowDocument(azurite, { flowName: 'healthy', steps: [{ url: healthy.url() }] });
    const doc = withFlowsOf(bigDoc, healthyDoc);
    const file = await writeConfigFile(doc);
    const cli = spawnCli(['start', '--config', file]);
    try {
      const url = await cli.startedUrl();
      const engine = { url };
      const big = await Promise.all(Array.from({ length: 8 }, (_, i) => submit(engine, 'big', `{"n":${i}}`)));
      const small = await Promise.all(Array.from({ length: 8 }, (_, i) => submit(engine, 'healthy', `{"n":${i}}`)));
      for (const id of small) {
        await eventually(async () => assert.equal((await getStatus(engine, id))['status'], 'completed'), { timeoutInMs: 60_000 });
      }
      for (const id of big) {
        const status = await eventually(
          async () => {
            const s = await getStatus(engine, id);
            assert.equal(s['status'], 'dead-lettered');
            return s;
          },
          { timeoutInMs: 60_000 },
        );
        assert.match(String(status['error']), /AE_RESPONSE_TOO_LARGE: response larger than 1048576 bytes \(payload\.config\.maxResponseBytes\)/);
      }
      await eventually(() => assert.equal(huge.hungUp(), 8, 'every huge answer was cut off by the engine'), { timeoutInMs: 30_000 });
      const pid = cli.child.pid;
      assert.ok(pid);
      const peak = peakRssInMiB(pid);
      assert.ok(peak < 400, `peak RSS ${Math.round(peak)} MiB`);
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exited;
      await Promise.all([huge.close(), healthy.close()]);
      await azurite.close();
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('stays under 400 MiB while 100 clients read one 8 MiB result at once', async () => {
    const azurite = await startAzurite();
    const result = Buffer.alloc(8 * 1024 * 1024, 'r');
    const endpoint = await EndpointServer.start(() => ({ body: result, contentType: 'application/octet-stream' }));
    const file = await writeConfigFile(flowDocument(azurite, { steps: [{ url: endpoint.url() }], extra: { 'server.config': { port: 0 } } }));
    const cli = spawnCli(['start', '--config', file]);
    try {
      const url = await cli.startedUrl();
      const id = await submit({ url }, 'flow', '{}');
      await eventually(async () => assert.equal((await getStatus({ url }, id))['status'], 'completed'), { timeoutInMs: 60_000 });
      const pid = cli.child.pid;
      assert.ok(pid);
      const before = peakRssInMiB(pid);
      const answers = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const response = await fetch(`${url}/api/requests/${id}/result`);
          let size = 0;
          // Read as it comes and keep nothing: the test process must not hold 800 MiB either.
          for await (const chunk of response.body ?? []) size += (chunk as Uint8Array).length;
          return { status: response.status, size, retryAfter: response.headers.get('retry-after') };
        }),
      );
      const served = answers.filter((a) => a.status === 200);
      assert.ok(served.length >= 32, `${served.length} clients got the result`);
      assert.ok(served.every((a) => a.size === result.length), 'each got all of it');
      assert.ok(answers.every((a) => a.status === 200 || (a.status === 429 && a.retryAfter === '1')), JSON.stringify(answers.map((a) => a.status)));
      const peak = peakRssInMiB(pid);
      assert.ok(peak < 400, `peak RSS ${Math.round(peak)} MiB (${Math.round(before)} MiB before the reads)`);
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exited;
      await endpoint.close();
      await azurite.close();
      await rm(path.dirname(file), { recursive: true, force: true });
    }
  });
});
