import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ownerOf, summarizeProfile } from './profile-summary.js';

const CLI = fileURLToPath(new URL('./profile-summary.js', import.meta.url));

describe('profile-summary', () => {
  it('names packages, scoped packages and the project\'s files, and Node.js\'s own code as nobody\'s', () => {
    assert.equal(ownerOf('file:///app/node_modules/@azure/core-client/dist/esm/serializer.js'), '@azure/core-client');
    assert.equal(ownerOf('file:///app/node_modules/undici/lib/api/api-request.js'), 'undici');
    // A package inside another's node_modules belongs to the innermost.
    assert.equal(ownerOf('file:///app/node_modules/a/node_modules/b/index.js'), 'b');
    assert.equal(ownerOf('file:///app/dist/src/engine/step-runner.js'), 'src/engine/step-runner.js');
    assert.equal(ownerOf('node:internal/streams/readable'), null);
    assert.equal(ownerOf(''), null);
  });

  it('gives each sample to the nearest non-Node.js frame, and leaves idle time out', () => {
    const frame = (functionName: string, url = ''): { functionName: string; url: string } => ({ functionName, url });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 5, 6, 7] },
        { id: 2, callFrame: frame('handle', 'file:///app/dist/src/engine/step-runner.js'), children: [3] },
        { id: 3, callFrame: frame('write', 'node:_http_outgoing'), children: [4] },
        { id: 4, callFrame: frame('writev') },
        { id: 5, callFrame: frame('(idle)') },
        { id: 6, callFrame: frame('(garbage collector)') },
        { id: 7, callFrame: frame('processTicksAndRejections', 'node:internal/process/task_queues') },
      ],
      samples: [4, 4, 5, 6, 7, 2],
      timeDeltas: [1000, 1000, 50_000, 2000, 3000, 1000],
    };
    const { totalMs, owners } = summarizeProfile(profile);
    assert.equal(totalMs, 8);
    assert.deepEqual(
      owners.map((o) => [o.owner, o.ms]),
      [
        ['src/engine/step-runner.js', 3],
        ['(Node.js, no JavaScript caller)', 3],
        ['(garbage collector)', 2],
      ],
    );
    assert.equal(owners[0]?.share, 3 / 8);
  });

  it('stops quietly when its reader closes the pipe early (| head)', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ae-profile-'));
    try {
      // 5,000 owners: far more output than a pipe holds, so the writes go on after the reader has gone.
      const owners = Array.from({ length: 5000 }, (_, i) => ({ id: i + 2, callFrame: { functionName: 'f', url: `file:///app/node_modules/package-${i}/index.js` } }));
      const profile = { nodes: [{ id: 1, callFrame: { functionName: '(root)', url: '' }, children: owners.map((o) => o.id) }, ...owners], samples: owners.map((o) => o.id), timeDeltas: owners.map(() => 100) };
      const file = path.join(folder, 'many.cpuprofile');
      await writeFile(file, JSON.stringify(profile));
      const child = spawn(process.execPath, [CLI, file, '5000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.stdout.once('data', () => child.stdout.destroy());
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, stderr);
      assert.equal(stderr, '');
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('reads a profile that node --cpu-prof wrote', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ae-profile-'));
    try {
      const script = path.join(folder, 'burn.mjs');
      await writeFile(script, 'let x = 0; const end = Date.now() + 200; while (Date.now() < end) x += Math.sqrt(x + 1); console.log(x > 0);\n');
      const run = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', folder, script], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      const [file] = (await readdir(folder)).filter((f) => f.endsWith('.cpuprofile'));
      assert.ok(file, 'node wrote a profile');
      const { totalMs, owners } = summarizeProfile(JSON.parse(await readFile(path.join(folder, file), 'utf8')));
      assert.ok(totalMs > 50, `${totalMs} ms`);
      assert.equal(owners[0]?.owner, `file://${script}`, JSON.stringify(owners.slice(0, 3)));
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
