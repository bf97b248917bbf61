/**
 * Child-process entry of the embedded emulator: runs Azurite's own command line (its path, resolved
 * by the engine, comes first, then its arguments), and shuts it down when the engine that forked it
 * goes away, even by SIGKILL (the IPC channel closes), so no orphaned emulator keeps holding the ports.
 */
import { pathToFileURL } from 'node:url';

const [cli, ...args] = process.argv.slice(2);
if (cli === undefined) throw new Error('usage: azurite-child.js <path of azurite/dist/src/azurite.js> [azurite arguments]');

process.on('disconnect', () => {
  // Azurite closes its servers (and saves its workspace) on SIGTERM; exit even if a timer lingers.
  setTimeout(() => process.exit(0), 5000).unref();
  process.kill(process.pid, 'SIGTERM');
});

process.argv = [process.execPath, cli, ...args];
await import(pathToFileURL(cli).href);
