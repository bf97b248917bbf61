import { once } from 'node:events';
import { createServer } from 'node:net';

/** Holds a free port on 127.0.0.1 until `release()`, for tests of what happens when a port is taken. */
export async function occupyPort(): Promise<{ port: number; release: () => void }> {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  return { port: (blocker.address() as { port: number }).port, release: () => blocker.close() };
}
