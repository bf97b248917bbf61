/**
 * The loader hooks of module-spy.ts; they run on the loader's own thread, so they write the file
 * directly.
 */
import { appendFileSync } from 'node:fs';

let file = '';
let pattern = /$^/;

export function initialize(data: { file: string; pattern: string }): void {
  file = data.file;
  pattern = new RegExp(data.pattern);
}

type Resolved = { url: string };
type NextResolve = (specifier: string, context: unknown) => Promise<Resolved>;

export async function resolve(specifier: string, context: unknown, nextResolve: NextResolve): Promise<Resolved> {
  const resolved = await nextResolve(specifier, context);
  if (pattern.test(resolved.url)) appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
