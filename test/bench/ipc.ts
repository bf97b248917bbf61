/**
 * The messages between the bench (parent) and its child processes (echo endpoint, floor, the
 * floor's ingress), sent over Node's IPC channel as JSON.
 */
import type { ChildProcess } from 'node:child_process';

export type EchoCommand = { type: 'reset' } | { type: 'expect'; count: number } | { type: 'report' };

export type EchoEvent =
  | { type: 'listening'; port: number }
  | { type: 'reached' }
  /** Step-0 arrival times (ms since the epoch) by request id: the pickup time of each request. */
  | { type: 'report'; pickups: Array<[string, number]> };

export type FloorCommand = { type: 'report' } | { type: 'stop' };

export type FloorEvent =
  | { type: 'ready' }
  | { type: 'report'; storageCalls: Record<string, number>; failures: number }
  | { type: 'stopped' };

export type FloorIngressEvent =
  | { type: 'listening'; port: number }
  | { type: 'report'; storageCalls: Record<string, number>; failures: number }
  | { type: 'stopped' };

/** Resolves with the child's next message of `type`; rejects if the child exits first. */
export function nextMessage<E extends { type: string }, T extends E['type']>(child: ChildProcess, type: T): Promise<Extract<E, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      if ((message as E).type !== type) return;
      cleanup();
      resolve(message as Extract<E, { type: T }>);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanup();
      reject(new Error(`child process ${child.pid} exited (${signal ?? `code ${code}`}) while waiting for "${type}"`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Sends a message to the parent; a no-op when there is none. */
export function tellParent<E extends { type: string }>(event: E): void {
  process.send?.(event);
}
