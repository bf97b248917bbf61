/** The bench's handle on the echo endpoint process (echo-server.ts). */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { LAST_STEP, stepPath } from './flow-shape.js';
import { nextMessage, type EchoCommand, type EchoEvent } from './ipc.js';

export class EchoEndpoint {
  readonly #child: ChildProcess;
  readonly #port: number;

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.#port = port;
  }

  static async start(): Promise<EchoEndpoint> {
    const child = fork(new URL('./echo-server.js', import.meta.url), [String(LAST_STEP)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const { port } = await nextMessage<EchoEvent, 'listening'>(child, 'listening');
    return new EchoEndpoint(child, port);
  }

  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The URL of step k's endpoint. */
  url(step: number): string {
    return `${this.origin}${stepPath(step)}`;
  }

  /** Forgets every request seen so far. */
  reset(): void {
    this.#send({ type: 'reset' });
  }

  /** Resolves once the last step has been called for `count` distinct requests. */
  async whenLastStepCalled(count: number, timeoutInMs: number): Promise<void> {
    const reached = nextMessage<EchoEvent, 'reached'>(this.#child, 'reached');
    reached.catch(() => undefined); // after a time-out nobody waits for it any more
    this.#send({ type: 'expect', count });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the last step was not called for ${count} requests within ${timeoutInMs} ms`)), timeoutInMs);
    });
    try {
      await Promise.race([reached, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** When each request's step 0 reached the endpoint (ms since the epoch), by request id. */
  async pickups(): Promise<Map<string, number>> {
    const report = nextMessage<EchoEvent, 'report'>(this.#child, 'report');
    this.#send({ type: 'report' });
    return new Map((await report).pickups);
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.disconnect();
    await exited;
  }

  #send(command: EchoCommand): void {
    this.#child.send(command);
  }
}
