/**
 * The embedded emulator: Azurite in a child process (it serves everything from one core, so it gets
 * its own), either persistent in a workspace folder or in memory for tests. The engine and the test
 * harness both start it through {@link Emulator.start}. Azurite is a development dependency, absent
 * from production installs: it is found by path only when the emulator starts, never imported.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { EngineError } from '../errors.js';
import type { StorageConnection } from './clients.js';

/** Azurite's well-known development account; public by design, it protects nothing. */
const ACCOUNT_NAME = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const SERVICES = ['blob', 'queue', 'table'] as const;
type Service = (typeof SERVICES)[number];
const CONFIG_KEYS: Record<Service, string> = {
  blob: 'azure.storage.config.emulatorBlobPort',
  queue: 'azure.storage.config.emulatorQueuePort',
  table: 'azure.storage.config.emulatorTablePort',
};

export interface EmulatorOptions {
  /** Workspace folder for a persistent emulator, or null to keep everything in memory. */
  location: string | null;
  /** 0 = any free port. */
  ports: Record<Service, number>;
  startTimeoutInMs: number;
  /**
   * Serve https with this certificate and key (PEM files), and accept Microsoft Entra ID bearer
   * tokens (Azurite's `--oauth basic`: issuer, audience and lifetime are checked, not the signature).
   */
  https?: { certPath: string; keyPath: string };
}

export type EmulatorPorts = Record<Service, number>;

export class Emulator {
  readonly ports: EmulatorPorts;
  readonly #child: ChildProcess;
  readonly #scheme: 'http' | 'https';
  #closing: Promise<void> | undefined;

  private constructor(child: ChildProcess, ports: EmulatorPorts, scheme: 'http' | 'https') {
    this.#child = child;
    this.ports = ports;
    this.#scheme = scheme;
  }

  /** The service URLs, e.g. http://127.0.0.1:10001/devstoreaccount1 for the queues. */
  get urls(): Record<Service, string> {
    const url = (service: Service): string => `${this.#scheme}://127.0.0.1:${this.ports[service]}/${ACCOUNT_NAME}`;
    return { blob: url('blob'), queue: url('queue'), table: url('table') };
  }

  /** Starts Azurite and resolves once all three services listen. */
  static async start({ location, ports, startTimeoutInMs, https }: EmulatorOptions): Promise<Emulator> {
    const cli = resolveAzurite();
    const args = [cli, '--silent', '--skipApiVersionCheck', '--loose', '--disableTelemetry'];
    for (const service of SERVICES) args.push(`--${service}Host`, '127.0.0.1', `--${service}Port`, String(ports[service]));
    if (https) args.push('--cert', https.certPath, '--key', https.keyPath, '--oauth', 'basic');
    if (location === null) {
      args.push('--inMemoryPersistence');
    } else {
      await mkdir(location, { recursive: true });
      args.push('--location', path.resolve(location));
    }
    const child = fork(new URL('./azurite-child.js', import.meta.url), args, {
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and Azurite
      // would stop at once while the engine still drains its steps into it. The engine stops it last,
      // and it stops by itself when the engine is gone (azurite-child.ts).
      detached: true,
    });
    try {
      return new Emulator(child, await waitUntilListening(child, ports, startTimeoutInMs), https ? 'https' : 'http');
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  get connection(): StorageConnection {
    const { blob, queue, table } = this.urls;
    return { kind: 'account', accountName: ACCOUNT_NAME, accountKey: ACCOUNT_KEY, queueUrl: queue, tableUrl: table, blobUrl: blob };
  }

  /** How to reach an embedded emulator that another process runs on `ports` (plain http, as the engine runs it). */
  static connectionOn(ports: EmulatorPorts): StorageConnection {
    const url = (service: Service): string => `http://127.0.0.1:${ports[service]}/${ACCOUNT_NAME}`;
    return { kind: 'account', accountName: ACCOUNT_NAME, accountKey: ACCOUNT_KEY, queueUrl: url('queue'), tableUrl: url('table'), blobUrl: url('blob') };
  }

  /**
   * Whether something accepts connections on 127.0.0.1 at any of `ports`, where the embedded
   * emulator listens: an engine's emulator, or an Azurite someone runs there.
   */
  static async isAnyListening(ports: EmulatorPorts, timeoutInMs: number): Promise<boolean> {
    const accepts = (port: number): Promise<boolean> =>
      new Promise((resolve) => {
        const socket = connect({ host: '127.0.0.1', port, timeout: timeoutInMs });
        const done = (isListening: boolean): void => {
          socket.destroy();
          resolve(isListening);
        };
        socket.once('connect', () => done(true));
        socket.once('timeout', () => done(false));
        socket.once('error', () => done(false));
      });
    return (await Promise.all(SERVICES.map((s) => accepts(ports[s])))).some(Boolean);
  }

  /** The connection string for tools such as Azure Storage Explorer. */
  get connectionString(): string {
    const { blob, queue, table } = this.urls;
    return `DefaultEndpointsProtocol=${this.#scheme};AccountName=${ACCOUNT_NAME};AccountKey=${ACCOUNT_KEY};BlobEndpoint=${blob};QueueEndpoint=${queue};TableEndpoint=${table};`;
  }

  /** Stops the emulator, letting it save its workspace; kills it if it takes longer than `timeoutInMs`. Idempotent. */
  close(timeoutInMs = 10_000): Promise<void> {
    this.#closing ??= (async () => {
      const child = this.#child;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutInMs);
      // The child shuts Azurite down when its IPC channel closes (see azurite-child.ts).
      if (child.connected) child.disconnect();
      else child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    })();
    return this.#closing;
  }
}

/**
 * The path of Azurite's command line, resolved from the engine's own files as Node resolves any
 * package (so an `azurite` installed beside async-engine in a user's project is found too).
 */
function resolveAzurite(): string {
  try {
    return createRequire(import.meta.url).resolve('azurite/dist/src/azurite.js');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new EngineError(
      'AE_EMULATOR_NOT_INSTALLED',
      'azure.storage.config.emulator is "embedded", but the azurite package is not installed: it is a development dependency, ' +
        'left out of production installs (npm ci --omit=dev) and of async-engine installed as a package. ' +
        'Install it with `npm install --save-dev azurite` (or `npm install azurite`), ' +
        'or configure a storage account (accountName and accountKey) or a connectionString in azure.storage.config instead.',
      { cause: err },
    );
  }
}

const LISTENING = /Azurite (Blob|Queue|Table) service is successfully listening at https?:\/\/[^\s]*:(\d+)/;
const IN_USE = /EADDRINUSE[^\n]*?:(\d+)/;

function waitUntilListening(child: ChildProcess, requested: EmulatorPorts, timeoutInMs: number): Promise<EmulatorPorts> {
  return new Promise((resolve, reject) => {
    const found: Partial<EmulatorPorts> = {};
    const output: string[] = [];
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new EngineError('AE_EMULATOR_FAILED', `the embedded Azurite did not start within ${timeoutInMs} ms: ${output.slice(-5).join(' | ')}`)),
      timeoutInMs,
    );
    const onLine = (line: string): void => {
      output.push(line);
      const [, service, port] = LISTENING.exec(line) ?? [];
      if (service !== undefined) {
        found[service.toLowerCase() as Service] = Number(port);
        if (SERVICES.every((s) => found[s] !== undefined)) {
          clearTimeout(timer);
          resolve(found as EmulatorPorts);
        }
      }
      const inUse = IN_USE.exec(line);
      if (inUse) fail(portInUse(Number(inUse[1]), requested));
    };
    // Keep reading both streams for the emulator's whole life, so a full pipe never blocks it.
    for (const output of [child.stdout, child.stderr]) if (output) createInterface({ input: output }).on('line', onLine);
    child.once('exit', (code, signal) =>
      fail(new EngineError('AE_EMULATOR_FAILED', `the embedded Azurite exited (${signal ?? `code ${code}`}) before it was ready: ${output.slice(-5).join(' | ')}`)),
    );
    child.once('error', (err) => fail(new EngineError('AE_EMULATOR_FAILED', `the embedded Azurite could not be started: ${err.message}`, { cause: err })));
  });
}

function portInUse(port: number, requested: EmulatorPorts): EngineError {
  const service = SERVICES.find((s) => requested[s] === port);
  const key = service ? CONFIG_KEYS[service] : 'the emulator*Port keys of azure.storage.config';
  return new EngineError(
    'AE_EMULATOR_PORT_IN_USE',
    `port ${port}${service ? ` (embedded Azurite ${service} service)` : ''} is already in use: stop the program holding it ` +
      `(perhaps another Azurite or engine), or set ${key} to another port (0 = any free port). ` +
      // The developer's own Azurite on the well-known ports is the likeliest holder: say how to use it.
      'To use an Azurite you already run on ports 10000-10002 instead, replace "emulator": "embedded" in azure.storage.config ' +
      'with "connectionString": "UseDevelopmentStorage=true"',
  );
}
