/**
 * An HTTP proxy on 127.0.0.1 that holds the answers to chosen requests for a fixed time: a storage
 * service far away, in front of a real Azurite. Which requests are slow is the test's choice, so a
 * test can slow the one call whose duration it reasons about and leave the others fast. Chosen
 * requests can also be blocked: never passed on nor answered, as behind a network partition.
 */
import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';

export interface LatencyProxyOptions {
  upstreamPort: number;
  latencyInMs: number;
  /** Which requests wait `latencyInMs` for their answer; every request when not given. */
  isDelayed?: (method: string, url: URL) => boolean;
  /** Which requests never reach the service and get no answer (until the proxy closes); none when not given. */
  isBlocked?: (method: string, url: URL) => boolean;
  /** Told of every request as it arrives, e.g. to count one queue's receives. */
  onRequest?: (method: string, url: URL) => void;
}

/** A Queue service receive (Get Messages): GET on a queue's messages that is not a peek. */
export function isQueueReceive(method: string, url: URL): boolean {
  return method === 'GET' && url.pathname.endsWith('/messages') && url.searchParams.get('peekonly') !== 'true';
}

/** The queue a Queue service request names (`/{account}/{queue}/messages...` on Azurite), or null. */
export function queueNameOf(url: URL): string | null {
  const segments = url.pathname.split('/').filter(Boolean);
  const at = segments.indexOf('messages');
  return at >= 1 ? (segments[at - 1] ?? null) : null;
}

/** Connection headers belong to each hop, not to the message the proxy passes on. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function endToEndHeaders(message: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(message.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  return headers;
}

export class LatencyProxy {
  readonly #agent = new Agent({ keepAlive: true });
  readonly #server: Server;

  private constructor(readonly options: LatencyProxyOptions) {
    const { upstreamPort, latencyInMs, isDelayed = () => true, isBlocked = () => false, onRequest = () => undefined } = options;
    this.#server = createServer((req, res) => {
      onRequest(req.method ?? 'GET', new URL(req.url ?? '/', 'http://proxy'));
      if (isBlocked(req.method ?? 'GET', new URL(req.url ?? '/', 'http://proxy'))) return;
      const delay = isDelayed(req.method ?? 'GET', new URL(req.url ?? '/', 'http://proxy')) ? latencyInMs : 0;
      const upstream = request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: endToEndHeaders(req), agent: this.#agent }, (answer) => {
        setTimeout(() => {
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEndHeaders(answer));
          answer.pipe(res);
        }, delay);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
  }

  /** Proxies to 127.0.0.1:`upstreamPort`, delaying the answers `isDelayed` picks by `latencyInMs`. */
  static async start(options: LatencyProxyOptions): Promise<LatencyProxy> {
    const proxy = new LatencyProxy(options);
    proxy.#server.listen(0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    const closed = once(this.#server, 'close');
    this.#server.close();
    this.#server.closeAllConnections();
    this.#agent.destroy();
    await closed;
  }
}
