// Layer rules for src/ (run by `npm run lint`, checked by test/tooling/layers.test.ts).
//
// LEVELS lists the layers bottom to top. A module may import from its own part and from any part
// on a lower level. Parts that share a level are siblings and may not import each other.
// Paths are regular expressions on paths relative to the repository root.
//
// The TypeScript sources are parsed with swc (TypeScript 7 has no JavaScript API for
// dependency-cruiser's tsc parser), so `import type` counts like any other import.

/** @typedef {{ name: string, paths: string[] }} Part */

/** @type {Part[][]} */
const LEVELS = [
  [{ name: 'base', paths: ['^src/errors[.]ts$', '^src/version[.]ts$', '^src/common/'] }],
  [{ name: 'config', paths: ['^src/config/'] }],
  [{ name: 'observability', paths: ['^src/observability/'] }],
  [
    { name: 'storage', paths: ['^src/storage/'] },
    { name: 'auth', paths: ['^src/auth/'] },
  ],
  [{ name: 'http', paths: ['^src/http/'] }],
  [{ name: 'engine', paths: ['^src/engine/'] }],
  // What the HTTP API and the command line both do (list, get, replay, delete): one implementation, two faces.
  [{ name: 'operations', paths: ['^src/operations/'] }],
  [{ name: 'ingress', paths: ['^src/ingress/'] }],
  [{ name: 'demo', paths: ['^src/demo/'] }],
  [
    { name: 'runtime', paths: ['^src/runtime[.]ts$'] },
    // The operator commands: storage and the shared operations, never the running engine.
    { name: 'cli', paths: ['^src/cli/'] },
  ],
  [{ name: 'main', paths: ['^src/main[.]ts$'] }],
];

/**
 * The dashboard's browser code (served as is by the ingress, GET /ui): apart from the layers. It runs
 * in a browser without a bundler, so it imports only its own files, and no engine module imports it.
 */
const BROWSER = { name: 'ui', paths: ['^src/ui/'] };

const ALL_LAYER_PATHS = [...LEVELS.flat().flatMap((part) => part.paths), ...BROWSER.paths];

/** One rule per part: an import from the part into src/ must land in the part or a lower level. */
function layerRule(part, level) {
  const lower = LEVELS.slice(0, level).flat();
  const siblings = LEVELS[level].filter((other) => other !== part);
  const below = lower.length > 0 ? `itself and the layers below it (${lower.map((p) => p.name).join(', ')})` : 'itself';
  const siblingNote = siblings.length > 0 ? `; ${siblings.map((p) => p.name).join(', ')} is a sibling, not below` : '';
  return {
    name: `layer-${part.name}`,
    comment: `layer ${part.name} may import only from ${below}${siblingNote}. Move the shared code down a layer or pass it in from above.`,
    severity: 'error',
    from: { path: part.paths },
    // An import of the browser code breaks a rule of its own (no-import-of-ui).
    to: { path: '^src/', pathNot: [part, ...lower, BROWSER].flatMap((p) => p.paths) },
  };
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...LEVELS.flatMap((parts, level) => parts.map((part) => layerRule(part, level))),
    {
      name: 'ui-browser-only',
      comment: "the dashboard's browser code (src/ui) is served as is, without a bundler: it may import only its own files, never the engine's modules or a package",
      severity: 'error',
      from: { path: BROWSER.paths },
      to: { pathNot: BROWSER.paths },
    },
    {
      name: 'no-import-of-ui',
      comment: "src/ui is the dashboard's browser code, served as files by ingress/routes/ui.ts: no engine module imports it",
      severity: 'error',
      from: { path: '^src/', pathNot: BROWSER.paths },
      to: { path: BROWSER.paths },
    },
    {
      name: 'layer-unassigned',
      comment: 'every module in src/ belongs to a layer: add its path to LEVELS in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: '^src/', pathNot: ALL_LAYER_PATHS },
      to: {},
    },
    {
      name: 'no-circular',
      comment: 'import cycles make start-up order and layering unclear: break the cycle',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-src-to-test',
      comment: 'production code must not import test code',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'no-dev-dependency-in-src',
      comment:
        'production installs (npm ci --omit=dev, npm install async-engine) lack the devDependencies: src/ may import only dependencies. ' +
        'A development-only package (azurite) is loaded where it is configured, by path, with a clear error when it is missing.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-unresolvable',
      comment: 'an import that cannot be resolved cannot be checked against the layers',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    moduleSystems: ['es6', 'cjs'],
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
