/**
 * Tracing over OTLP, configured by the standard OpenTelemetry environment variables only. With no
 * `OTEL_*` variable set, tracing is off and costs nothing: the SDK is never loaded (tracing-sdk.ts
 * is imported only when tracing is on), no exporter runs, and spans.ts makes no span.
 *
 * The engine reads three variables itself: OTEL_TRACES_EXPORTER (`otlp`, the default, or `none`),
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL (`http/protobuf`, the default,
 * or `http/json`; `grpc` is not shipped), and OTEL_SDK_DISABLED. The SDK reads the rest: the
 * exporter its endpoint, headers, time-out and compression (OTEL_EXPORTER_OTLP_*), the tracer
 * provider its sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) and span limits, the batch
 * processor its queue and delays (OTEL_BSP_*), the resource OTEL_SERVICE_NAME (default
 * `async-engine`) and OTEL_RESOURCE_ATTRIBUTES.
 */
import { redactUrl } from '../common/redact-url.js';
import type { Logger } from './log.js';
import { setTracingOn } from './spans.js';
import type { Tracing } from './tracing-sdk.js';

export type { Tracing };

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export type TracingSettings = { kind: 'off' } | { kind: 'otlp'; protocol: OtlpProtocol; endpoint: string };

export interface TracingSettingsResult {
  settings: TracingSettings;
  /** Values the engine cannot honour; the command line refuses to start with them (exit 2). */
  problems: string[];
}

const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json'];
const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];
/** Where the OTLP/HTTP exporters send without an endpoint variable (the collector's default port). */
const DEFAULT_ENDPOINT = 'http://localhost:4318';

/** A variable's value, trimmed; undefined when unset or empty (the specification treats both alike). */
function variable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** What the environment asks for, and what in it cannot be honoured. */
export function tracingSettingsOf(env: NodeJS.ProcessEnv): TracingSettingsResult {
  const off: TracingSettingsResult = { settings: { kind: 'off' }, problems: [] };
  const isAnySet = Object.keys(env).some((name) => name.startsWith('OTEL_') && variable(env, name) !== undefined);
  if (!isAnySet || variable(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return off;
  const problems: string[] = [];
  const exporters = (variable(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp').split(',').map((name) => name.trim().toLowerCase());
  for (const name of exporters) {
    if (name !== 'otlp' && name !== 'none') problems.push(`OTEL_TRACES_EXPORTER ${quote(name)} is not supported; use otlp or none`);
  }
  const protocolVariable = variable(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') === undefined ? 'OTEL_EXPORTER_OTLP_PROTOCOL' : 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL';
  const protocolName = variable(env, protocolVariable) ?? 'http/protobuf';
  const protocol = PROTOCOLS.find((p) => p === protocolName);
  if (protocol === undefined) problems.push(`${protocolVariable} ${quote(protocolName)} is not supported; use http/protobuf or http/json (OTLP over HTTP)`);
  const sampler = variable(env, 'OTEL_TRACES_SAMPLER');
  if (sampler !== undefined && !SAMPLERS.includes(sampler)) problems.push(`OTEL_TRACES_SAMPLER ${quote(sampler)} is not supported; use one of ${SAMPLERS.join(', ')}`);
  if (problems.length > 0 || protocol === undefined) return { settings: { kind: 'off' }, problems };
  if (!exporters.includes('otlp')) return off;
  return { settings: { kind: 'otlp', protocol, endpoint: endpointOf(env) }, problems };
}

function quote(value: string): string {
  return JSON.stringify(value.slice(0, 40));
}

/** The URL the exporter posts to, as it reads the variables (for the log line; never its headers). */
function endpointOf(env: NodeJS.ProcessEnv): string {
  const traces = variable(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (traces !== undefined) return redactUrl(traces);
  const base = variable(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? DEFAULT_ENDPOINT;
  return redactUrl(`${base.replace(/\/+$/, '')}/v1/traces`);
}


/**
 * Starts the SDK when `settings` ask for it; null (and nothing loaded) when tracing is off. Once it
 * runs, spans.ts makes spans, the Azure SDK's storage calls within them become spans too, and log
 * lines within a span carry its ids.
 */
export async function startTracing(settings: TracingSettings, log: Logger): Promise<Tracing | null> {
  if (settings.kind === 'off') return null;
  const { startSdk } = await import('./tracing-sdk.js');
  const sdk = startSdk({ protocol: settings.protocol, log });
  setTracingOn();
  log.info({ protocol: settings.protocol, endpoint: settings.endpoint, serviceName: sdk.serviceName }, 'tracing.started');
  return sdk;
}
