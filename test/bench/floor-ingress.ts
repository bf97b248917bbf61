/**
 * The floor's ingress: the least an HTTP front door to the floor can do, as a raw-SDK user would
 * write it on a bare `node:http` server (Performance issue). A POST's body becomes a request: its
 * status row is inserted as queued, its message is sent to the first step's queue, and it answers
 * 202 with the id. Anything else answers 404; a failed storage call answers 500.
 *
 * Run by floor-system.ts as its own process (node floor-ingress.js '<FloorConfig JSON>'), so that
 * its CPU per accepted submission is measured apart from the floor's steps (floor.ts).
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { createStorageClients } from '../../src/storage/clients.js';
import { encodeFloorMessage, FLOOR_UNUSED_NAMES, STATUS_ROW_KEY, type FloorConfig, type FloorStatusEntity } from './floor-records.js';
import { tellParent, type FloorCommand, type FloorIngressEvent } from './ipc.js';

const config = JSON.parse(process.argv[2] ?? '') as FloorConfig;
const counter = new StorageCallCounter();
const clients = createStorageClients(config.connection, { statusTable: config.statusTable, ...FLOOR_UNUSED_NAMES }, counter);
const firstQueue = clients.queues.getQueueClient(config.queueNames[0]!);
const statusTable = clients.statusTable;

async function accept(request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== 'POST') {
    response.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const id = randomUUID();
  const row: FloorStatusEntity = { partitionKey: id, rowKey: STATUS_ROW_KEY, Status: 'queued', Step: 0, CreatedAt: new Date() };
  await statusTable.createEntity(row);
  await firstQueue.sendMessage(encodeFloorMessage({ id, body: Buffer.concat(chunks).toString('utf8') }));
  response.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id }));
}

// The floor process creates the queues and the table; the ingress starts after it is ready.
const server = createServer((request, response) => {
  accept(request, response).catch((err: unknown) => {
    process.stderr.write(`floor ingress: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!response.headersSent) response.writeHead(500);
    response.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1');
await once(server, 'listening');
tellParent<FloorIngressEvent>({ type: 'listening', port: (server.address() as AddressInfo).port });

process.on('message', (command: FloorCommand) => {
  switch (command.type) {
    case 'report':
      tellParent<FloorIngressEvent>({ type: 'report', storageCalls: counter.snapshot(), failures: 0 });
      break;
    case 'stop':
      server.closeAllConnections();
      server.close(() => {
        tellParent<FloorIngressEvent>({ type: 'stopped' });
        process.disconnect();
      });
      break;
  }
});
