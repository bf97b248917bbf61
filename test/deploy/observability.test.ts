/**
 * config/observability/: the Grafana dashboard and the Prometheus alert rules ask only for metrics
 * that an engine's /actuator/prometheus exports, and the rules cover what the README promises.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { REPO_ROOT } from '../support/cli.js';
import { engineSuite, flowDocument, submit, waitForStatus } from '../support/engine.js';

const OBSERVABILITY = path.join(REPO_ROOT, 'config', 'observability');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
  panels?: Panel[];
}

interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: string | { query: string } }> };
}

/** PromQL's words that are not metric names. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression (or Grafana's label_values(metric, label)) reads: what is
 * left once strings, label matchers, ranges, grouping label lists, Grafana variables, function
 * names and keywords are taken out.
 */
function metricsOf(expr: string): string[] {
  const labelValues = /^\s*label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(expr);
  if (labelValues?.[1] !== undefined) return [labelValues[1]];
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/[a-zA-Z_:][\w:]*/g)) {
    const after = stripped.slice((match.index ?? 0) + match[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

/** Every expression of the dashboard: its panels' targets (rows included) and its query variables. */
function dashboardExpressions(dashboard: Dashboard): string[] {
  const fromPanels = (panels: Panel[]): string[] => panels.flatMap((p) => [...(p.targets ?? []).map((t) => t.expr), ...fromPanels(p.panels ?? [])]);
  const variables = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : (v.query?.query ?? '')));
  return [...fromPanels(dashboard.panels), ...variables];
}

describe('config/observability', () => {
  const suite = engineSuite();
  const rules = (parse(readFileSync(path.join(OBSERVABILITY, 'prometheus-rules.yaml'), 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap((g) => g.rules);
  const dashboard = JSON.parse(readFileSync(path.join(OBSERVABILITY, 'grafana-dashboard.json'), 'utf8')) as Dashboard;
  /** The metric families /actuator/prometheus declares (# TYPE lines), with their types. */
  let families: Map<string, string>;

  before(async () => {
    const endpoint = await suite.endpoint();
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    await waitForStatus(e, await submit(e, 'flow', '{}'), 'completed');
    const text = await (await fetch(`${e.url}/actuator/prometheus`)).text();
    families = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
  });

  /** Whether /actuator/prometheus exports `name`: a family, or a histogram's or summary's series. */
  const isExported = (name: string): boolean => {
    if (families.has(name)) return true;
    const series = /^(.*)_(bucket|sum|count)$/.exec(name);
    const type = series?.[1] === undefined ? undefined : families.get(series[1]);
    return type === 'histogram' || (type === 'summary' && series?.[2] !== 'bucket');
  };

  it('reads metric names out of PromQL as the check needs', () => {
    const cases: Array<[string, string[]]> = [
      ['sum by (flow, le) (rate(a_total{flow=~"$flow", x="by (y)"}[$__rate_interval]))', ['a_total']],
      ['max by (flow) (b) > 0 unless on (flow) sum by (flow) (increase(c[10m])) > 0', ['b', 'c']],
      ['histogram_quantile(0.99, sum by (le) (rate(d_bucket[5m])))', ['d_bucket']],
      ['count by (version) (e)', ['e']],
      ['label_values(f_total, flow)', ['f_total']],
      ['up == 0', ['up']],
    ];
    for (const [expr, expected] of cases) assert.deepEqual(metricsOf(expr), expected, expr);
  });

  it('asks the alert rules only for metrics that /actuator/prometheus exports', () => {
    const used = rules.flatMap((rule) => metricsOf(rule.expr).map((name) => `${rule.alert}: ${name}`));
    assert.ok(used.length >= rules.length, 'every rule reads a metric');
    assert.deepEqual(
      used.filter((entry) => !isExported(entry.slice(entry.indexOf(': ') + 2))),
      [],
    );
  });

  it('asks the dashboard only for metrics that /actuator/prometheus exports, the Node.js ones by prom-client\'s names', () => {
    const used = [...new Set(dashboardExpressions(dashboard).flatMap(metricsOf))];
    assert.deepEqual(
      used.filter((name) => !isExported(name)),
      [],
    );
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'async_engine_build_info', 'async_engine_storage_errors_total']) {
      assert.ok(used.includes(name), `the dashboard shows ${name}`);
    }
  });

  it('alerts on dead letters, queue depth growth, no progress and storage errors, each with a severity and a summary', () => {
    const metricsOfAlert = (alert: string): string[] => metricsOf(rules.find((r) => r.alert === alert)?.expr ?? '');
    assert.deepEqual(metricsOfAlert('AsyncEngineDeadLettersGrowing'), ['async_engine_dead_letters_total']);
    assert.deepEqual(metricsOfAlert('AsyncEngineQueueDepthGrowing'), ['async_engine_queue_depth', 'async_engine_queue_depth']);
    assert.deepEqual(metricsOfAlert('AsyncEngineNoProgress'), ['async_engine_queue_depth', 'async_engine_steps_total']);
    assert.deepEqual(metricsOfAlert('AsyncEngineStorageErrors'), ['async_engine_storage_errors_total']);
    for (const rule of rules) {
      assert.match(rule.labels?.['severity'] ?? '', /^(warning|critical)$/, rule.alert);
      assert.match(rule.annotations?.['summary'] ?? '', /\S/, rule.alert);
    }
  });

  it('gives the dashboard a stable uid and a data source variable, so that it imports anywhere', () => {
    assert.equal(dashboard.uid, 'async-engine');
    assert.ok(dashboard.templating.list.some((v) => v.type === 'datasource' && v.name === 'datasource'));
    assert.ok(dashboard.panels.length > 0);
  });
});
