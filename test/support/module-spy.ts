/**
 * Records which modules a process loads, for tests that check what is never loaded (the tracing
 * SDK while tracing is off). Load it first, with `node --import <this file's URL>`, and name the
 * file to write to in MODULE_SPY_FILE: every module URL resolved through the ESM loader that
 * matches MODULE_SPY_PATTERN (a regular expression) is appended to it, one a line. Modules that a
 * CommonJS module requires are not seen; the ESM import that loads the first of them is.
 */
import { register } from 'node:module';

const file = process.env['MODULE_SPY_FILE'];
const pattern = process.env['MODULE_SPY_PATTERN'];
if (file === undefined || pattern === undefined) throw new Error('module-spy needs MODULE_SPY_FILE and MODULE_SPY_PATTERN');
register('./module-spy-hooks.js', import.meta.url, { data: { file, pattern } });
