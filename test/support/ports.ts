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

/**
 * `count` different ports that were free on 127.0.0.1 a moment ago, for a process the test starts
 * with fixed ports (all are held at once, so none is handed out twice).
 */
export async function freePorts(count: number): Promise<number[]> {
  const held = await Promise.all(Array.from({ length: count }, () => occupyPort()));
  for (const { release } of held) release();
  return held.map(({ port }) => port);
}

/** Whether `port` on 127.0.0.1 can be listened on: nothing holds it any more. */
export async function isPortFree(port: number): Promise<boolean> {
  try {
    (await occupyPort(port)).release();
    return true;
  } catch {
    return false;
  }
}
