/**
 * Runs the real `async-engine` command (dist/src/main.js) in a child process, as a shell user would.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { RuntimeTimings } from '../../src/runtime.js';

/** The repository root (tests run compiled, from dist/test/<area>/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const RUNTIME_CHILD = fileURLToPath(new URL('./runtime-child.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Node's own options before the script (`--import ...`). */
  execArgv?: string[];
}

/** The environment tests start from: the parent's, without the variables the engine reads. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['ASYNC_ENGINE_CONFIG', 'ASYNC_ENGINE_ENV', 'ASYNC_ENGINE_ROLE', 'AZURE_STORAGE_CONNECTION_STRING', 'AZURE_STORAGE_ACCOUNT_KEY', 'OPENAPI_PASSWORD', 'OIDC_CLIENT_SECRET']) {
    delete env[key];
  }
  // What DefaultAzureCredential reads: a developer's own identity must not reach the engine under test.
  for (const key of Object.keys(env)) if (/^(AZURE_|IDENTITY_|MSI_|IMDS_)/.test(key)) delete env[key];
  // A developer's tracing setup must not turn tracing on in the engine under test.
  for (const key of Object.keys(env)) if (key.startsWith('OTEL_')) delete env[key];
  return { ...env, ...extra };
}

export function spawnCli(args: string[], { env = cleanEnv(), cwd = REPO_ROOT, execArgv = [] }: CliOptions = {}): RunningCli {
  return new RunningCli(spawn(process.execPath, [...execArgv, MAIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/**
 * A replica in a child process with shortened `timings`, which the command line cannot take: for
 * tests that kill a replica. Logs and `startedUrl()` as for the command.
 */
export function spawnRuntime(configPath: string, timings: Partial<RuntimeTimings>, { env = cleanEnv(), cwd = REPO_ROOT }: CliOptions = {}): RunningCli {
  return new RunningCli(spawn(process.execPath, [RUNTIME_CHILD, configPath, JSON.stringify(timings)], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Runs the command to its end. */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).exited;
}

export class RunningCli {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;

  constructor(child: ChildProcess) {
    this.child = child;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = once(child, 'close').then(([code]) => ({ code: code as number | null, stdout: this.stdout, stderr: this.stderr }));
  }

  /** The ingress's URL, once the engine has logged `engine.started` (within `timeoutInMs`). */
  async startedUrl(timeoutInMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutInMs;
    for (;;) {
      const started = this.logLines().find((l) => l['msg'] === 'engine.started');
      if (started) return String(started['url']);
      // A process killed by a signal has no exit code, only a signal code.
      const { exitCode, signalCode } = this.child;
      if (exitCode !== null || signalCode !== null || Date.now() > deadline) {
        const how = exitCode !== null ? `exited with ${exitCode}` : signalCode !== null ? `was killed by ${signalCode}` : `has not started in ${timeoutInMs} ms`;
        throw new Error(`the engine ${how}: ${this.stderr}\nits last log lines:\n${this.stdout.split('\n').slice(-20).join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The JSON log lines written so far. */
  logLines(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** Whether {@link runCliInTerminal} can run here: util-linux `script` gives a command a pseudo-terminal. */
export const canRunInTerminal: boolean = (() => {
  const probe = spawnSync('script', ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
})();

const shellQuote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`;

/**
 * Runs the command on a pseudo-terminal `columns` wide (through `script`), as a person at a terminal
 * would: stdout and stderr both arrive in `stdout`, with the terminal's \r\n line ends.
 */
export async function runCliInTerminal(args: string[], { env = cleanEnv(), cwd = REPO_ROOT, columns = 100 }: CliOptions & { columns?: number } = {}): Promise<CliResult> {
  const command = `stty cols ${columns} rows 50; exec ${[process.execPath, MAIN, ...args].map(shellQuote).join(' ')}`;
  return new RunningCli(spawn('script', ['-qfec', command, '/dev/null'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })).exited;
}
