#!/usr/bin/env node
/**
 * The `async-engine` command line: `start` and `config check`. Exit codes: 0 success, 1 the engine
 * failed at run time (storage unreachable, port busy), 2 the configuration is invalid or unreadable,
 * 64 the command line is wrong.
 */
import { parseArgs } from 'node:util';
import { formatIssue } from './config/issues.js';
import { loadConfigFile, type LoadedConfig } from './config/load.js';
import { describeStorage } from './config/storage-credential.js';
import { EngineError, type EngineErrorCode, isEngineError } from './errors.js';
import { logLevelProblem, rootLogger } from './observability/log.js';
import { StorageCallCounter } from './observability/storage-calls.js';
import { RUNTIME_ROLES, Runtime, type RuntimeRole } from './runtime.js';
import { VERSION } from './version.js';

const EXIT_RUNTIME = 1;
const EXIT_CONFIG = 2;
const EXIT_USAGE = 64;

/** The exit code for an error that ends a command; anything not listed is a runtime failure. */
const EXIT_CODES: Partial<Record<EngineErrorCode, number>> = {
  AE_USAGE: EXIT_USAGE,
  AE_INVALID_CONFIG: EXIT_CONFIG,
  AE_CONFIG_UNREADABLE: EXIT_CONFIG,
};

const HELP = `Usage: async-engine <command> [--config PATH] [--role ROLE]

Commands:
  start            run the engine until SIGTERM or SIGINT, then drain and exit
  config check     validate the configuration and print it, secrets as "[redacted]"

Options:
  -c, --config PATH  configuration file; else $ASYNC_ENGINE_CONFIG,
                     else config/\${ASYNC_ENGINE_ENV:-local}.json
  -r, --role ROLE    for start: all (default), ingress (the HTTP API, no pollers)
                     or worker (pollers, sweeps, callbacks; over HTTP only
                     /actuator/*); else $ASYNC_ENGINE_ROLE
  -h, --help         show this help
  -v, --version      show the version

Secrets may come from the environment: AZURE_STORAGE_CONNECTION_STRING,
AZURE_STORAGE_ACCOUNT_KEY, OPENAPI_PASSWORD, OIDC_CLIENT_SECRET.
Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration, 64 usage error.
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  role: { type: 'string', short: 'r' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (err) {
    const code = isEngineError(err) ? EXIT_CODES[err.code] : undefined;
    if (code === undefined) throw err;
    process.stderr.write(code === EXIT_USAGE ? `async-engine: ${(err as Error).message}\n\n${HELP}` : `${(err as Error).message}\n`);
    return code;
  }
}

function parseCommandLine(argv: string[]): ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>> {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    throw new EngineError('AE_USAGE', (err as Error).message, { cause: err });
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = positionals.join(' ');
  if (logLevelProblem !== null && (command === 'start' || command === 'config check')) throw new EngineError('AE_INVALID_CONFIG', logLevelProblem);
  if (values.role !== undefined && command !== 'start') throw new EngineError('AE_USAGE', '--role applies to start only');
  switch (command) {
    case 'start':
      return start(values.config, roleOf(values.role, process.env['ASYNC_ENGINE_ROLE']));
    case 'config check':
      return checkConfig(values.config);
    default:
      throw new EngineError('AE_USAGE', command ? `unknown command "${command}"` : 'no command given');
  }
}

/** The role `start` runs: `--role`, else ASYNC_ENGINE_ROLE, else `all`; anything else is a usage error. */
function roleOf(flag: string | undefined, variable: string | undefined): RuntimeRole {
  const [source, value] = flag !== undefined ? ['--role', flag] : variable !== undefined && variable !== '' ? ['ASYNC_ENGINE_ROLE', variable] : ['', 'all'];
  const role = RUNTIME_ROLES.find((r) => r === value);
  if (role === undefined) throw new EngineError('AE_USAGE', `${source} ${JSON.stringify(value)} is not a role: use one of ${RUNTIME_ROLES.join(', ')}`);
  return role;
}

async function load(configPath: string | undefined): Promise<LoadedConfig> {
  return loadConfigFile({ path: configPath, env: process.env, cwd: process.cwd() });
}

async function checkConfig(configPath: string | undefined): Promise<number> {
  const loaded = await load(configPath);
  process.stdout.write(`${JSON.stringify(loaded.document, null, 2)}\n`);
  for (const warning of loaded.warnings) process.stderr.write(`warning: ${formatIssue(warning)}\n`);
  for (const line of describeStorage(loaded.config.storage, process.env)) process.stderr.write(`${line}\n`);
  process.stderr.write(`${loaded.source} is valid${loaded.warnings.length > 0 ? ` (${loaded.warnings.length} ${loaded.warnings.length === 1 ? 'warning' : 'warnings'})` : ''}\n`);
  return 0;
}

async function start(configPath: string | undefined, role: RuntimeRole): Promise<number> {
  const log = rootLogger;
  const loaded = await load(configPath);
  const { config } = loaded;
  log.info({ config: loaded.source, version: VERSION, role, flows: config.flows.map((f) => f.name) }, 'engine.starting');
  for (const warning of loaded.warnings) log.warn({ path: warning.path, warning: warning.message }, 'config.warning');

  const stopping = new AbortController();
  const stopSignal = waitForStop(stopping, { watchParent: process.env['npm_lifecycle_event'] !== undefined });
  let runtime: Runtime;
  try {
    runtime = await Runtime.start(config, { log, abortSignal: stopping.signal, storageCalls: new StorageCallCounter(), role });
  } catch (err) {
    if (stopping.signal.aborted) return 0;
    log.error({ code: isEngineError(err) ? err.code : (err as NodeJS.ErrnoException).code }, 'engine.start_failed');
    process.stderr.write(`async-engine: ${startFailure(err, config.server)}\n`);
    return (isEngineError(err) ? EXIT_CODES[err.code] : undefined) ?? EXIT_RUNTIME;
  }
  log.info({ role, url: runtime.url, managementUrl: runtime.managementUrl }, 'engine.started');
  const reason = await stopSignal;
  log.info(reason === 'parent-exited' ? { reason } : { signal: reason }, 'engine.stopping');
  await runtime.close();
  log.info({}, 'engine.stopped');
  return 0;
}

function startFailure(err: unknown, { port, managementPort }: { port: number; managementPort: number | null }): string {
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    // Node names the port in the error; the two servers' ports differ unless both are 0 (never in use).
    if ((err as { port?: unknown }).port === managementPort) {
      return `port ${managementPort} of the management server is already in use: stop the program holding it, or set server.config.managementPort to another port`;
    }
    return `port ${port} of the HTTP ingress is already in use: stop the program holding it, or set server.config.port to another port`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * A repeat of the stop signal within this time is the same request delivered twice: Ctrl-C in a
 * terminal reaches the whole foreground process group, and under `npm start` npm forwards its own
 * copy to the engine as well.
 */
const REPEATED_SIGNAL_WINDOW_IN_MS = 1000;
const PARENT_CHECK_INTERVAL_IN_MS = 1000;

type StopReason = NodeJS.Signals | 'parent-exited';

/**
 * Resolves with the first SIGTERM or SIGINT; a second one (other than the same signal repeated
 * within {@link REPEATED_SIGNAL_WINDOW_IN_MS}) ends the process at once. With `watchParent` it also
 * resolves once the process that started the engine has gone (the engine was re-parented): an npm
 * script whose npm was killed outright must not live on holding the ports. Only for npm scripts: a
 * command started in the background of a shell script may well be meant to outlive the script.
 */
function waitForStop(controller: AbortController, { watchParent }: { watchParent: boolean }): Promise<StopReason> {
  return new Promise((resolve) => {
    let first: { signal: NodeJS.Signals; atInMs: number } | undefined;
    let parentCheck: NodeJS.Timeout | undefined;
    const stop = (reason: StopReason): void => {
      clearInterval(parentCheck);
      controller.abort();
      resolve(reason);
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (!controller.signal.aborted) {
        first = { signal, atInMs: performance.now() };
        stop(signal);
        return;
      }
      if (signal === first?.signal && performance.now() - first.atInMs < REPEATED_SIGNAL_WINDOW_IN_MS) return;
      process.stderr.write(`async-engine: ${signal} again, exiting without draining\n`);
      process.exit(130);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (watchParent) {
      const parent = process.ppid;
      parentCheck = setInterval(() => {
        if (process.ppid !== parent && !controller.signal.aborted) stop('parent-exited');
      }, PARENT_CHECK_INTERVAL_IN_MS).unref();
    }
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
