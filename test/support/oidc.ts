/**
 * A small OpenID provider on 127.0.0.1 for the security tests, laid out as Keycloak publishes a
 * realm ({authServerUrl}/realms/{realm}): discovery, a JWKS, and a token endpoint for the password
 * grant. Tokens are signed with jose; tests mint their own with {@link TestIdp.sign}, valid or not.
 *
 * For the dashboard it also plays Keycloak's part for a public client (`publicClients`): the
 * authorization endpoint with a tiny login form for its users, the authorization code grant with
 * PKCE (S256 only, required, the verifier checked, `redirect_uri` exactly as registered and as
 * sent to the authorization endpoint, each code once and for a minute), refresh tokens (rotated,
 * for renewal), a logout endpoint, and CORS for the client's origins. Its access tokens carry the
 * API's audience (`clientId`, the engine's `resource`) as Keycloak's audience mapper adds it, `azp`
 * the public client, and the user's realm roles.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
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

/** A public client (no secret) that signs users in with the authorization code flow and PKCE. */
export interface PublicClient {
  clientId: string;
  /** The only redirect URIs (and post-logout redirect URIs) it may use, exactly; their origins get CORS. */
  redirectUris: string[];
}

export interface TestIdpOptions {
  realm: string;
  /** The engine's client (its `resource`): the audience of every token. */
  clientId: string;
  clientSecret: string;
  /** User name -> password. */
  users: Record<string, string>;
  /** User name -> realm roles, put in the tokens of the code flow. */
  roles?: Record<string, string[]>;
  publicClients?: PublicClient[];
  /** Fixed port, to start a provider where an engine already expects one. */
  port?: number;
}

/** An answer of the provider: JSON, an HTML page or a redirect. */
interface Answer {
  status: number;
  body?: unknown;
  html?: string;
  headers?: Record<string, string>;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  username: string;
  expiresAt: number;
}

/** How long an authorization code may be exchanged. */
const CODE_LIFETIME_IN_MS = 60_000;
/** RFC 7636: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

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
  /** Codes exchanged for tokens, and refresh-token grants answered, so far. */
  codeGrants = 0;
  refreshGrants = 0;
  readonly #server: Server;
  #key!: SigningKey;
  readonly #publicClients: PublicClient[];
  readonly #codes = new Map<string, IssuedCode>();
  readonly #refreshTokens = new Map<string, { clientId: string; username: string }>();

  private constructor(options: TestIdpOptions) {
    this.options = options;
    this.#publicClients = [...(options.publicClients ?? [])];
    this.#server = createServer((req, res) => {
      void this.#handle(req.method ?? 'GET', req.url ?? '/', req).then(
        ({ status, body, html, headers = {} }) => {
          const cors = this.#corsHeaders(req);
          if (html !== undefined) res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...cors, ...headers }).end(html);
          else if (body === undefined) res.writeHead(status, { ...cors, ...headers }).end();
          else res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...cors, ...headers }).end(JSON.stringify(body));
        },
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

  async #handle(method: string, url: string, req: AsyncIterable<Buffer>): Promise<Answer> {
    const base = `/auth/realms/${this.options.realm}`;
    const path = url.split('?')[0];
    const query = new URLSearchParams(url.split('?')[1] ?? '');
    if (path === `${base}/protocol/openid-connect/auth`) {
      if (method === 'GET') return this.#authorize(query, null);
      if (method === 'POST') return this.#login(await formOf(req));
    }
    if (method === 'GET' && path === `${base}/protocol/openid-connect/logout`) return this.#logout(query);
    if (method === 'GET' && path === `${base}/.well-known/openid-configuration`) {
      return {
        status: 200,
        body: {
          issuer: this.issuer,
          authorization_endpoint: `${this.issuer}/protocol/openid-connect/auth`,
          token_endpoint: `${this.issuer}/protocol/openid-connect/token`,
          end_session_endpoint: `${this.issuer}/protocol/openid-connect/logout`,
          jwks_uri: `${this.issuer}/protocol/openid-connect/certs`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          grant_types_supported: ['password', 'client_credentials', 'authorization_code', 'refresh_token'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic', 'none'],
          code_challenge_methods_supported: ['S256'],
        },
      };
    }
    if (method === 'GET' && path === `${base}/protocol/openid-connect/certs`) return { status: 200, body: { keys: [this.#key.publicJwk] } };
    if (method === 'POST' && path === `${base}/protocol/openid-connect/token`) {
      const form = await formOf(req);
      this.tokenAttempts++;
      const publicClient = this.#publicClient(form.get('client_id'));
      if (publicClient) return this.#publicToken(publicClient, form);
      const { clientId, clientSecret, users } = this.options;
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) return { status: 401, body: { error: 'invalid_client' } };
      if (form.get('grant_type') !== 'password' || users[form.get('username') ?? ''] !== form.get('password')) return { status: 400, body: { error: 'invalid_grant' } };
      this.tokenRequests++;
      const accessToken = await this.sign({ azp: clientId, preferred_username: form.get('username') }, { expiresInSeconds: this.tokenLifetimeInSeconds });
      return { status: 200, body: { access_token: accessToken, token_type: 'Bearer', expires_in: this.tokenLifetimeInSeconds } };
    }
    return { status: 404, body: { error: 'not_found' } };
  }

  /** Registers a public client once its redirect URI is known (an engine on a free port). */
  addPublicClient(client: PublicClient): void {
    this.#publicClients.push(client);
  }

  #publicClient(clientId: string | null): PublicClient | undefined {
    return this.#publicClients.find((c) => c.clientId === clientId);
  }

  /** CORS as Keycloak grants it to a public client's web origins: the origins of its redirect URIs. */
  #corsHeaders(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (!origin) return {};
    const allowed = this.#publicClients.some((c) => c.redirectUris.some((uri) => new URL(uri).origin === origin));
    return allowed ? { 'access-control-allow-origin': origin, vary: 'Origin' } : {};
  }

  /**
   * The authorization endpoint: checks the client, its redirect URI and PKCE before anything, and
   * never redirects to an unregistered URI; then shows the login form (again, with `problem`).
   */
  #authorize(query: URLSearchParams, problem: string | null): Answer {
    const client = this.#publicClient(query.get('client_id'));
    const redirectUri = query.get('redirect_uri') ?? '';
    if (!client) return { status: 400, html: page('Unknown client', '<p>invalid_client</p>') };
    if (!client.redirectUris.includes(redirectUri)) return { status: 400, html: page('Invalid redirect_uri', '<p>invalid_redirect_uri</p>') };
    if (query.get('response_type') !== 'code') return redirectWith(redirectUri, { error: 'unsupported_response_type', state: query.get('state') });
    if (query.get('code_challenge_method') !== 'S256' || !query.get('code_challenge')) {
      return redirectWith(redirectUri, { error: 'invalid_request', error_description: 'PKCE with S256 is required', state: query.get('state') });
    }
    const hidden = ['client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope', 'response_type']
      .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(query.get(name) ?? '')}">`)
      .join('');
    const form =
      `${problem ? `<p role="alert" id="login-problem">${escapeHtml(problem)}</p>` : ''}` +
      `<form method="post">${hidden}<label>User <input name="username" id="username" autocomplete="username"></label> ` +
      `<label>Password <input name="password" id="password" type="password" autocomplete="current-password"></label> ` +
      '<button type="submit" id="login">Sign in</button></form>';
    return { status: 200, html: page(`Sign in to ${this.options.realm}`, form) };
  }

  /** The login form's POST: a code for the redirect URI, or the form again. */
  #login(form: URLSearchParams): Answer {
    const checked = this.#authorize(form, null);
    if (checked.status !== 200) return checked;
    const username = form.get('username') ?? '';
    if (this.options.users[username] === undefined || this.options.users[username] !== form.get('password')) {
      return this.#authorize(form, 'Invalid username or password.');
    }
    const code = randomBytes(24).toString('base64url');
    const redirectUri = form.get('redirect_uri') ?? '';
    this.#codes.set(code, {
      clientId: form.get('client_id') ?? '',
      redirectUri,
      challenge: form.get('code_challenge') ?? '',
      username,
      expiresAt: Date.now() + CODE_LIFETIME_IN_MS,
    });
    return redirectWith(redirectUri, { code, state: form.get('state'), iss: this.issuer });
  }

  #logout(query: URLSearchParams): Answer {
    const client = this.#publicClient(query.get('client_id'));
    const target = query.get('post_logout_redirect_uri');
    if (!client || target === null || !client.redirectUris.includes(target)) return { status: 400, html: page('Invalid logout', '<p>invalid_request</p>') };
    return { status: 302, headers: { location: target } };
  }

  /** The token endpoint for a public client: the code grant with its PKCE verifier, or a refresh. */
  async #publicToken(client: PublicClient, form: URLSearchParams): Promise<Answer> {
    const refused = (description: string): Answer => ({ status: 400, body: { error: 'invalid_grant', error_description: description } });
    let username: string;
    if (form.get('grant_type') === 'authorization_code') {
      const code = this.#codes.get(form.get('code') ?? '');
      // A code is used once, right or wrong.
      this.#codes.delete(form.get('code') ?? '');
      if (!code || code.clientId !== client.clientId || code.expiresAt < Date.now()) return refused('the code is unknown, used or expired');
      if (form.get('redirect_uri') !== code.redirectUri) return refused('redirect_uri differs from the authorization request');
      const verifier = form.get('code_verifier') ?? '';
      if (!VERIFIER.test(verifier) || s256(verifier) !== code.challenge) return refused('PKCE verification failed');
      this.codeGrants++;
      username = code.username;
    } else if (form.get('grant_type') === 'refresh_token') {
      const token = form.get('refresh_token') ?? '';
      const session = this.#refreshTokens.get(token);
      this.#refreshTokens.delete(token);
      if (!session || session.clientId !== client.clientId) return refused('the refresh token is unknown or used');
      this.refreshGrants++;
      username = session.username;
    } else {
      return { status: 400, body: { error: 'unsupported_grant_type' } };
    }
    const refreshToken = randomBytes(32).toString('base64url');
    this.#refreshTokens.set(refreshToken, { clientId: client.clientId, username });
    const claims = { sub: `user-${username}`, preferred_username: username, azp: client.clientId };
    const accessToken = await this.sign(
      { ...claims, aud: [this.options.clientId], typ: 'Bearer', scope: 'openid', realm_access: { roles: this.options.roles?.[username] ?? [] } },
      { expiresInSeconds: this.tokenLifetimeInSeconds },
    );
    const idToken = await this.sign({ ...claims, aud: client.clientId, typ: 'ID' }, { expiresInSeconds: this.tokenLifetimeInSeconds });
    return {
      status: 200,
      body: { access_token: accessToken, token_type: 'Bearer', expires_in: this.tokenLifetimeInSeconds, refresh_token: refreshToken, refresh_expires_in: 1800, id_token: idToken, scope: 'openid' },
    };
  }
}

/** The form of a POST body. */
async function formOf(req: AsyncIterable<Buffer>): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

/** 302 to `uri` with the parameters that are set. */
function redirectWith(uri: string, params: Record<string, string | null>): Answer {
  const target = new URL(uri);
  for (const [name, value] of Object.entries(params)) if (value !== null) target.searchParams.set(name, value);
  return { status: 302, headers: { location: target.toString() } };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** base64url(SHA-256(verifier)): the S256 code challenge of RFC 7636. */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}
