/**
 * The ingress's HTTP server around the Koa app, with the limits that keep slow or lying clients
 * from holding sockets: headers within server.config.headersTimeoutMs, and a request still not
 * received REQUEST_TIMEOUT_GRACE_IN_MS after requestTimeoutMs closed by Node (the body reader
 * answers 408 itself at requestTimeoutMs, see body.ts). `Expect: 100-continue` is answered only
 * when the declared body may be accepted; a larger one gets its 413 before the upload starts. At
 * most server.config.maxConnections connections are open at once: Node closes any beyond, so that
 * clients cannot take the file descriptors the engine needs for storage and its endpoints.
 *
 * What never reaches the app is answered as problem+json too: a request Node's parser refuses
 * (400, or 431 for headers over 16 KiB), an `Expect` other than 100-continue (417), and CONNECT
 * (501, the ingress is no proxy).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { problemType } from './problem.js';

export interface IngressServerOptions {
  maxConnections: number;
  headersTimeoutInMs: number;
  requestTimeoutInMs: number;
  maxBodyBytes: number;
}

/** Node's own cut-off comes after the body reader's 408, so a stalled upload gets a problem+json answer. */
const REQUEST_TIMEOUT_GRACE_IN_MS = 2000;
/** How often Node looks for requests past their time-outs (its default, 30 s, would let them run long). */
const CONNECTIONS_CHECKING_INTERVAL_IN_MS = 1000;

export function createIngressServer(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
  { maxConnections, headersTimeoutInMs, requestTimeoutInMs, maxBodyBytes }: IngressServerOptions,
): Server {
  const server = createServer(
    {
      headersTimeout: headersTimeoutInMs,
      requestTimeout: requestTimeoutInMs + REQUEST_TIMEOUT_GRACE_IN_MS,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_IN_MS,
      // Node would answer a bare 400 itself; the app answers it as problem+json (app.ts).
      requireHostHeader: false,
    },
    handle,
  );
  server.maxConnections = maxConnections;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    // Without 100 Continue the client sends nothing more: the route answers 413 from the header alone.
    if (!(Number(req.headers['content-length']) > maxBodyBytes)) res.writeContinue();
    handle(req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const body = problemJson(417, 'expectation-failed', `the ingress meets no Expect but 100-continue, not ${JSON.stringify(String(req.headers['expect']).slice(0, 40))}`);
    res.writeHead(417, { 'content-type': 'application/problem+json', 'x-content-type-options': 'nosniff', connection: 'close' }).end(body);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // As Node's own handler: answer only a connection that has had no answer yet, then close it.
    if (socket.writable && (socket as Duplex & { bytesWritten?: number }).bytesWritten === 0 && err.code !== 'ECONNRESET') {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.write(rawProblem(status, status === 400 ? 'malformed-request' : status === 431 ? 'headers-too-large' : 'request-timeout', 'the request could not be read as HTTP/1.1'));
    }
    socket.destroy();
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.end(rawProblem(501, 'not-a-proxy', 'the ingress is no proxy: it does not implement CONNECT'));
  });
  return server;
}

function problemJson(status: number, slug: string, detail: string): string {
  return JSON.stringify({ type: problemType(slug), title: STATUS_CODES[status] ?? 'Error', status, detail });
}

/** A whole problem+json answer as bytes, for a socket no response object owns. */
function rawProblem(status: number, slug: string, detail: string): string {
  const body = problemJson(status, slug, detail);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'X-Content-Type-Options: nosniff',
    'Connection: close',
  ];
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}
