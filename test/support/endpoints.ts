/**
 * Scriptable HTTP endpoint servers on 127.0.0.1:0 standing in for the services a flow calls. Each
 * records every call (path, headers, body, timing) and the highest concurrency it saw.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RecordedCall {
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  startedAt: number;
  endedAt: number | null;
}

export interface Reply {
  status?: number;
  body?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayInMs?: number;
}

export type Handler = (call: RecordedCall, index: number) => Reply | Promise<Reply>;

/** Answers the request's own body and content type. */
export const echo: Handler = (call) => ({ body: call.body, contentType: call.headers['content-type'] ?? 'application/octet-stream' });

export class EndpointServer {
  readonly calls: RecordedCall[] = [];
  maxConcurrent = 0;
  #current = 0;
  #handler: Handler;
  readonly #server: Server;

  private constructor(handler: Handler) {
    this.#handler = handler;
    this.#server = createServer((req, res) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const call: RecordedCall = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks), startedAt: Date.now(), endedAt: null };
        const index = this.calls.push(call) - 1;
        this.#current++;
        this.maxConcurrent = Math.max(this.maxConcurrent, this.#current);
        try {
          const reply = await this.#handler(call, index);
          if (reply.delayInMs) await sleep(reply.delayInMs);
          res.writeHead(reply.status ?? 200, { 'content-type': reply.contentType ?? 'application/json', ...reply.headers });
          res.end(reply.body ?? '');
        } catch (err) {
          res.writeHead(500).end(String(err));
        } finally {
          this.#current--;
          call.endedAt = Date.now();
        }
      })();
    });
  }

  static async start(handler: Handler = echo): Promise<EndpointServer> {
    const endpoint = new EndpointServer(handler);
    endpoint.#server.listen(0, '127.0.0.1');
    await once(endpoint.#server, 'listening');
    return endpoint;
  }

  get inFlight(): number {
    return this.#current;
  }

  setHandler(handler: Handler): void {
    this.#handler = handler;
  }

  url(path = '/step'): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${path}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A latch for endpoints that hold their answer until a test lets them go. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** A handler that echoes once `opened` resolves. */
export function echoWhen(opened: Promise<void>): Handler {
  return async (call, index) => {
    await opened;
    return echo(call, index);
  };
}

/**
 * Writes `totalBytes` of body to `res` in 64 KiB chunks as fast as the reader takes them (never
 * buffered whole), and ends it unless the connection went first. Returns how much was written so far.
 */
export function streamBody(res: ServerResponse, totalBytes: number): () => number {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let sent = 0;
  const pump = (): void => {
    while (sent < totalBytes && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  pump();
  return () => sent;
}
