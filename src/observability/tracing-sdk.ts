/**
 * The OpenTelemetry SDK, loaded only when tracing is on (tracing.ts imports this module then): a
 * Node tracer provider with a batch span processor and the OTLP/HTTP exporter of the protocol
 * chosen, registered as the API's global provider (with its AsyncLocalStorage context manager), and
 * the Azure SDK's tracing hook (azure-spans.ts) so that storage calls within a span become spans.
 */
import { useInstrumenter } from '@azure/core-tracing';
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, hostDetector, processDetector, resourceFromAttributes, serviceInstanceIdDetector } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { VERSION } from '../version.js';
import { createAzureInstrumenter } from './azure-spans.js';
import type { Logger } from './log.js';

/** The running SDK. */
export interface Tracing {
  /** Exports the spans ended so far; resolves by `deadline` whatever becomes of them. */
  flush(deadline: AbortSignal): Promise<void>;
  /** Exports what is left and stops the SDK; resolves by `deadline`. Idempotent. */
  close(deadline: AbortSignal): Promise<void>;
}

export interface SdkOptions {
  protocol: 'http/protobuf' | 'http/json';
  log: Logger;
}

/** The default of OTEL_SERVICE_NAME. */
const SERVICE_NAME = 'async-engine';
/** Longest text of an SDK diagnostic kept in a log line. */
const MAX_DIAGNOSTIC_CHARS = 500;

export function startSdk({ protocol, log }: SdkOptions): Tracing & { serviceName: string } {
  // The SDK reports its own trouble (an export that failed, a queue that overflowed) here.
  const report = (...args: unknown[]): void => log.warn({ detail: args.map(String).join(' ').slice(0, MAX_DIAGNOSTIC_CHARS) }, 'tracing.sdk_warning');
  const ignore = (): void => undefined;
  diag.setLogger({ error: report, warn: report, info: ignore, debug: ignore, verbose: ignore }, DiagLogLevel.WARN);

  // Later wins: the SDK's defaults, then the engine's name and version, then the host, the process,
  // an instance id, and what OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say.
  const fromEnv = detectResources({ detectors: [envDetector] });
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': SERVICE_NAME, 'service.version': VERSION }))
    .merge(detectResources({ detectors: [hostDetector, processDetector, serviceInstanceIdDetector] }))
    .merge(fromEnv);
  // Each exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT and _COMPRESSION itself.
  const exporter = protocol === 'http/json' ? new OtlpJsonExporter() : new OtlpProtobufExporter();
  // The sampler (OTEL_TRACES_SAMPLER) and the batch processor's OTEL_BSP_* come from the environment too.
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  provider.register();
  useInstrumenter(createAzureInstrumenter());

  const untilDone = async (work: Promise<void>, deadline: AbortSignal, event: string): Promise<void> => {
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<'deadline'>((resolve) => {
      onAbort = () => resolve('deadline');
      if (deadline.aborted) resolve('deadline');
      else deadline.addEventListener('abort', onAbort, { once: true });
    });
    try {
      if ((await Promise.race([work.then(() => 'done' as const), aborted])) === 'deadline') log.warn({}, `${event}_timed_out`);
    } catch (err) {
      log.warn({ err }, `${event}_failed`);
    } finally {
      if (onAbort) deadline.removeEventListener('abort', onAbort);
    }
  };
  let closing: Promise<void> | undefined;
  return {
    // The environment's detector answers at once; the host's reads the machine id in the background.
    serviceName: String(fromEnv.attributes['service.name'] ?? SERVICE_NAME),
    flush: (deadline) => untilDone(provider.forceFlush(), deadline, 'tracing.flush'),
    close(deadline) {
      closing ??= untilDone(provider.shutdown(), deadline, 'tracing.close');
      return closing;
    },
  };
}
