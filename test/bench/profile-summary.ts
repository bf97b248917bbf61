/**
 * Where a process's CPU went, from a `.cpuprofile` of `npm run bench -- --cpu-prof DIR`:
 * `node dist/test/bench/profile-summary.js FILE [TOP]`. Each sample's time goes to the nearest
 * frame on its stack that is not Node.js's own: a package (`@azure/core-client`), a file of the
 * engine (`src/engine/step-runner.js`) or of the bench. Node.js's work on behalf of that code (a
 * socket write under the HTTP client of an SDK, say) counts as that code's; what Node.js does with
 * no JavaScript caller (reading sockets, running promise jobs, loading modules) and garbage
 * collection are lines of their own. Idle time is left out.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface OwnerShare {
  owner: string;
  ms: number;
  share: number;
}

const NODE_ONLY = '(Node.js, no JavaScript caller)';

/** The package or project file a script URL belongs to; null for Node.js's own code. */
export function ownerOf(url: string): string | null {
  if (url === '' || url.startsWith('node:')) return null;
  const pkg = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  const own = url.indexOf('/dist/');
  return own >= 0 ? url.slice(own + '/dist/'.length) : url;
}

/** Non-idle CPU time by owner, largest first. */
export function summarizeProfile(profile: Profile): { totalMs: number; owners: OwnerShare[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const timeByOwner = new Map<string, number>();
  let totalInMicros = 0;
  profile.samples.forEach((sample, i) => {
    const leaf = byId.get(sample);
    if (leaf === undefined || leaf.callFrame.functionName === '(idle)') return;
    const micros = profile.timeDeltas[i] ?? 0;
    totalInMicros += micros;
    let owner: string | null = null;
    for (let id: number | undefined = sample; id !== undefined && owner === null; id = parentOf.get(id)) owner = ownerOf(byId.get(id)?.callFrame.url ?? '');
    const name = leaf.callFrame.functionName;
    const key = owner ?? (name === '(garbage collector)' || name === '(program)' ? name : NODE_ONLY);
    timeByOwner.set(key, (timeByOwner.get(key) ?? 0) + micros);
  });
  const owners = [...timeByOwner]
    .map(([owner, micros]) => ({ owner, ms: micros / 1000, share: totalInMicros === 0 ? 0 : micros / totalInMicros }))
    .sort((a, b) => b.ms - a.ms);
  return { totalMs: totalInMicros / 1000, owners };
}

function main(argv: string[]): void {
  const [file, top = '25'] = argv;
  if (file === undefined) {
    process.stderr.write('Usage: node dist/test/bench/profile-summary.js FILE.cpuprofile [TOP]\n');
    process.exitCode = 64;
    return;
  }
  const { totalMs, owners } = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  // A reader that has read enough (`| head`) closes the pipe: that ends the output, it is not a crash.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  process.stdout.write(`${file}: ${totalMs.toFixed(0)} ms of CPU (idle left out)\n`);
  for (const { owner, ms, share } of owners.slice(0, Number(top))) {
    process.stdout.write(`${ms.toFixed(0).padStart(7)} ms ${(share * 100).toFixed(1).padStart(5)}%  ${owner}\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
