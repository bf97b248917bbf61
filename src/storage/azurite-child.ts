/**
 * Child-process entry of the embedded emulator: runs Azurite's own command line with the arguments
 * it was given, and shuts it down when the engine that forked it goes away, even by SIGKILL (the
 * IPC channel closes), so no orphaned emulator keeps holding the ports.
 */
import { createRequire } from 'node:module';

const cli = createRequire(import.meta.url).resolve('azurite/dist/src/azurite.js');

process.on('disconnect', () => {
  // Azurite closes its servers (and saves its workspace) on SIGTERM; exit even if a timer lingers.
  setTimeout(() => process.exit(0), 5000).unref();
  process.kill(process.pid, 'SIGTERM');
});

process.argv = [process.execPath, cli, ...process.argv.slice(2)];
await import(cli);
