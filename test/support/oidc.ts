/**
 * A small OpenID provider on 127.0.0.1 for the security tests, laid out as Keycloak publishes a
 * realm ({authServerUrl}/realms/{realm}): discovery, a JWKS, and a token endpoint for the password
 * grant. Tokens are signed with jose; tests mint their own with {@link TestIdp.sign}, valid or not.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface SignOptions {
  /** Default: the current key's id. */
  kid?: string;
  /** Default: the current private key. */
  key?: CryptoKey | Uint8Array;
  alg?: string;
  /** Seconds until exp; default 300. */
  expiresInSeconds?: number;
  /** The header's typ; default JWT. */
  typ?: string;
}

export interface TestIdpOptions {
  realm: string;
  clientId: string;
  clientSecret: string;
  users: Record<string, string>;
  /** Fixed port, to start a provider where an engine already expects one. */
  port?: number;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export class TestIdp {
  readonly options: TestIdpOptions;
  /** Password-grant requests answered with a token so far. */
  tokenRequests = 0;
  /** Requests to the token endpoint so far, refused ones included. */
  tokenAttempts = 0;
  /** Lifetime of the tokens of the token endpoint, in seconds. */
  tokenLifetimeInSeconds = 300;
  readonly #server: Server;
  #key!: SigningKey;

  private constructor(options: TestIdpOptions) {
    this.options = options;
    this.#server = createServer((req, res) => {
      void this.#handle(req.method ?? 'GET', req.url ?? '/', req).then(
        ({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
  }

  static async start(options: TestIdpOptions): Promise<TestIdp> {
    const idp = new TestIdp(options);
    idp.#key = await newKey();
    idp.#server.listen(options.port ?? 0, '127.0.0.1');
    await once(idp.#server, 'listening');
    return idp;
  }

  get authServerUrl(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/auth`;
  }

  get issuer(): string {
    return `${this.authServerUrl}/realms/${this.options.realm}`;
  }

  get publicJwk(): JWK {
    return this.#key.publicJwk;
  }

  /** A new signing key; the JWKS then publishes only it. */
  async rotate(): Promise<void> {
    this.#key = await newKey();
  }

  /** A token for `claims`, by default from this issuer for the client, signed with the current key. */
  async sign(claims: JWTPayload, options: SignOptions = {}): Promise<string> {
    const alg = options.alg ?? 'RS256';
    const jwt = new SignJWT({ iss: this.issuer, aud: this.options.clientId, sub: 'user-1', ...claims })
      .setProtectedHeader({ alg, kid: options.kid ?? this.#key.kid, typ: options.typ ?? 'JWT' })
      .setIssuedAt()
      .setJti(randomUUID());
    if (claims.exp === undefined) jwt.setExpirationTime(`${options.expiresInSeconds ?? 300}s`);
    return jwt.sign(options.key ?? this.#key.privateKey);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(method: string, url: string, req: AsyncIterable<Buffer>): Promise<{ status: number; body: unknown }> {
    const base = `/auth/realms/${this.options.realm}`;
    const path = url.split('?')[0];
    if (method === 'GET' && path === `${base}/.well-known/openid-configuration`) {
      return {
        status: 200,
        body: {
          issuer: this.issuer,
          authorization_endpoint: `${this.issuer}/protocol/openid-connect/auth`,
          token_endpoint: `${this.issuer}/protocol/openid-connect/token`,
          jwks_uri: `${this.issuer}/protocol/openid-connect/certs`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          grant_types_supported: ['password', 'client_credentials'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
        },
      };
    }
    if (method === 'GET' && path === `${base}/protocol/openid-connect/certs`) return { status: 200, body: { keys: [this.#key.publicJwk] } };
    if (method === 'POST' && path === `${base}/protocol/openid-connect/token`) {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk);
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      this.tokenAttempts++;
      const { clientId, clientSecret, users } = this.options;
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) return { status: 401, body: { error: 'invalid_client' } };
      if (form.get('grant_type') !== 'password' || users[form.get('username') ?? ''] !== form.get('password')) return { status: 400, body: { error: 'invalid_grant' } };
      this.tokenRequests++;
      const accessToken = await this.sign({ azp: clientId, preferred_username: form.get('username') }, { expiresInSeconds: this.tokenLifetimeInSeconds });
      return { status: 200, body: { access_token: accessToken, token_type: 'Bearer', expires_in: this.tokenLifetimeInSeconds } };
    }
    return { status: 404, body: { error: 'not_found' } };
  }
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}
