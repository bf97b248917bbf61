/**
 * Sign-in under auth "oidc": the authorization code flow with PKCE (S256) against the realm of
 * openid.config, as the public client ui.config.clientId (no secret).
 *
 * - The access token and the refresh token live in this module's memory only, never in storage:
 *   a reload or a new tab signs in again (the provider's own session usually makes that one click).
 * - The code verifier and the state are kept in sessionStorage for the redirect round trip only
 *   (the page is gone while the provider shows its login form), and removed as the page returns.
 * - The token is renewed with the refresh token before it expires (at three quarters of its life,
 *   at most 30 s before the end), and again on demand when a call finds it about to expire.
 */

const PENDING_KEY = 'async-engine.ui.pkce';
/** Renew this long before the end at most (a quarter of a short life otherwise). */
const RENEW_BEFORE_IN_MS = 30_000;
/** A call that finds less than this left renews first. */
const MIN_LEFT_IN_MS = 5_000;

function base64url(bytes) {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText(byteCount) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

/** The claims of a JWT, for display only (the engine verifies tokens; the page never trusts them). */
function claimsOf(jwt) {
  try {
    const payload = atob((jwt.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(payload, (c) => c.charCodeAt(0))));
  } catch {
    return {};
  }
}

async function postForm(url, fields) {
  const response = await fetch(url, { method: 'POST', body: new URLSearchParams(fields), credentials: 'omit', cache: 'no-store' });
  let body = {};
  try {
    body = await response.json();
  } catch {
    // A provider's error page: the status says enough.
  }
  if (!response.ok) throw new Error(`the provider refused (${response.status} ${body.error ?? ''}${body.error_description ? `: ${body.error_description}` : ''})`);
  return body;
}

export class OidcSession {
  /** @type {{ accessToken: string, refreshToken: string | null, idToken: string | null, expiresAt: number } | null} */
  #tokens = null;
  #metadata = null;
  #timer = 0;
  #renewing = null;
  #issuer;
  #clientId;
  #redirectUri;
  #onChange;

  /**
   * @param {{ issuer: string, clientId: string, redirectUri: string, onChange: () => void }} options
   */
  constructor({ issuer, clientId, redirectUri, onChange }) {
    this.#issuer = issuer;
    this.#clientId = clientId;
    this.#redirectUri = redirectUri;
    this.#onChange = onChange;
  }

  get isSignedIn() {
    return this.#tokens !== null;
  }

  /** Who is signed in, for the header. */
  get userName() {
    const claims = this.#tokens ? claimsOf(this.#tokens.accessToken) : {};
    return claims.preferred_username ?? claims.name ?? claims.sub ?? '';
  }

  /** The roles the token carries (realm roles), for display only. */
  get roles() {
    const claims = this.#tokens ? claimsOf(this.#tokens.accessToken) : {};
    return Array.isArray(claims.realm_access?.roles) ? claims.realm_access.roles : [];
  }

  async #discover() {
    if (!this.#metadata) {
      const response = await fetch(`${this.#issuer}/.well-known/openid-configuration`, { credentials: 'omit' });
      if (!response.ok) throw new Error(`the OpenID provider's discovery answered ${response.status}`);
      this.#metadata = await response.json();
    }
    return this.#metadata;
  }

  /**
   * Finishes a sign-in when the page comes back from the provider with a code (or an error).
   * Returns the hash the user was on when the sign-in began, or null when this page load is no
   * return from the provider.
   */
  async completeSignIn() {
    const query = new URLSearchParams(location.search);
    if (!query.has('code') && !query.has('error')) return null;
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null');
    sessionStorage.removeItem(PENDING_KEY);
    // The code is used once; the address bar no longer shows it.
    history.replaceState(null, '', `${location.pathname}${pending?.returnTo ?? ''}`);
    if (!pending || pending.state !== query.get('state')) throw new Error('the sign-in came back with an unexpected state: start it again');
    if (query.has('error')) throw new Error(`the provider refused the sign-in: ${query.get('error_description') ?? query.get('error')}`);
    const metadata = await this.#discover();
    const answer = await postForm(metadata.token_endpoint, {
      grant_type: 'authorization_code',
      code: query.get('code') ?? '',
      redirect_uri: this.#redirectUri,
      client_id: this.#clientId,
      code_verifier: pending.verifier,
    });
    this.#accept(answer);
    return pending.returnTo ?? '';
  }

  /** Leaves for the provider's login page; the page returns to `redirectUri` with a code. */
  async signIn() {
    if (!crypto.subtle) throw new Error('signing in needs a secure page (https, or http on localhost) for PKCE');
    const metadata = await this.#discover();
    const verifier = randomText(48);
    const state = randomText(24);
    const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, returnTo: location.hash }));
    const url = new URL(metadata.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: this.#clientId,
      redirect_uri: this.#redirectUri,
      scope: 'openid',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    location.assign(url.toString());
  }

  /** Forgets the tokens; ends the provider's session too when it offers a logout endpoint. */
  async signOut() {
    const idToken = this.#tokens?.idToken ?? null;
    this.#forget();
    const endpoint = this.#metadata?.end_session_endpoint;
    if (endpoint) {
      const url = new URL(endpoint);
      url.searchParams.set('client_id', this.#clientId);
      url.searchParams.set('post_logout_redirect_uri', this.#redirectUri);
      if (idToken) url.searchParams.set('id_token_hint', idToken);
      location.assign(url.toString());
    }
  }

  /** The access token, renewed first when it is about to expire; null when signed out. */
  async token() {
    if (this.#tokens && this.#tokens.expiresAt - Date.now() < MIN_LEFT_IN_MS) await this.renew();
    return this.#tokens?.accessToken ?? null;
  }

  /** Renews the token with the refresh token; one renewal at a time. A refusal signs out. */
  renew() {
    this.#renewing ??= (async () => {
      try {
        const refreshToken = this.#tokens?.refreshToken;
        if (!refreshToken) throw new Error('no refresh token');
        const metadata = await this.#discover();
        this.#accept(await postForm(metadata.token_endpoint, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: this.#clientId }));
      } catch {
        this.#forget();
      } finally {
        this.#renewing = null;
      }
    })();
    return this.#renewing;
  }

  #accept(answer) {
    if (typeof answer.access_token !== 'string') throw new Error('the provider answered without an access token');
    const lifeInMs = Math.max(1, Number(answer.expires_in) || 60) * 1000;
    this.#tokens = {
      accessToken: answer.access_token,
      refreshToken: typeof answer.refresh_token === 'string' ? answer.refresh_token : (this.#tokens?.refreshToken ?? null),
      idToken: typeof answer.id_token === 'string' ? answer.id_token : (this.#tokens?.idToken ?? null),
      expiresAt: Date.now() + lifeInMs,
    };
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.renew(), lifeInMs - Math.min(RENEW_BEFORE_IN_MS, lifeInMs / 4));
    this.#onChange();
  }

  #forget() {
    clearTimeout(this.#timer);
    const wasSignedIn = this.#tokens !== null;
    this.#tokens = null;
    if (wasSignedIn) this.#onChange();
  }
}
