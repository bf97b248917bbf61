import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Fields } from '../../src/config/checks.js';
import { leaves, SECTION_KEYS } from '../../src/config/schema.js';
import { REPO_ROOT } from '../support/cli.js';

const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');

/** The names a user looks up: a section's keys relative to it, object fields dotted, list entry fields bare. */
function documentedNames(): string[] {
  const names: string[] = [];
  const fromFields = (fields: Fields | undefined, prefix: string, isList: boolean): void => {
    for (const [key, field] of Object.entries(fields ?? {})) {
      const name = isList || prefix === '' ? key : `${prefix}.${key}`;
      names.push(name);
      fromFields(field.format.fields, name, field.format.jsonType === 'array');
    }
  };
  for (const [leafPath, leaf] of leaves()) {
    const section = SECTION_KEYS.find((s) => leafPath === s || leafPath.startsWith(`${s}.`))!;
    const relative = leafPath === section ? '' : leafPath.slice(section.length + 1);
    if (relative !== '') names.push(relative);
    else names.push(section);
    fromFields(leaf.format.fields, relative, leaf.format.jsonType === 'array');
  }
  return [...new Set(names)];
}

describe('README', () => {
  it('documents every configuration section and key of the schema', () => {
    const missing = [...SECTION_KEYS, ...documentedNames()].filter((name) => !readme.includes(`\`${name}\``));
    assert.deepEqual(missing, []);
  });

  it('documents every secret environment variable, the CLI commands and both setup commands', () => {
    const needed = [
      'AZURE_STORAGE_CONNECTION_STRING',
      'AZURE_STORAGE_ACCOUNT_KEY',
      'OPENAPI_PASSWORD',
      'OIDC_CLIENT_SECRET',
      'ASYNC_ENGINE_CONFIG',
      'ASYNC_ENGINE_ENV',
      'async-engine start [--config PATH]',
      'async-engine config check [--config PATH]',
      'async-engine start --role all\\|ingress\\|worker',
      'ASYNC_ENGINE_ROLE',
      'async-engine flows [--json]',
      'async-engine requests list [--flow F] [--status S] [--limit N] [--cursor C] [--json]',
      'async-engine requests get ID [--json]',
      'async-engine dlq list [--flow F] [--limit N] [--cursor C] [--json]',
      'async-engine dlq get ID [--json]',
      'async-engine dlq replay ID [--json]',
      'async-engine dlq replay --flow F [--json]',
      'async-engine dlq delete ID [--json]',
      'NO_COLOR',
      '| 3 | not found',
      '| 130 |',
      'npm install && npm start',
      'npm test',
    ];
    assert.deepEqual(needed.filter((text) => !readme.includes(text)), []);
  });
});
