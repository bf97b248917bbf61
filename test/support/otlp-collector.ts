/**
 * An OpenTelemetry collector for tests: OTLP over HTTP on 127.0.0.1:0, `POST /v1/traces` with
 * `application/json` or `application/x-protobuf` (decoded here with a small reader of the protobuf
 * wire format: only the fields of ExportTraceServiceRequest that tests look at). Every span received
 * is kept in one form, whatever the protocol, with the content type it came in.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type AttributeValue = string | number | boolean | Array<string | number | boolean>;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  /** OTLP's numbering: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  links: Array<{ traceId: string; spanId: string }>;
  scope: string;
  resource: Record<string, AttributeValue>;
  startTimeUnixNano: bigint;
  /** The content type of the export request that brought it. */
  contentType: string;
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
export const STATUS_CODE = { unset: 0, ok: 1, error: 2 } as const;

export class OtlpCollector {
  readonly spans: ReceivedSpan[] = [];
  /** Every export request: path and content type. */
  readonly requests: Array<{ path: string; contentType: string }> = [];
  readonly #server: Server;

  private constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const contentType = String(req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
        this.requests.push({ path: req.url ?? '', contentType });
        let body = Buffer.concat(chunks);
        try {
          if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`unexpected ${req.method} ${req.url}`);
          if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
          if (contentType === 'application/json') this.spans.push(...fromJson(JSON.parse(body.toString('utf8')), contentType));
          else if (contentType === 'application/x-protobuf') this.spans.push(...fromProtobuf(body, contentType));
          else throw new Error(`unexpected content type ${contentType}`);
        } catch (err) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
          return;
        }
        // An empty ExportTraceServiceResponse: all accepted.
        if (contentType === 'application/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
  }

  static async start(): Promise<OtlpCollector> {
    const collector = new OtlpCollector();
    collector.#server.listen(0, '127.0.0.1');
    await once(collector.#server, 'listening');
    return collector;
  }

  /** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it (the exporter adds /v1/traces). */
  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** The spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON: ids in hex, enums as numbers, 64-bit integers as numbers or strings.

type Json = Record<string, unknown>;

function jsonValue(value: Json | undefined): AttributeValue {
  if (value === undefined) return '';
  if ('stringValue' in value) return String(value['stringValue']);
  if ('boolValue' in value) return Boolean(value['boolValue']);
  if ('intValue' in value) return Number(value['intValue']);
  if ('doubleValue' in value) return Number(value['doubleValue']);
  if ('arrayValue' in value) {
    const values = ((value['arrayValue'] as Json)['values'] as Json[] | undefined) ?? [];
    return values.map((item) => jsonValue(item) as string | number | boolean);
  }
  return JSON.stringify(value);
}

function jsonAttributes(list: unknown): Record<string, AttributeValue> {
  return Object.fromEntries(((list as Json[] | undefined) ?? []).map((kv) => [String(kv['key']), jsonValue(kv['value'] as Json | undefined)]));
}

function fromJson(request: Json, contentType: string): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of (request['resourceSpans'] as Json[] | undefined) ?? []) {
    const resource = jsonAttributes((resourceSpans['resource'] as Json | undefined)?.['attributes']);
    for (const scopeSpans of (resourceSpans['scopeSpans'] as Json[] | undefined) ?? []) {
      const scope = String((scopeSpans['scope'] as Json | undefined)?.['name'] ?? '');
      for (const span of (scopeSpans['spans'] as Json[] | undefined) ?? []) {
        const status = (span['status'] as Json | undefined) ?? {};
        spans.push({
          traceId: String(span['traceId'] ?? ''),
          spanId: String(span['spanId'] ?? ''),
          parentSpanId: String(span['parentSpanId'] ?? ''),
          traceState: String(span['traceState'] ?? ''),
          name: String(span['name'] ?? ''),
          kind: Number(span['kind'] ?? 0),
          attributes: jsonAttributes(span['attributes']),
          status: { code: Number(status['code'] ?? 0), message: String(status['message'] ?? '') },
          links: ((span['links'] as Json[] | undefined) ?? []).map((link) => ({ traceId: String(link['traceId']), spanId: String(link['spanId']) })),
          scope,
          resource,
          startTimeUnixNano: BigInt(String(span['startTimeUnixNano'] ?? '0')),
          contentType,
        });
      }
    }
  }
  return spans;
}

// ---------------------------------------------------------------------------------------------
// OTLP/protobuf: the wire format (varints, length-delimited fields, fixed 32 and 64 bits).

interface Field {
  number: number;
  /** The varint or fixed value; for length-delimited fields, their bytes. */
  value: bigint | Buffer;
}

function readVarint(buffer: Buffer, offset: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = offset; i < buffer.length; i++) {
    const byte = buffer[i] ?? 0;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, i + 1];
    shift += 7n;
  }
  throw new Error('truncated varint');
}

function fieldsOf(buffer: Buffer): Field[] {
  const fields: Field[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const [key, afterKey] = readVarint(buffer, offset);
    const number = Number(key >> 3n);
    const wireType = Number(key & 7n);
    offset = afterKey;
    switch (wireType) {
      case 0: {
        const [value, next] = readVarint(buffer, offset);
        fields.push({ number, value });
        offset = next;
        break;
      }
      case 1:
        fields.push({ number, value: buffer.readBigUInt64LE(offset) });
        offset += 8;
        break;
      case 2: {
        const [length, next] = readVarint(buffer, offset);
        fields.push({ number, value: buffer.subarray(next, next + Number(length)) });
        offset = next + Number(length);
        break;
      }
      case 5:
        fields.push({ number, value: BigInt(buffer.readUInt32LE(offset)) });
        offset += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
  }
  return fields;
}

const bytesOf = (fields: Field[], number: number): Buffer[] => fields.filter((f) => f.number === number && Buffer.isBuffer(f.value)).map((f) => f.value as Buffer);
const firstBytes = (fields: Field[], number: number): Buffer => bytesOf(fields, number)[0] ?? Buffer.alloc(0);
const firstNumber = (fields: Field[], number: number): bigint => {
  const value = fields.find((f) => f.number === number)?.value;
  return typeof value === 'bigint' ? value : 0n;
};

/** AnyValue: string 1, bool 2, int 3, double 4, array 5. */
function protobufValue(buffer: Buffer): AttributeValue {
  const [field] = fieldsOf(buffer);
  if (field === undefined) return '';
  switch (field.number) {
    case 1:
      return (field.value as Buffer).toString('utf8');
    case 2:
      return field.value === 1n;
    case 3:
      return Number(BigInt.asIntN(64, field.value as bigint));
    case 4: {
      const bytes = Buffer.alloc(8);
      bytes.writeBigUInt64LE(field.value as bigint);
      return bytes.readDoubleLE(0);
    }
    case 5:
      return bytesOf(fieldsOf(field.value as Buffer), 1).map((item) => protobufValue(item) as string | number | boolean);
    default:
      return `(field ${field.number})`;
  }
}

/** KeyValue: key 1, value 2. */
function protobufAttributes(list: Buffer[]): Record<string, AttributeValue> {
  return Object.fromEntries(
    list.map((kv) => {
      const fields = fieldsOf(kv);
      return [firstBytes(fields, 1).toString('utf8'), protobufValue(firstBytes(fields, 2))];
    }),
  );
}

/**
 * ExportTraceServiceRequest: resource_spans 1. ResourceSpans: resource 1 (attributes 1),
 * scope_spans 2. ScopeSpans: scope 1 (name 1), spans 2. Span: trace_id 1, span_id 2, trace_state 3,
 * parent_span_id 4, name 5, kind 6, start_time_unix_nano 7, attributes 9, links 13 (trace_id 1,
 * span_id 2), status 15 (message 2, code 3).
 */
function fromProtobuf(body: Buffer, contentType: string): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of bytesOf(fieldsOf(body), 1)) {
    const rs = fieldsOf(resourceSpans);
    const resource = protobufAttributes(bytesOf(fieldsOf(firstBytes(rs, 1)), 1));
    for (const scopeSpans of bytesOf(rs, 2)) {
      const ss = fieldsOf(scopeSpans);
      const scope = firstBytes(fieldsOf(firstBytes(ss, 1)), 1).toString('utf8');
      for (const spanBytes of bytesOf(ss, 2)) {
        const span = fieldsOf(spanBytes);
        const status = fieldsOf(firstBytes(span, 15));
        spans.push({
          traceId: firstBytes(span, 1).toString('hex'),
          spanId: firstBytes(span, 2).toString('hex'),
          parentSpanId: firstBytes(span, 4).toString('hex'),
          traceState: firstBytes(span, 3).toString('utf8'),
          name: firstBytes(span, 5).toString('utf8'),
          kind: Number(firstNumber(span, 6)),
          attributes: protobufAttributes(bytesOf(span, 9)),
          status: { code: Number(firstNumber(status, 3)), message: firstBytes(status, 2).toString('utf8') },
          links: bytesOf(span, 13).map((link) => {
            const fields = fieldsOf(link);
            return { traceId: firstBytes(fields, 1).toString('hex'), spanId: firstBytes(fields, 2).toString('hex') };
          }),
          scope,
          resource,
          startTimeUnixNano: firstNumber(span, 7),
          contentType,
        });
      }
    }
  }
  return spans;
}
