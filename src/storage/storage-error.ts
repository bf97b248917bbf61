/**
 * Translates the Azure SDKs' errors where they enter the engine: unreachable or refusing storage
 * becomes AE_STORAGE_UNAVAILABLE (the caller may wait and try later), 404 AE_NOT_FOUND, 409/412
 * AE_STORAGE_CONFLICT, anything else AE_STORAGE.
 */
import { isRestError } from '@azure/core-rest-pipeline';
import { EngineError } from '../errors.js';

/** The errors of @azure/identity's credentials: no token could be had (yet); the caller may try later. */
const TOKEN_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);

export function translateStorageError(err: unknown, action: string): EngineError {
  if (err instanceof EngineError) return err;
  if (err instanceof Error && TOKEN_ERRORS.has(err.name)) {
    return new EngineError('AE_STORAGE_UNAVAILABLE', `${action} failed: no Microsoft Entra ID token for storage (${err.message.replace(/\s+/g, ' ').trim()})`, { cause: err });
  }
  if (isRestError(err)) {
    const status = err.statusCode;
    // The Tables SDK leaves `code` unset on errors (its body is OData JSON); every storage service
    // also names the error in the x-ms-error-code header.
    const code = err.code ?? err.response?.headers.get('x-ms-error-code');
    const detail = [status && `HTTP ${status}`, code].filter(Boolean).join(' ');
    if (status === undefined || status === 401 || status === 403) {
      const why = status === undefined ? 'storage is unreachable' : 'storage refused the credentials';
      return new EngineError('AE_STORAGE_UNAVAILABLE', `${action} failed: ${why} (${detail || 'no response'})`, { cause: err });
    }
    if (status === 404) return new EngineError('AE_NOT_FOUND', `${action} failed: not found (${detail})`, { cause: err });
    if (status === 409 || status === 412) return new EngineError('AE_STORAGE_CONFLICT', `${action} failed: conflict (${detail})`, { cause: err });
    return new EngineError('AE_STORAGE', `${action} failed (${detail})`, { cause: err });
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return new EngineError('AE_STORAGE_UNAVAILABLE', `${action} failed: storage is unreachable (${code})`, { cause: err });
  }
  return new EngineError('AE_STORAGE', `${action} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
