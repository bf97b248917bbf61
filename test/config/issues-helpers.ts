/** Assertions shared by the configuration tests (not a test file itself). */
import assert from 'node:assert/strict';
import { ConfigError, formatIssue, type ConfigIssue } from '../../src/config/issues.js';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import type { ConfigDocument } from '../support/config-docs.js';

export const SOURCE = 'test-config.json';

/** Parses `doc` with `env` (never process.env); fails the test with the issues when it is invalid. */
export function parse(doc: unknown, env: NodeJS.ProcessEnv = {}): LoadedConfig {
  try {
    return parseConfig(doc, { source: SOURCE, env });
  } catch (err) {
    if (err instanceof ConfigError) assert.fail(`expected a valid configuration, got:\n${err.message}`);
    throw err;
  }
}

/** The ConfigError `doc` must fail with. */
export function configError(doc: unknown, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(doc, { source: SOURCE, env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'AE_INVALID_CONFIG');
    return err;
  }
  return assert.fail('expected the configuration to be invalid');
}

/** The issues `doc` must fail with. */
export function issuesOf(doc: unknown, env: NodeJS.ProcessEnv = {}): readonly ConfigIssue[] {
  return configError(doc, env).issues;
}

const listed = (issues: readonly ConfigIssue[]): string => issues.map((i) => `  ${formatIssue(i)}`).join('\n');

/** The one issue at `path` among `issues` (fails when there is none or more than one). */
export function issueAt(issues: readonly ConfigIssue[], path: string): ConfigIssue {
  const found = issues.filter((i) => i.path === path);
  assert.equal(found.length, 1, `expected one issue at ${path}, got:\n${listed(issues)}`);
  return found[0]!;
}

export interface Expected {
  /** The bad value the issue shows; omit to require that it shows none. */
  value?: unknown;
  /** A pattern the message must match. */
  message?: RegExp;
}

/** Asserts the issue's value (shown, and shown in its formatted line) and message. */
export function assertIssue(issue: ConfigIssue, expected: Expected): void {
  if ('value' in expected) {
    assert.ok('value' in issue, `expected ${issue.path} to show its value`);
    assert.deepEqual(issue.value, expected.value);
    assert.ok(
      formatIssue(issue).startsWith(`${issue.path}: ${JSON.stringify(expected.value)} `),
      `formatted: ${formatIssue(issue)}`,
    );
  } else {
    assert.ok(!('value' in issue), `expected ${issue.path} to show no value, got ${formatIssue(issue)}`);
    assert.equal(formatIssue(issue), `${issue.path}: ${issue.message}`);
  }
  if (expected.message) assert.match(issue.message, expected.message);
}

/** Asserts that `doc` fails with exactly one issue, at `path`, and returns it. */
export function onlyIssue(doc: ConfigDocument, path: string, expected: Expected = {}, env: NodeJS.ProcessEnv = {}): ConfigIssue {
  const issues = issuesOf(doc, env);
  assert.deepEqual(
    issues.map((i) => i.path),
    [path],
    `expected exactly one issue at ${path}, got:\n${listed(issues)}`,
  );
  const issue = issues[0]!;
  assertIssue(issue, expected);
  return issue;
}

/** Asserts that `doc` fails with issues at exactly `paths` (in any order). */
export function issuePaths(doc: ConfigDocument, paths: readonly string[], env: NodeJS.ProcessEnv = {}): readonly ConfigIssue[] {
  const issues = issuesOf(doc, env);
  assert.deepEqual(
    issues.map((i) => i.path).sort(),
    [...paths].sort(),
    `got:\n${listed(issues)}`,
  );
  return issues;
}
