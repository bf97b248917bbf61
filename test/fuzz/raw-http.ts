/**
 * A raw HTTP/1.1 exchange over a TCP socket, for requests that fetch and node:http refuse to send:
 * lowercase or unknown methods, raw bytes in the target and in header values, Content-Length lies,
 * pipelined requests. Writes the bytes as given and parses every answer the server sends until it
 * closes the connection (the requests ask it to with `Connection: close`).
 */
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  /** Lowercased names; a header given twice keeps both values. */
  headers: Map<string, string[]>;
  body: Buffer;
}

export interface RawExchange {
  /** The final answers in order; interim 1xx answers are left out. */
  responses: RawResponse[];
  /** Bytes after the last complete answer (a truncated one). */
  rest: Buffer;
}

export interface ExchangeOptions {
  /** The method of each request written, in order: a HEAD answer has no body whatever it declares. */
  methods: readonly string[];
  timeoutInMs: number;
}

/** Writes `bytes` to `origin` (http://host:port) and collects the answers until the server closes. */
export function exchange(origin: string, bytes: Buffer, { methods, timeoutInMs }: ExchangeOptions): Promise<RawExchange> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of the answer within ${timeoutInMs} ms; received so far: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`));
    }, timeoutInMs);
    const finish = (): void => {
      clearTimeout(timer);
      try {
        resolve(parseResponses(Buffer.concat(chunks), methods));
      } catch (err) {
        reject(err);
      }
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', finish);
    // A reset after the answer (the server closed with request bytes unread) still leaves the answer.
    socket.on('error', finish);
    socket.write(bytes);
  });
}

/** Splits a byte stream into HTTP/1.1 answers. */
export function parseResponses(data: Buffer, methods: readonly string[]): RawExchange {
  const responses: RawResponse[] = [];
  let offset = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', offset, 'latin1');
    if (headEnd < 0) break;
    const lines = data.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!statusLine) throw new Error(`not an HTTP status line: ${JSON.stringify(lines[0])}`);
    const status = Number(statusLine[1]);
    const headers = new Map<string, string[]>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`not a header line: ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
    }
    let bodyStart = headEnd + 4;
    if (status < 200) {
      offset = bodyStart; // 100 Continue and the like: the final answer follows
      continue;
    }
    const method = methods[responses.length] ?? 'GET';
    let body: Buffer;
    if (method === 'HEAD' || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if (headers.get('transfer-encoding')?.some((v) => /chunked/i.test(v))) {
      const parts: Buffer[] = [];
      let cursor = bodyStart;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', cursor, 'latin1');
        if (lineEnd < 0) return { responses, rest: data.subarray(offset) };
        const size = Number.parseInt(data.subarray(cursor, lineEnd).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error('a malformed chunk size in an answer');
        if (size === 0) {
          const trailerEnd = data.indexOf('\r\n\r\n', lineEnd, 'latin1');
          cursor = trailerEnd < 0 ? data.length : trailerEnd + 4;
          break;
        }
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        cursor = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts);
      bodyStart = cursor;
      offset = cursor;
      responses.push({ status, headers, body });
      continue;
    } else if (headers.has('content-length')) {
      const length = Number(headers.get('content-length')?.[0]);
      if (bodyStart + length > data.length) break;
      body = data.subarray(bodyStart, bodyStart + length);
    } else {
      body = data.subarray(bodyStart); // delimited by the close
    }
    responses.push({ status, headers, body });
    offset = bodyStart + body.length;
  }
  return { responses, rest: data.subarray(offset) };
}

/** The single value of a header, or undefined. */
export function headerOf(response: RawResponse, name: string): string | undefined {
  return response.headers.get(name)?.[0];
}
