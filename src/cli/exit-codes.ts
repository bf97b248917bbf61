/**
 * The command line's exit codes, the same for every command, so that scripts can branch on them.
 */

export const EXIT_OK = 0;
/** The command failed at run time: storage unreachable or refusing the credentials, a port in use, an entry that cannot be replayed ... */
export const EXIT_RUNTIME = 1;
/** The configuration is invalid, missing or not JSON. */
export const EXIT_CONFIG = 2;
/**
 * What the command names does not exist: a request, a DLQ entry, a flow. 3, as the Azure CLI (`az`)
 * exits 3 for a missing resource, so that `if ! ...; then` can tell "not there" from "failed" (1).
 */
export const EXIT_NOT_FOUND = 3;
/** The command line is wrong (sysexits.h's EX_USAGE). */
export const EXIT_USAGE = 64;
/** Stopped by SIGINT or SIGTERM before the end (128 + SIGINT's 2, as a shell reports it). */
export const EXIT_INTERRUPTED = 130;
