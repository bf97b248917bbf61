/**
 * The ingress's HTTP server around the Koa app, with the limits that keep slow or lying clients
 * from holding sockets: headers within server.config.headersTimeoutMs, and a request still not
 * received REQUEST_TIMEOUT_GRACE_IN_MS after requestTimeoutMs closed by Node (the body reader
 * answers 408 itself at requestTimeoutMs, see body.ts). `Expect: 100-continue` is answered only
 * when the declared body may be accepted; a larger one gets its 413 before the upload starts. At
 * most server.config.maxConnections connections are open at once: Node closes any beyond, so that
 * clients cannot take the file descriptors the engine needs for storage and its endpoints.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

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
    },
    handle,
  );
  server.maxConnections = maxConnections;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    // Without 100 Continue the client sends nothing more: the route answers 413 from the header alone.
    if (!(Number(req.headers['content-length']) > maxBodyBytes)) res.writeContinue();
    handle(req, res);
  });
  return server;
}
