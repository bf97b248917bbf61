import { once } from 'node:events';
import { createServer } from 'node:net';

/**
 * Holds a free port on 127.0.0.1 (or `port`, rejecting if it is taken) until `release()`, for tests
 * of what happens when a port is taken.
 */
export async function occupyPort(port = 0): Promise<{ port: number; release: () => void }> {
  const blocker = createServer();
  blocker.listen(port, '127.0.0.1');
  await once(blocker, 'listening');
  return { port: (blocker.address() as { port: number }).port, release: () => blocker.close() };
}
