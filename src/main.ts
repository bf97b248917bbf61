#!/usr/bin/env node
/**
 * The `async-engine` command line: `start` and `config check`. Exit codes: 0 success, 1 the engine
 * failed at run time (storage unreachable, port busy), 2 the configuration is invalid or unreadable,
 * 64 the command line is wrong.
 */
import { parseArgs } from 'node:util';
import { loadConfigFile, type LoadedConfig } from './config/load.js';
import { EngineError, isEngineError } from './errors.js';
import { rootLogger } from './observability/log.js';
import { StorageCallCounter } from './observability/storage-calls.js';
import { Runtime } from './runtime.js';
import { VERSION } from './version.js';

const EXIT_RUNTIME = 1;
const EXIT_CONFIG = 2;
const EXIT_USAGE = 64;

const HELP = `Usage: async-engine <command> [--config PATH]

Commands:
  start            run the engine until SIGTERM or SIGINT, then drain and exit
  config check     validate the configuration and print it, secrets as "[redacted]"

Options:
  -c, --config PATH  configuration file; else $ASYNC_ENGINE_CONFIG,
                     else config/\${ASYNC_ENGINE_ENV:-local}.json
  -h, --help         show this help
  -v, --version      show the version

Secrets may come from the environment: AZURE_STORAGE_CONNECTION_STRING,
AZURE_STORAGE_ACCOUNT_KEY, OPENAPI_PASSWORD, OIDC_CLIENT_SECRET.
Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration, 64 usage error.
`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    process.stderr.write(`async-engine: ${(err as Error).message}\n\n${HELP}`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = positionals.join(' ');
  switch (command) {
    case 'start':
      return start(values.config);
    case 'config check':
      return checkConfig(values.config);
    default:
      process.stderr.write(`async-engine: ${command ? `unknown command "${command}"` : 'no command given'}\n\n${HELP}`);
      return EXIT_USAGE;
  }
}

async function load(configPath: string | undefined): Promise<LoadedConfig> {
  return loadConfigFile({ path: configPath, env: process.env, cwd: process.cwd() });
}

async function checkConfig(configPath: string | undefined): Promise<number> {
  try {
    const loaded = await load(configPath);
    process.stdout.write(`${JSON.stringify(loaded.document, null, 2)}\n`);
    process.stderr.write(`${loaded.source} is valid\n`);
    return 0;
  } catch (err) {
    if (isEngineError(err, 'AE_INVALID_CONFIG') || isEngineError(err, 'AE_CONFIG_UNREADABLE')) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
}

async function start(configPath: string | undefined): Promise<number> {
  const log = rootLogger;
  let loaded: LoadedConfig;
  try {
    loaded = await load(configPath);
  } catch (err) {
    if (isEngineError(err, 'AE_INVALID_CONFIG') || isEngineError(err, 'AE_CONFIG_UNREADABLE')) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  const { config } = loaded;
  log.info({ config: loaded.source, version: VERSION, flows: config.flows.map((f) => f.name) }, 'engine.starting');

  const stopping = new AbortController();
  const stopSignal = waitForStopSignal(stopping);
  let runtime: Runtime;
  try {
    runtime = await Runtime.start(config, { log, abortSignal: stopping.signal, storageCalls: new StorageCallCounter() });
  } catch (err) {
    if (stopping.signal.aborted) return 0;
    log.error({ code: isEngineError(err) ? err.code : (err as NodeJS.ErrnoException).code }, 'engine.start_failed');
    process.stderr.write(`async-engine: ${startFailure(err, config.server.port)}\n`);
    return EXIT_RUNTIME;
  }
  log.info({ url: runtime.url }, 'engine.started');
  const signal = await stopSignal;
  log.info({ signal }, 'engine.stopping');
  await runtime.close();
  log.info({}, 'engine.stopped');
  return 0;
}

function startFailure(err: unknown, port: number): string {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    return `port ${port} of the HTTP ingress is already in use: stop the program holding it, or set server.config.port to another port`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Resolves with the first SIGTERM or SIGINT; a second one ends the process at once. */
function waitForStopSignal(controller: AbortController): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (controller.signal.aborted) {
        process.stderr.write(`async-engine: ${signal} again, exiting without draining\n`);
        process.exit(130);
      }
      controller.abort();
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => rootLogger.flush(() => process.exit(code)),
  (err: unknown) => {
    const message = err instanceof EngineError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`async-engine: unexpected failure: ${message}\n`);
    rootLogger.flush(() => process.exit(EXIT_RUNTIME));
  },
);
