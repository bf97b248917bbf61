/**
 * What `config check` says about storage: which credential the engine will use, where it will
 * look for it in this environment, and what the identity needs on the account.
 */
import { STORAGE_ROLES, STORAGE_SCOPE, type StorageTarget } from './types.js';

/** Which source DefaultAzureCredential will take its token from, judged by the variables it reads first. */
function defaultCredentialSource(env: NodeJS.ProcessEnv, managedIdentityClientId: string | null): string {
  const has = (name: string): boolean => (env[name] ?? '') !== '';
  const managedIdentity = managedIdentityClientId === null ? 'the system-assigned managed identity' : `the user-assigned managed identity ${managedIdentityClientId}`;
  if (has('AZURE_TENANT_ID') && has('AZURE_CLIENT_ID') && (has('AZURE_CLIENT_SECRET') || has('AZURE_CLIENT_CERTIFICATE_PATH'))) {
    return 'a service principal from the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret or certificate are set)';
  }
  if (has('AZURE_FEDERATED_TOKEN_FILE') && has('AZURE_CLIENT_ID')) return `workload identity (AZURE_FEDERATED_TOKEN_FILE is set) for client ${env['AZURE_CLIENT_ID']}`;
  if (has('IDENTITY_ENDPOINT') && has('IDENTITY_HEADER')) return `${managedIdentity} from App Service / Container Apps (IDENTITY_ENDPOINT is set)`;
  if (has('MSI_ENDPOINT')) return `${managedIdentity} (MSI_ENDPOINT is set)`;
  return `${managedIdentity} from the instance metadata service (on an Azure VM or AKS node), else the account signed in to the Azure CLI (az login)`;
}

/** One line per fact, for people; never a secret. */
export function describeStorage(target: StorageTarget, env: NodeJS.ProcessEnv): string[] {
  switch (target.kind) {
    case 'embedded-emulator':
      return [
        `storage: the embedded Azurite (development only) on 127.0.0.1, ports ${target.blobPort}/${target.queuePort}/${target.tablePort} (blob/queue/table), workspace ${target.location}`,
      ];
    case 'connection-string':
      return ['storage: a connection string (a shared key or a SAS); the account must allow shared-key access, or the SAS must grant queues, tables and blobs'];
    case 'account':
      return [
        `storage: the shared key of account ${target.accountName} (credential "key"); the account must allow shared-key access`,
        `storage: ${target.urls.queue}, ${target.urls.table}, ${target.urls.blob}`,
      ];
    case 'entra-id':
      return [
        `storage: Microsoft Entra ID for account ${target.accountName} (credential "default"): DefaultAzureCredential asks for a token for ${STORAGE_SCOPE}`,
        `storage: in this environment it will use ${defaultCredentialSource(env, target.managedIdentityClientId)}`,
        `storage: the identity needs these roles on the account: ${STORAGE_ROLES.join(', ')}`,
        `storage: ${target.urls.queue}, ${target.urls.table}, ${target.urls.blob}`,
      ];
    default:
      throw new Error(`unhandled storage target ${(target satisfies never as { kind: string }).kind}`);
  }
}
