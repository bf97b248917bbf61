/**
 * One replica in a child process, for tests that kill a replica (SIGKILL): starts a Runtime from a
 * configuration file with RuntimeTimings from a JSON argument (`async-engine start` takes no
 * timings: they are not configuration), logs JSON lines to stdout like the CLI, each written at
 * once so a killed child loses none, and stops cleanly on SIGTERM.
 *
 *   node dist/test/support/runtime-child.js CONFIG_FILE '{"sweeperLeaseInMs":15000}'
 *
 * Started by spawnRuntime() in cli.ts.
 */
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/log.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { Runtime, type RuntimeTimings } from '../../src/runtime.js';

const [configPath, timingsJson = '{}'] = process.argv.slice(2);
if (!configPath) throw new Error('usage: runtime-child.js CONFIG_FILE [TIMINGS_JSON]');
const { config } = parseConfig(JSON.parse(await readFile(configPath, 'utf8')) as unknown, { source: configPath, env: {} });
const log = createLogger({ level: 'debug', destination: pino.destination({ fd: 1, sync: true }) });
const runtime = await Runtime.start(config, {
  log,
  abortSignal: AbortSignal.timeout(60_000),
  storageCalls: new StorageCallCounter(),
  timings: JSON.parse(timingsJson) as Partial<RuntimeTimings>,
});
log.info({ url: runtime.url }, 'engine.started');
process.once('SIGTERM', () => {
  void runtime.close().then(() => {
    log.info({}, 'engine.stopped');
    process.exit(0);
  });
});
