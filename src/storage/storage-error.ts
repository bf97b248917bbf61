/**
 * Translates the Azure SDKs' errors where they enter the engine: unreachable or refusing storage
 * becomes AE_STORAGE_UNAVAILABLE (the caller may wait and try later), anything else AE_STORAGE.
 */
import { isRestError } from '@azure/core-rest-pipeline';
import { EngineError } from '../errors.js';

export function translateStorageError(err: unknown, action: string): EngineError {
  if (err instanceof EngineError) return err;
  if (isRestError(err)) {
    const status = err.statusCode;
    const detail = [status && `HTTP ${status}`, err.code].filter(Boolean).join(' ');
    if (status === undefined || status === 401 || status === 403) {
      const why = status === undefined ? 'storage is unreachable' : 'storage refused the credentials';
      return new EngineError('AE_STORAGE_UNAVAILABLE', `${action} failed: ${why} (${detail || 'no response'})`, { cause: err });
    }
    return new EngineError('AE_STORAGE', `${action} failed (${detail})`, { cause: err });
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return new EngineError('AE_STORAGE_UNAVAILABLE', `${action} failed: storage is unreachable (${code})`, { cause: err });
  }
  return new EngineError('AE_STORAGE', `${action} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
