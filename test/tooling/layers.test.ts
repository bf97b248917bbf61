/**
 * The layer rules in .dependency-cruiser.cjs, run the way `npm run lint` runs them: they fail on a
 * tree that breaks them and pass on the real src/.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPCRUISE = path.join(REPO_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const RULES = path.join(REPO_ROOT, '.dependency-cruiser.cjs');

interface CruiseResult {
  code: number;
  output: string;
}

function cruise(cwd: string): Promise<CruiseResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [DEPCRUISE, 'src', '--config', RULES, '--output-type', 'err-long'], { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(err);
        return;
      }
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, output: `${stdout}${stderr}` });
    });
  });
}

/** A small tree laid out like src/; the comment above each file that breaks a rule names the rule. */
const FIXTURE: Record<string, string> = {
  'src/errors.ts': 'export class EngineError extends Error {}\n',
  'src/common/pause.ts': "import { EngineError } from '../errors.js';\nexport const pause = (): EngineError => new EngineError();\n",
  'src/engine/decide.ts': "import { pause } from '../common/pause.js';\nexport type Reason = 'poison';\nexport const decide = pause;\n",
  // layer-storage: a type-only import counts, although tsc erases it from the JavaScript.
  'src/storage/table.ts': "import type { Reason } from '../engine/decide.js';\nexport const table = (reason: Reason): Reason => reason;\n",
  // layer-auth: storage and auth are siblings.
  'src/auth/verify.ts': "import { table } from '../storage/table.js';\nexport const verify = table;\n",
  // layer-config: config sits below the engine.
  'src/config/load.ts': "import { decide } from '../engine/decide.js';\nexport const load = decide;\n",
  // no-circular: two engine modules that import each other.
  'src/engine/a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
  'src/engine/b.ts': "import { a } from './a.js';\nexport const b = (): number => a() - 1;\n",
  // no-src-to-test.
  'src/demo/endpoints.ts': "import { helper } from '../../test/support/helper.js';\nexport const endpoints = helper;\n",
  'test/support/helper.ts': 'export const helper = 1;\n',
  // layer-unassigned: a folder no layer names.
  'src/extra/thing.ts': "import { EngineError } from '../errors.js';\nexport const thing = new EngineError();\n",
  // no-dev-dependency-in-src: production installs lack devDependencies (a type-only import counts too).
  'src/storage/emulator.ts': "import { start } from 'dev-only';\nexport const emulator = start;\n",
  'src/storage/emulator-types.ts': "import type { Options } from 'dev-only';\nexport type EmulatorOptions = Options;\n",
  // Allowed: a dependency.
  'src/storage/clients.ts': "import { connect } from 'runtime-dep';\nexport const clients = connect;\n",
  'package.json': JSON.stringify({ name: 'fixture', type: 'module', dependencies: { 'runtime-dep': '1.0.0' }, devDependencies: { 'dev-only': '1.0.0' } }),
  'node_modules/runtime-dep/package.json': JSON.stringify({ name: 'runtime-dep', version: '1.0.0', main: 'index.js' }),
  'node_modules/runtime-dep/index.js': 'exports.connect = () => 1;\n',
  'node_modules/dev-only/package.json': JSON.stringify({ name: 'dev-only', version: '1.0.0', main: 'index.js', types: 'index.d.ts' }),
  'node_modules/dev-only/index.js': 'exports.start = () => 1;\n',
  'node_modules/dev-only/index.d.ts': 'export declare function start(): number;\nexport interface Options { port: number }\n',
  // ui-browser-only: the dashboard's browser code imports only its own files.
  'src/ui/app.js': "import { h } from './dom.js';\nimport { EngineError } from '../errors.js';\nexport const app = [h, EngineError];\n",
  'src/ui/dom.js': 'export const h = () => 1;\n',
  // no-import-of-ui: no engine module imports the browser code.
  'src/ingress/page.ts': "import { h } from '../ui/dom.js';\nexport const page = h;\n",
  // Allowed: the top layers import downwards, main imports runtime.
  'src/runtime.ts': "import { decide } from './engine/decide.js';\nimport { verify } from './auth/verify.js';\nexport const runtime = [decide, verify];\n",
  'src/main.ts': "import { runtime } from './runtime.js';\nimport { endpoints } from './demo/endpoints.js';\nexport const main = [runtime, endpoints];\n",
};

describe('layer rules (.dependency-cruiser.cjs)', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ae-layers-'));
    for (const [file, text] of Object.entries(FIXTURE)) {
      await mkdir(path.dirname(path.join(tmp, file)), { recursive: true });
      await writeFile(path.join(tmp, file), text);
    }
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('fail on upward, sibling, circular, test, unassigned, devDependency and browser-code imports, naming each rule', async () => {
    const { code, output } = await cruise(tmp);
    assert.notEqual(code, 0, output);
    const expected = [
      'error layer-storage: src/storage/table.ts → src/engine/decide.ts',
      'error layer-auth: src/auth/verify.ts → src/storage/table.ts',
      'error layer-config: src/config/load.ts → src/engine/decide.ts',
      'error no-circular: src/engine/a.ts → ',
      'error no-src-to-test: src/demo/endpoints.ts → test/support/helper.ts',
      'error layer-unassigned: src/extra/thing.ts → src/errors.ts',
      'error no-dev-dependency-in-src: src/storage/emulator.ts → node_modules/dev-only/',
      'error no-dev-dependency-in-src: src/storage/emulator-types.ts → node_modules/dev-only/',
      'error ui-browser-only: src/ui/app.js → src/errors.ts',
      'error no-import-of-ui: src/ingress/page.ts → src/ui/dom.js',
    ];
    for (const line of expected) assert.ok(output.includes(line), `missing "${line}" in:\n${output}`);
    // Each violation is explained by its rule's comment (err-long wraps it), e.g. which layers are below.
    assert.match(output.replace(/\s+/g, ' '), /layer storage may import only from itself and the layers below it \(base, config, observability\); auth is a sibling/);
    // Only those: the allowed downward imports (runtime, main, base) report nothing.
    const reported = output.match(/^ {2}error /gm) ?? [];
    assert.equal(reported.length, expected.length, `expected one violation per rule broken:\n${output}`);
  });

  it('pass on the real src/', async () => {
    const { code, output } = await cruise(REPO_ROOT);
    assert.equal(code, 0, output);
    assert.match(output, /no dependency violations found/);
  });
});
