/**
 * A managed identity endpoint on 127.0.0.1 speaking the App Service / Container Apps protocol
 * (`IDENTITY_ENDPOINT` and `IDENTITY_HEADER`), so that @azure/identity's ManagedIdentityCredential
 * inside DefaultAzureCredential does exactly what it does on Azure. It hands out Entra ID-shaped
 * access tokens that Azurite's `--oauth basic` accepts (it checks issuer, audience and lifetime).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';

export interface TokenRequest {
  resource: string | null;
  clientId: string | null;
  apiVersion: string | null;
  /** Whether the request carried the right X-IDENTITY-HEADER. */
  isAuthorized: boolean;
}

export interface ManagedIdentityOptions {
  /** The token's audience; by default the resource asked for (what Entra ID does). */
  audience?: string;
}

export class ManagedIdentityEndpoint {
  readonly requests: TokenRequest[] = [];
  /** The tenant in the tokens' issuer. */
  readonly tenantId = randomUUID();
  readonly #server: Server;
  readonly #header = randomBytes(16).toString('hex');
  readonly #signingKey = randomBytes(32);
  readonly #audience: string | undefined;

  private constructor(server: Server, { audience }: ManagedIdentityOptions) {
    this.#server = server;
    this.#audience = audience;
    server.on('request', (req, res) => void this.#answer(req, res));
  }

  static async start(options: ManagedIdentityOptions = {}): Promise<ManagedIdentityEndpoint> {
    const server = createServer();
    const endpoint = new ManagedIdentityEndpoint(server, options);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return endpoint;
  }

  /** The variables App Service and Container Apps set in a container with a managed identity. */
  get env(): { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string } {
    const { port } = this.#server.address() as AddressInfo;
    return { IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: this.#header };
  }

  async #answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const request: TokenRequest = {
      resource: url.searchParams.get('resource'),
      clientId: url.searchParams.get('client_id'),
      apiVersion: url.searchParams.get('api-version'),
      isAuthorized: req.headers['x-identity-header'] === this.#header,
    };
    this.requests.push(request);
    const reply = (status: number, body: object): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'GET' || url.pathname !== '/msi/token') return reply(404, { error: 'not_found' });
    if (!request.isAuthorized) return reply(401, { error: 'unauthorized', error_description: 'X-IDENTITY-HEADER is missing or wrong' });
    if (request.resource === null) return reply(400, { error: 'invalid_request', error_description: 'resource is required' });
    const now = Math.floor(Date.now() / 1000);
    const expiresOn = now + 3600;
    const accessToken = await new SignJWT({ oid: randomUUID(), tid: this.tenantId, ...(request.clientId ? { appid: request.clientId } : {}) })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(`https://sts.windows.net/${this.tenantId}/`)
      .setAudience(this.#audience ?? request.resource)
      .setIssuedAt(now)
      .setNotBefore(now - 60)
      .setExpirationTime(expiresOn)
      .sign(this.#signingKey);
    reply(200, { access_token: accessToken, expires_on: String(expiresOn), resource: request.resource, token_type: 'Bearer', ...(request.clientId ? { client_id: request.clientId } : {}) });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}
