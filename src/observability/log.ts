/**
 * The root pino logger: JSON lines on stdout, stable event names as messages, data in fields.
 * Secrets are redacted by key wherever they appear in a logged object, one or two levels deep.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

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
      base: { service: 'async-engine' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** The process's root logger; components receive children of it. Level from LOG_LEVEL (default info). */
export const rootLogger: Logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'info' });
