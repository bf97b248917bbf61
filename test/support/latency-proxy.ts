/**
 * A TCP proxy on 127.0.0.1 that holds every chunk of the upstream's answers for a fixed time: a
 * storage service far away, in front of a real Azurite. Chunks keep their order (timers of equal
 * duration fire in the order they were set).
 */
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

export class LatencyProxy {
  readonly #sockets = new Set<Socket>();
  readonly #server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: this.upstreamPort });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => setTimeout(() => client.write(chunk), this.latencyInMs));
    upstream.on('end', () => setTimeout(() => client.end(), this.latencyInMs));
  });

  private constructor(
    readonly upstreamPort: number,
    readonly latencyInMs: number,
  ) {}

  /** Proxies to 127.0.0.1:`upstreamPort`, delaying each answer by `latencyInMs`. */
  static async start(upstreamPort: number, latencyInMs: number): Promise<LatencyProxy> {
    const proxy = new LatencyProxy(upstreamPort, latencyInMs);
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
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}
