/**
 * The one undici Agent of the process, built from http.connection.config:
 *
 * | key                    | where it is enforced                                                |
 * | ---------------------- | ------------------------------------------------------------------- |
 * | routeConnections       | undici `connections` per origin, and our per-origin permits         |
 * | totalConnections       | our permits across all origins (undici has no such limit)           |
 * | connectionTimeToLive   | undici `clientTtl`: a connection older than this is not reused      |
 * | requestTimeout         | our wait for a permit, i.e. for a free connection                   |
 * | connectionTimeout      | undici `connect.timeout`                                            |
 * | socketTimeout          | undici `headersTimeout` and `bodyTimeout` (inactivity between data) |
 * | callTimeout            | endpoint-call.ts: the whole call, permit held to the last byte      |
 *
 * payload.config.maxResponseBytes bounds every answer body the engine reads (endpoint-call.ts).
 *
 * Time-outs: 0 = infinite, negative = the default (undici: 10 s to connect, 300 s for headers and
 * between body chunks; no limit on waiting for a connection).
 */
import { Agent } from 'undici';
import type { HttpConnectionOptions } from '../config/types.js';
import { ConnectionLimiter } from './connection-limiter.js';

export interface OutboundHttp {
  agent: Agent;
  limiter: ConnectionLimiter;
  /** undici's headersTimeout/bodyTimeout for each request; undefined = undici's default. */
  socketTimeoutInMs: number | undefined;
  /** The whole call's limit unless a step sets its own; 0 = none. */
  callTimeoutInMs: number;
  /** The largest answer body read; a larger one is given up. */
  maxResponseBytes: number;
}

/** 0 stays 0 (infinite in undici and here), negative becomes undefined (the default). */
const timeout = (ms: number): number | undefined => (ms < 0 ? undefined : ms);

export function createOutboundHttp(options: HttpConnectionOptions, maxResponseBytes: number): OutboundHttp {
  const connectTimeout = timeout(options.connectionTimeoutInMs);
  const socketTimeout = timeout(options.socketTimeoutInMs);
  const agent = new Agent({
    connections: options.routeConnections,
    clientTtl: options.connectionTimeToLiveInMs,
    ...(connectTimeout !== undefined ? { connect: { timeout: connectTimeout } } : {}),
    ...(socketTimeout !== undefined ? { headersTimeout: socketTimeout, bodyTimeout: socketTimeout } : {}),
  });
  const limiter = new ConnectionLimiter({
    perOrigin: options.routeConnections,
    total: options.totalConnections,
    waitTimeoutInMs: options.requestTimeoutInMs > 0 ? options.requestTimeoutInMs : null,
  });
  return { agent, limiter, socketTimeoutInMs: socketTimeout, callTimeoutInMs: options.callTimeoutInMs, maxResponseBytes };
}
