/**
 * The echo endpoint, in its own process so that neither the bench's submitting nor the system under
 * test competes with it for an event loop: answers every POST with the body it got. It records
 * when each request's step 0 arrived (its pickup time) and tells the parent once the last step
 * has been called for as many requests as it was told to expect.
 *
 * Run by echo.ts: node echo-server.js <last step index>
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tellParent, type EchoCommand, type EchoEvent } from './ipc.js';

const lastStep = String(process.argv[2] ?? '2');

let pickups = new Map<string, number>();
let finished = new Set<string>();
let expected: number | null = null;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function checkExpectation(): void {
  if (expected !== null && finished.size >= expected) {
    expected = null;
    tellParent<EchoEvent>({ type: 'reached' });
  }
}

const server = createServer((req, res) => {
  const arrivedAt = Date.now();
  const requestId = header(req, 'x-request-id');
  const step = header(req, 'x-flow-step');
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (requestId !== undefined && step === '0' && !pickups.has(requestId)) pickups.set(requestId, arrivedAt);
    if (requestId !== undefined && step === lastStep) {
      finished.add(requestId);
      checkExpectation();
    }
    res.writeHead(200, { 'content-type': header(req, 'content-type') ?? 'application/json' });
    res.end(Buffer.concat(chunks));
  });
});
// Keep-alive longer than any client's idle time, so the server never closes a connection first.
server.keepAliveTimeout = 60_000;

process.on('message', (message: EchoCommand) => {
  switch (message.type) {
    case 'reset':
      pickups = new Map();
      finished = new Set();
      expected = null;
      break;
    case 'expect':
      expected = message.count;
      checkExpectation();
      break;
    case 'report':
      tellParent<EchoEvent>({ type: 'report', pickups: [...pickups] });
      break;
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1');
await once(server, 'listening');
tellParent<EchoEvent>({ type: 'listening', port: (server.address() as AddressInfo).port });
