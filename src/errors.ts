/**
 * The codes an {@link EngineError} can carry. Callers branch on these, never on message text.
 *
 * - `AE_INVALID_CONFIG`: the configuration document failed validation (see `ConfigError.issues`).
 * - `AE_CONFIG_UNREADABLE`: the configuration file is missing, unreadable or not JSON.
 * - `AE_INVALID_OPTION`: a component was constructed with an option that breaks its invariants (a bug).
 * - `AE_USAGE`: the command line could not be understood.
 * - `AE_EMULATOR_PORT_IN_USE`: the embedded Azurite could not listen because a port is taken.
 * - `AE_EMULATOR_NOT_INSTALLED`: the embedded Azurite is configured but the `azurite` package (a
 *   development dependency) is not installed.
 * - `AE_EMULATOR_FAILED`: the embedded Azurite exited or did not become ready.
 * - `AE_STORAGE_UNAVAILABLE`: Azure Storage could not be reached or refused the credentials.
 * - `AE_NOT_FOUND`: the storage object (queue message, entity, blob) does not exist.
 * - `AE_STORAGE_CONFLICT`: a conditional write lost (ETag mismatch) or the object exists already.
 * - `AE_MESSAGE_LOST`: a received message was deleted, or its pop receipt is no longer ours.
 * - `AE_POOL_TIMEOUT`: no outbound connection became free within http.connection.config.requestTimeout.
 * - `AE_CALL_TIMEOUT`: an outbound call took longer than its callTimeout and was aborted.
 * - `AE_RESPONSE_TOO_LARGE`: an answer body passed payload.config.maxResponseBytes and was given up.
 * - `AE_REPLAY_IMPOSSIBLE`: a DLQ entry cannot be replayed (its input expired, its flow or step is gone).
 * - `AE_AUTH_UNAVAILABLE`: the OpenID provider has not been reached yet (requests get 503).
 * - `AE_PLATFORM_TOKEN`: the engine could not obtain its own token for a platform endpoint.
 * - `AE_SHUTDOWN`: the engine is shutting down and gave up on the work (the abort reason at the deadline).
 * - `AE_STORAGE`: any other storage failure.
 */
export type EngineErrorCode =
  | 'AE_INVALID_CONFIG'
  | 'AE_CONFIG_UNREADABLE'
  | 'AE_INVALID_OPTION'
  | 'AE_USAGE'
  | 'AE_EMULATOR_PORT_IN_USE'
  | 'AE_EMULATOR_NOT_INSTALLED'
  | 'AE_EMULATOR_FAILED'
  | 'AE_STORAGE_UNAVAILABLE'
  | 'AE_NOT_FOUND'
  | 'AE_STORAGE_CONFLICT'
  | 'AE_MESSAGE_LOST'
  | 'AE_POOL_TIMEOUT'
  | 'AE_CALL_TIMEOUT'
  | 'AE_RESPONSE_TOO_LARGE'
  | 'AE_REPLAY_IMPOSSIBLE'
  | 'AE_AUTH_UNAVAILABLE'
  | 'AE_PLATFORM_TOKEN'
  | 'AE_SHUTDOWN'
  | 'AE_STORAGE';

export interface EngineErrorOptions {
  cause?: unknown;
  /** True when the message is safe to show to an API client. */
  expose?: boolean;
}

export class EngineError extends Error {
  override name = 'EngineError';
  readonly code: EngineErrorCode;
  readonly expose: boolean;

  constructor(code: EngineErrorCode, message: string, options: EngineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.expose = options.expose ?? false;
  }
}

export function isEngineError(err: unknown, code?: EngineErrorCode): err is EngineError {
  return err instanceof EngineError && (code === undefined || err.code === code);
}
