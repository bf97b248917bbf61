#!/usr/bin/env node
/**
 * The `async-engine` command line: `start`, `config check`, and the operator commands `flows`,
 * `requests list|get` and `dlq list|get|replay|delete` (cli/). Exit codes (cli/exit-codes.ts):
 * 0 success, 1 a failure at run time (storage unreachable, port busy), 2 the configuration is
 * invalid or unreadable, 3 what an operator command names does not exist, 64 the command line is
 * wrong, 130 interrupted.
 */
import { type OptionValues, parseCommandLine } from './cli/command-line.js';
import { type CommandName, commandHelp, globalHelp } from './cli/commands.js';
import { EXIT_CONFIG, EXIT_RUNTIME, EXIT_USAGE } from './cli/exit-codes.js';
import { Terminal } from './cli/terminal.js';
import { formatIssue } from './config/issues.js';
import { loadConfigFile, type LoadedConfig } from './config/load.js';
import { describeStorage } from './config/storage-credential.js';
import { EngineError, type EngineErrorCode, isEngineError } from './errors.js';
import { createCommandLogger, logLevelProblem, rootLogger } from './observability/log.js';
import { StorageCallCounter } from './observability/storage-calls.js';
import { startTracing, type Tracing, type TracingSettings, tracingSettingsOf } from './observability/tracing.js';
import type { Runtime, RuntimeRole } from './runtime.js';
import { VERSION } from './version.js';

/** The exit code for an error that ends a command; anything not listed is a runtime failure. */
const EXIT_CODES: Partial<Record<EngineErrorCode, number>> = {
  AE_USAGE: EXIT_USAGE,
  AE_INVALID_CONFIG: EXIT_CONFIG,
  AE_CONFIG_UNREADABLE: EXIT_CONFIG,
};

async function main(argv: string[]): Promise<number> {
  // What a usage error prints after its message: the help of the command, once it is known.
  let help = globalHelp();
  try {
    return await run(argv, (text) => {
      help = text;
    });
  } catch (err) {
    const code = isEngineError(err) ? EXIT_CODES[err.code] : undefined;
    if (code === undefined) throw err;
    process.stderr.write(code === EXIT_USAGE ? `async-engine: ${(err as Error).message}\n\n${help}` : `${(err as Error).message}\n`);
    return code;
  }
}

async function run(argv: string[], setHelp: (text: string) => void): Promise<number> {
  const invocation = parseCommandLine(argv);
  switch (invocation.kind) {
    case 'help':
      process.stdout.write(invocation.text);
      return 0;
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case 'usage-error':
      setHelp(invocation.help);
      throw new EngineError('AE_USAGE', invocation.message);
    case 'command':
      break;
    default:
      throw new Error(`unhandled invocation ${(invocation satisfies never as { kind: string }).kind}`);
  }
  const { command, values, args } = invocation;
  setHelp(commandHelp(command));
  if (logLevelProblem !== null) throw new EngineError('AE_INVALID_CONFIG', logLevelProblem);
  const configPath = typeof values['config'] === 'string' ? values['config'] : undefined;
  const tracing = tracingSettingsOf(process.env);
  if ((command.name === 'start' || command.name === 'config check') && tracing.problems.length > 0) {
    throw new EngineError('AE_INVALID_CONFIG', tracing.problems.join('\n'));
  }
  switch (command.name) {
    case 'start': {
      // The engine's modules only where they run: the other commands start quicker without them.
      const { RUNTIME_ROLES, Runtime } = await import('./runtime.js');
      const role = values['role'];
      return start(Runtime, configPath, roleOf(RUNTIME_ROLES, typeof role === 'string' ? role : undefined, process.env['ASYNC_ENGINE_ROLE']), tracing.settings);
    }
    case 'config check':
      return checkConfig(configPath, tracing.settings);
    default:
      return operate(command.name, { configPath, values, args });
  }
}

/** An operator command: arguments checked, then storage, and its failures as a message and exit 1. */
async function operate(name: CommandName, { configPath, values, args }: { configPath: string | undefined; values: OptionValues; args: readonly string[] }): Promise<number> {
  const { config } = await load(configPath);
  const { planCommand, runOperatorCommand } = await import('./cli/operator.js');
  const plan = planCommand(name, values, args, config);
  try {
    return await runOperatorCommand(plan, {
      config,
      isJson: values['json'] === true,
      log: createCommandLogger(),
      io: { out: new Terminal({ stream: process.stdout, env: process.env }), err: (line) => process.stderr.write(`${line}\n`) },
    });
  } catch (err) {
    if (isEngineError(err) && EXIT_CODES[err.code] !== undefined) throw err;
    const name = (err as { name?: unknown } | null)?.name;
    const message = isEngineError(err) ? err.message : name === 'TimeoutError' || name === 'AbortError' ? 'storage did not answer in time' : undefined;
    if (message === undefined) throw err;
    process.stderr.write(`async-engine: ${message}\n`);
    return EXIT_RUNTIME;
  }
}

/** The role `start` runs: `--role`, else ASYNC_ENGINE_ROLE, else `all`; anything else is a usage error. */
function roleOf(roles: readonly RuntimeRole[], flag: string | undefined, variable: string | undefined): RuntimeRole {
  const [source, value] = flag !== undefined ? ['--role', flag] : variable !== undefined && variable !== '' ? ['ASYNC_ENGINE_ROLE', variable] : ['', 'all'];
  const role = roles.find((r) => r === value);
  if (role === undefined) throw new EngineError('AE_USAGE', `${source} ${JSON.stringify(value)} is not a role: use one of ${roles.join(', ')}`);
  return role;
}

async function load(configPath: string | undefined): Promise<LoadedConfig> {
  return loadConfigFile({ path: configPath, env: process.env, cwd: process.cwd() });
}

async function checkConfig(configPath: string | undefined, tracing: TracingSettings): Promise<number> {
  const loaded = await load(configPath);
  process.stdout.write(`${JSON.stringify(loaded.document, null, 2)}\n`);
  for (const warning of loaded.warnings) process.stderr.write(`warning: ${formatIssue(warning)}\n`);
  for (const line of describeStorage(loaded.config.storage, process.env)) process.stderr.write(`${line}\n`);
  process.stderr.write(
    tracing.kind === 'off'
      ? 'tracing: off (no OTEL_* variable set, OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true)\n'
      : `tracing: spans over OTLP (${tracing.protocol}) to ${tracing.endpoint}\n`,
  );
  process.stderr.write(`${loaded.source} is valid${loaded.warnings.length > 0 ? ` (${loaded.warnings.length} ${loaded.warnings.length === 1 ? 'warning' : 'warnings'})` : ''}\n`);
  return 0;
}

/** How long a start that failed gives the tracing SDK to send what it has. */
const TRACING_CLOSE_AFTER_FAILURE_IN_MS = 1000;

async function start(RuntimeClass: typeof Runtime, configPath: string | undefined, role: RuntimeRole, tracingSettings: TracingSettings): Promise<number> {
  const log = rootLogger;
  const loaded = await load(configPath);
  const { config } = loaded;
  log.info({ config: loaded.source, version: VERSION, role, flows: config.flows.map((f) => f.name) }, 'engine.starting');
  for (const warning of loaded.warnings) log.warn({ path: warning.path, warning: warning.message }, 'config.warning');

  const stopping = new AbortController();
  const stopSignal = waitForStop(stopping, { watchParent: process.env['npm_lifecycle_event'] !== undefined });
  // Before any span could be made; the SDK's modules are loaded only now, and only when tracing is on.
  const tracing: Tracing | null = await startTracing(tracingSettings, log);
  let runtime: Runtime;
  try {
    runtime = await RuntimeClass.start(config, { log, abortSignal: stopping.signal, storageCalls: new StorageCallCounter(), role, tracing });
  } catch (err) {
    await tracing?.close(AbortSignal.timeout(TRACING_CLOSE_AFTER_FAILURE_IN_MS));
    if (stopping.signal.aborted) return 0;
    log.error({ code: isEngineError(err) ? err.code : (err as NodeJS.ErrnoException).code }, 'engine.start_failed');
    process.stderr.write(`async-engine: ${startFailure(err, config.server)}\n`);
    return (isEngineError(err) ? EXIT_CODES[err.code] : undefined) ?? EXIT_RUNTIME;
  }
  log.info({ role, url: runtime.url, managementUrl: runtime.managementUrl }, 'engine.started');
  const reason = await stopSignal;
  log.info(reason === 'parent-exited' ? { reason } : { signal: reason }, 'engine.stopping');
  // One deadline for the whole shutdown: the runtime's close exports the spans within it, and the
  // exporter is stopped within what is left of it.
  const deadline = AbortSignal.timeout(config.server.shutdownGraceInMs);
  await runtime.close();
  await tracing?.close(deadline);
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

/**
 * Exits once the logs and stdout are written: where stdout is an asynchronous pipe (macOS), a
 * large `--json` answer would otherwise be cut at process.exit().
 */
function exitWhenWritten(code: number): void {
  rootLogger.flush(() => process.stdout.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(
  (code) => exitWhenWritten(code),
  (err: unknown) => {
    const message = err instanceof EngineError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`async-engine: unexpected failure: ${message}\n`);
    rootLogger.flush(() => process.exit(EXIT_RUNTIME));
  },
);
