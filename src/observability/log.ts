/**
 * The root pino logger: JSON lines on stdout, stable event names as messages, data in fields.
 * Secrets are redacted by key wherever they appear in a logged object, one or two levels deep.
 * Every line names its process (`pid`, `hostname`), so that the replicas' lines can be told apart
 * once collected; while tracing is on, a line written within a span (a request's) carries its
 * `trace_id` and `span_id`.
 */
import { hostname } from 'node:os';
import { pino, type Logger, type DestinationStream } from 'pino';
import { activeTraceFields, NO_TRACE_FIELDS } from './spans.js';

export type { Logger };

const SECRET_KEYS = ['accountKey', 'connectionString', 'password', 'secret', 'token', 'accessToken', 'authorization', 'Authorization'];

export const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export interface LoggerOptions {
  level: string;
  /** Where lines go; stdout when omitted. */
  destination?: DestinationStream;
}

export function createLogger({ level, destination }: LoggerOptions): Logger {
  return pino(
    {
      level,
      // pino's own base (pid, hostname) and the service's name.
      base: { pid: process.pid, hostname: hostname(), service: 'async-engine' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: activeTraceFields,
      // pino's default merge copies the line's fields into the mixin's object; with tracing off
      // that object is the shared empty one, which must stay empty, and the line needs no copy.
      mixinMergeStrategy: (fields: object, trace: object) => (trace === NO_TRACE_FIELDS ? fields : Object.assign(trace, fields)),
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** The levels LOG_LEVEL may name: pino's, and `silent`. */
export const LOG_LEVELS = [...Object.keys(pino.levels.values), 'silent'];

/** LOG_LEVEL as given, or why it cannot be used (the root logger then logs at `info`). */
function levelOf(value: string | undefined): { level: string; problem: string | null } {
  if (value === undefined || value === '') return { level: 'info', problem: null };
  if (LOG_LEVELS.includes(value)) return { level: value, problem: null };
  return { level: 'info', problem: `LOG_LEVEL ${JSON.stringify(value.slice(0, 40))} is not a log level; use one of ${LOG_LEVELS.join(', ')}` };
}

const fromEnv = levelOf(process.env['LOG_LEVEL']);

/** Set when LOG_LEVEL names no level: the command line refuses to start with this message. */
export const logLevelProblem: string | null = fromEnv.problem;

/** The process's root logger; components receive children of it. Level from LOG_LEVEL (default info). */
export const rootLogger: Logger = createLogger({ level: fromEnv.level });

/**
 * A logger for the operator commands (`flows`, `requests`, `dlq`): JSON lines on stderr, since
 * stdout is their answer, at LOG_LEVEL, else `warn` (what went wrong, not every entry replayed).
 */
export function createCommandLogger(): Logger {
  const isSet = process.env['LOG_LEVEL'] !== undefined && process.env['LOG_LEVEL'] !== '' && fromEnv.problem === null;
  return createLogger({ level: isSet ? fromEnv.level : 'warn', destination: pino.destination({ fd: 2, sync: true }) });
}

/** pino's level methods: a call at a level below the logger's writes nothing. */
const LEVEL_METHODS: ReadonlySet<string> = new Set(Object.keys(pino.levels.values));
const writeNothing = (): void => undefined;

/**
 * A child of `parent` with `bindings`, made only when a line is written at an enabled level: pino
 * serializes (and redacts) a child's bindings when the child is made, which a logger per message
 * pays on every message even when nothing is logged (Performance issue). Calls at disabled levels
 * are no-ops, as on any pino logger.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(parent, {
    get(_target, key) {
      if (child === undefined && typeof key === 'string' && LEVEL_METHODS.has(key) && !parent.isLevelEnabled(key)) return writeNothing;
      child ??= parent.child(bindings);
      const value: unknown = Reflect.get(child, key, child);
      return typeof value === 'function' ? value.bind(child) : value;
    },
  });
}
