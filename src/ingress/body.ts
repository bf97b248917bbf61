/**
 * Reads a request body as bytes, of any content type, up to a limit. A body over the limit is
 * answered 413 without reading the rest: a declared Content-Length is checked before reading, and
 * a stream that grows past the limit is cut off and the connection closed.
 */
import type { Context } from 'koa';
import { HttpProblem } from './problem.js';

export async function readBody(ctx: Context, maxBytes: number): Promise<Buffer> {
  const tooLarge = (): HttpProblem => {
    ctx.set('connection', 'close');
    return new HttpProblem(413, 'body-too-large', 'Content Too Large', `the body is larger than ${maxBytes} bytes (server.config.maxBodyBytes)`);
  };
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
