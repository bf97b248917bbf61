/**
 * Tracing as an operator turns it on: the real command line with OTEL_* variables. The trace of a
 * request over OTLP http/protobuf (the default protocol), exported by the shutdown's flush alone;
 * nothing loaded and nothing sent while no OTEL_* variable is set; values the engine cannot honour
 * refused at start.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startAzurite, type TestAzurite } from '../support/azurite.js';
import { cleanEnv, runCli, spawnCli } from '../support/cli.js';
import { writeConfigFile } from '../support/config-docs.js';
import { EndpointServer, echo } from '../support/endpoints.js';
import { flowDocument, submit, waitForStatus } from '../support/engine.js';
import { OtlpCollector } from '../support/otlp-collector.js';
import { checkRequestTree, submitSpanOf } from '../support/traces.js';

const MODULE_SPY = fileURLToPath(new URL('../support/module-spy.js', import.meta.url));
/** The tracing SDK's own module and every OpenTelemetry package but the API. */
const SDK_MODULES = String.raw`/observability/tracing-sdk\.js$|/node_modules/@opentelemetry/(?!api/)`;

describe('async-engine start with tracing', () => {
  let azurite: TestAzurite;
  let collector: OtlpCollector;
  const endpoints: EndpointServer[] = [];
  const files: string[] = [];

  before(async () => {
    azurite = await startAzurite();
    collector = await OtlpCollector.start();
  });
  after(async () => {
    for (const endpoint of endpoints) await endpoint.close();
    await collector.close();
    await azurite.close();
    for (const file of files) await rm(path.dirname(file), { recursive: true, force: true });
  });

  /** A 3-step flow whose middle endpoint answers 503 once per request; the config file's path. */
  async function flowFile(): Promise<{ file: string; steps: EndpointServer[] }> {
    const failedOnce = new Set<string>();
    const flaky = await EndpointServer.start((call, i) => {
      const id = String(call.headers['x-request-id']);
      if (failedOnce.has(id)) return echo(call, i);
      failedOnce.add(id);
      return { status: 503 };
    });
    const steps = [await EndpointServer.start(), flaky, await EndpointServer.start()];
    endpoints.push(...steps);
    const document = flowDocument(azurite, {
      flowName: 'traced',
      steps: steps.map((endpoint) => ({ url: endpoint.url() })),
      extra: { 'redelivery.config': { default: { count: 2, delay: 0 } } },
    });
    const file = await writeConfigFile(document);
    files.push(file);
    return { file, steps };
  }

  /** Where the module spy writes, in the config file's own temporary folder. */
  const spyFile = (configFile: string): string => path.join(path.dirname(configFile), 'modules.txt');
  const loaded = async (file: string): Promise<string[]> => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

  it('exports the trace of a request over OTLP http/protobuf by default, flushed at shutdown although the batch was not due', async () => {
    const { file, steps } = await flowFile();
    const env = cleanEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      // Nothing is sent on the batch processor's schedule: what arrives, the shutdown flushed.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      MODULE_SPY_FILE: spyFile(file),
      MODULE_SPY_PATTERN: SDK_MODULES,
    });
    const cli = spawnCli(['start', '--config', file], { env, execArgv: ['--import', MODULE_SPY] });
    try {
      const engine = { url: await cli.startedUrl() };
      const id = await submit(engine, 'traced', '{"n":1}');
      await waitForStatus(engine, id, 'completed');
      assert.equal(collector.spans.length, 0, 'nothing sent before the shutdown');
      cli.child.kill('SIGTERM');
      const { code } = await cli.exited;
      assert.equal(code, 0, cli.stderr);

      const submitSpan = await submitSpanOf(collector, id);
      await checkRequestTree(collector, submitSpan, { flow: 'traced', requestId: id, endpoints: steps, failedAttempts: [[false], [true, false], [false]] });
      assert.deepEqual(new Set(collector.requests.map((r) => `${r.path} ${r.contentType}`)), new Set(['/v1/traces application/x-protobuf']));
      assert.equal(submitSpan.resource['service.name'], 'async-engine', 'OTEL_SERVICE_NAME defaults to async-engine');
      assert.equal(typeof submitSpan.resource['service.version'], 'string');

      const started = cli.logLines().find((l) => l['msg'] === 'tracing.started');
      assert.deepEqual(
        { protocol: started?.['protocol'], endpoint: started?.['endpoint'] },
        { protocol: 'http/protobuf', endpoint: `${collector.url}/v1/traces` },
      );
      const accepted = cli.logLines().find((l) => l['msg'] === 'request.accepted');
      assert.equal(accepted?.['trace_id'], submitSpan.traceId);
      assert.equal(accepted?.['pid'], cli.child.pid);
      assert.ok((await loaded(spyFile(file))).some((url) => url.endsWith('/observability/tracing-sdk.js')), 'the spy sees the SDK load');
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });

  const offCases: Array<[label: string, env: NodeJS.ProcessEnv]> = [
    ['no OTEL_* variable is set', {}],
    ['OTEL_SDK_DISABLED is true', { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: '' }],
    ['OTEL_TRACES_EXPORTER is none', { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: '' }],
  ];
  for (const [label, variables] of offCases) {
    it(`starts no SDK and no exporter, and sends nothing, when ${label}`, async () => {
      const { file } = await flowFile();
      const before = collector.requests.length;
      // The collector's address where the case sets an endpoint: it must still receive nothing.
      const otel = Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, key === 'OTEL_EXPORTER_OTLP_ENDPOINT' ? collector.url : value]));
      const env = cleanEnv({ ...otel, MODULE_SPY_FILE: spyFile(file), MODULE_SPY_PATTERN: SDK_MODULES });
      const cli = spawnCli(['start', '--config', file], { env, execArgv: ['--import', MODULE_SPY] });
      try {
        const engine = { url: await cli.startedUrl() };
        const id = await submit(engine, 'traced', '{}', { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
        await waitForStatus(engine, id, 'completed');
        cli.child.kill('SIGTERM');
        assert.equal((await cli.exited).code, 0, cli.stderr);
      } finally {
        if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      }
      assert.deepEqual(await loaded(spyFile(file)), [], 'no SDK module was loaded');
      assert.equal(collector.requests.length, before, 'the collector received nothing');
      const lines = cli.logLines();
      assert.deepEqual(
        lines.filter((l) => String(l['msg']).startsWith('tracing.')),
        [],
      );
      assert.ok(lines.every((l) => !('trace_id' in l)), 'no log line carries a trace id');
    });
  }

  it('leaves the endpoints the client\'s traceparent verbatim while tracing is off', async () => {
    const { file, steps } = await flowFile();
    const cli = spawnCli(['start', '--config', file]);
    try {
      const engine = { url: await cli.startedUrl() };
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const id = await submit(engine, 'traced', '{}', { traceparent, tracestate: 'vendor=x' });
      await waitForStatus(engine, id, 'completed');
      const calls = steps.flatMap((endpoint) => endpoint.calls.filter((c) => c.headers['x-request-id'] === id));
      assert.equal(calls.length, 4);
      assert.deepEqual(new Set(calls.map((c) => c.headers['traceparent'])), new Set([traceparent]));
      assert.deepEqual(new Set(calls.map((c) => c.headers['tracestate'])), new Set([undefined]));
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exited;
    }
  });

  const refused: Array<[variable: string, value: string, message: RegExp]> = [
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', /OTEL_EXPORTER_OTLP_PROTOCOL "grpc" is not supported; use http\/protobuf or http\/json/],
    ['OTEL_TRACES_EXPORTER', 'jaeger', /OTEL_TRACES_EXPORTER "jaeger" is not supported; use otlp or none/],
    ['OTEL_TRACES_SAMPLER', 'sometimes', /OTEL_TRACES_SAMPLER "sometimes" is not supported/],
  ];
  for (const [variable, value, message] of refused) {
    it(`refuses to start with ${variable}=${value}, exit 2, and config check says so too`, async () => {
      const { file } = await flowFile();
      for (const command of [['start'], ['config', 'check']]) {
        const result = await runCli([...command, '--config', file], { env: cleanEnv({ [variable]: value }) });
        assert.equal(result.code, 2, `${command.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, message);
      }
    });
  }

  it('says in config check where spans go', async () => {
    const { file } = await flowFile();
    const on = await runCli(['config', 'check', '--config', file], { env: cleanEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:secret@collector.example:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }) });
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stderr, /^tracing: spans over OTLP \(http\/json\) to https:\/\/\*\*\*@collector\.example:4318\/v1\/traces$/m);
    assert.doesNotMatch(on.stderr, /secret/);
    const off = await runCli(['config', 'check', '--config', file]);
    assert.match(off.stderr, /^tracing: off /m);
  });
});
