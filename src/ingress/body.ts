/**
 * Reads a request body as bytes, of any content type, within a size and a time limit:
 * - a body over `maxBytes` is answered 413 without reading the rest: a declared Content-Length is
 *   checked before reading, and a stream that grows past the limit is cut off;
 * - a body not complete `timeoutInMs` after the read began (a stalled upload) is answered 408;
 * - a client that closes its connection mid-body gets a 400 it will never read, which says so in
 *   the log rather than blaming storage.
 * Whenever the body is not read to its end, the answer closes the connection.
 */
import type { Context } from 'koa';
import { HttpProblem } from './problem.js';

export interface BodyLimits {
  /** server.config.maxBodyBytes */
  maxBytes: number;
  /** server.config.requestTimeoutMs */
  timeoutInMs: number;
}

export function readBody(ctx: Context, { maxBytes, timeoutInMs }: BodyLimits): Promise<Buffer> {
  const refuse = (problem: HttpProblem): HttpProblem => {
    ctx.set('connection', 'close');
    return problem;
  };
  const tooLarge = (): HttpProblem =>
    refuse(new HttpProblem(413, 'body-too-large', 'Content Too Large', `the body is larger than ${maxBytes} bytes (server.config.maxBodyBytes)`));
  const declared = Number(ctx.get('content-length') || Number.NaN);
  if (declared > maxBytes) return Promise.reject(tooLarge());
  const req = ctx.req;
  if (req.complete && req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (outcome: () => void): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      outcome();
    };
    const timer = setTimeout(
      () => finish(() => reject(refuse(new HttpProblem(408, 'request-timeout', 'Request Timeout', `the body did not arrive within ${timeoutInMs} ms (server.config.requestTimeoutMs)`)))),
      timeoutInMs,
    );
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) finish(() => reject(tooLarge()));
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(() => resolve(Buffer.concat(chunks, size)));
    const onError = (err: Error): void => finish(() => reject(clientGone(err)));
    // 'close' before 'end': the client went away mid-body.
    const onClose = (): void => finish(() => reject(clientGone(null)));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** The client closed its connection before its body was complete. */
function clientGone(cause: Error | null): HttpProblem {
  const problem = new HttpProblem(400, 'incomplete-body', 'Bad Request', 'the connection closed before the body was complete');
  if (cause) problem.cause = cause;
  return problem;
}
