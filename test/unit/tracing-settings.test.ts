import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type TracingSettingsResult, tracingSettingsOf } from '../../src/observability/tracing.js';

const off: TracingSettingsResult = { settings: { kind: 'off' }, problems: [] };
const otlp = (protocol: 'http/protobuf' | 'http/json', endpoint = 'http://localhost:4318/v1/traces'): TracingSettingsResult => ({
  settings: { kind: 'otlp', protocol, endpoint },
  problems: [],
});

describe('tracing settings from the environment', () => {
  const cases: Array<[label: string, env: NodeJS.ProcessEnv, expected: TracingSettingsResult]> = [
    ['no OTEL_* variable: off', { PATH: '/bin', LOG_LEVEL: 'info' }, off],
    ['OTEL_* variables set but empty: off', { OTEL_SERVICE_NAME: '', OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, off],
    ['only a service name: on, with the defaults', { OTEL_SERVICE_NAME: 'orders' }, otlp('http/protobuf')],
    ['an endpoint: on, the traces path added', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }, otlp('http/protobuf', 'http://collector:4318/v1/traces')],
    ['a traces endpoint: used as it is', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://in.example/otlp/traces' }, otlp('http/protobuf', 'https://in.example/otlp/traces')],
    ['credentials in the endpoint never reach the log', { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:key@collector' }, otlp('http/protobuf', 'https://***@collector/v1/traces')],
    ['http/json', { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, otlp('http/json')],
    ['the traces protocol wins', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }, otlp('http/json')],
    ['exporter otlp', { OTEL_TRACES_EXPORTER: 'otlp' }, otlp('http/protobuf')],
    ['exporter none: off', { OTEL_TRACES_EXPORTER: 'none', OTEL_SERVICE_NAME: 'x' }, off],
    ['OTEL_SDK_DISABLED=true: off', { OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, off],
    ['a known sampler', { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }, otlp('http/protobuf')],
    [
      'grpc, not shipped: refused',
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      { settings: { kind: 'off' }, problems: ['OTEL_EXPORTER_OTLP_PROTOCOL "grpc" is not supported; use http/protobuf or http/json (OTLP over HTTP)'] },
    ],
    [
      'another exporter: refused',
      { OTEL_TRACES_EXPORTER: 'otlp,zipkin' },
      { settings: { kind: 'off' }, problems: ['OTEL_TRACES_EXPORTER "zipkin" is not supported; use otlp or none'] },
    ],
    [
      'an unknown sampler: refused',
      { OTEL_TRACES_SAMPLER: 'jaeger_remote' },
      {
        settings: { kind: 'off' },
        problems: ['OTEL_TRACES_SAMPLER "jaeger_remote" is not supported; use one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio'],
      },
    ],
  ];
  for (const [label, env, expected] of cases) {
    it(label, () => {
      assert.deepEqual(tracingSettingsOf(env), expected);
    });
  }
});
