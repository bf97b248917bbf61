/**
 * The operators' dashboard, `GET /ui`: static files of the package (src/ui, copied beside the
 * compiled code by `npm run build`), read once when the ingress is built and served from memory.
 * Only the files found then are served, by exact name: no path from a request ever reaches the
 * file system, so `..`, encoded slashes and the like name no file.
 *
 * The page itself is public (it holds no data); everything it shows comes from the API with the
 * user's token, under the same RBAC as any client. Every answer carries a strict
 * Content-Security-Policy: the page's own scripts and styles only, nothing inline, no framing, and
 * connections to this origin and, under auth "oidc", to the OpenID provider's (discovery and the
 * token endpoint of the sign-in). Under "oidc" the page is refused where openid.config's
 * ssl-required refuses the API: a page that signs users in must not travel over plain HTTP, where
 * anyone on the way could change its scripts and take the tokens.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OpenIdOptions } from '../../config/types.js';
import type { Logger } from '../../observability/log.js';
import { isTransportAllowed } from '../auth.js';
import { HttpProblem } from '../problem.js';
import { createRouter, type IngressContext, type IngressRouter } from '../state.js';

/** What the page learns from `/ui/config.json` before anyone signs in: nothing secret. */
export type UiSettings =
  | { auth: 'none' }
  /** `issuer` is `{auth-server-url}/realms/{realm}`; `clientId` the public client (ui.config.clientId), null when none is configured. */
  | { auth: 'oidc'; issuer: string; clientId: string | null };

export interface UiRoutesDeps {
  ui: UiSettings;
  /** Under auth "oidc": where https is required (the API's own rule); null under "none". */
  auth: { openid: Pick<OpenIdOptions, 'sslRequired'> } | null;
  log: Logger;
}

/** Where `npm run build` puts the dashboard's files: dist/src/ui, beside dist/src/ingress. */
export const UI_DIRECTORY = fileURLToPath(new URL('../../ui/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface UiFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** The files of `directory` the dashboard may serve (known types, no folders), by name. */
function readUiFiles(directory: string, log: Logger): ReadonlyMap<string, UiFile> {
  const files = new Map<string, UiFile>();
  let entries: string[];
  try {
    entries = readdirSync(directory, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name);
  } catch (err) {
    log.warn({ err, directory }, 'ui.files_missing');
    return files;
  }
  for (const name of entries) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (type === undefined) continue;
    const body = readFileSync(path.join(directory, name));
    files.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  return files;
}

/** The Content-Security-Policy of every answer under /ui. */
export function uiContentSecurityPolicy(ui: UiSettings): string {
  const connect = ui.auth === 'oidc' ? `'self' ${new URL(ui.issuer).origin}` : "'self'";
  return [
    "default-src 'self'",
    `connect-src ${connect}`,
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function createUiRoutes(deps: UiRoutesDeps): IngressRouter {
  const router = createRouter();
  const files = readUiFiles(UI_DIRECTORY, deps.log);
  const policy = uiContentSecurityPolicy(deps.ui);
  const config = JSON.stringify(deps.ui);

  const secure = (ctx: IngressContext): void => {
    const { client } = ctx.state;
    if (deps.auth && !isTransportAllowed(client.protocol, client.ip, deps.auth.openid.sslRequired)) {
      throw new HttpProblem(403, 'https-required', 'Forbidden', 'HTTPS is required (openid.config.ssl-required)');
    }
    ctx.set('content-security-policy', policy);
    ctx.set('x-frame-options', 'DENY');
    // The sign-in returns with its code in the URL: no other site may see it in a Referer.
    ctx.set('referrer-policy', 'no-referrer');
    ctx.set('cross-origin-opener-policy', 'same-origin');
    ctx.set('cross-origin-resource-policy', 'same-origin');
  };
  const serve = (ctx: IngressContext, name: string): void => {
    secure(ctx);
    const file = files.get(name);
    if (!file) {
      const detail = files.size === 0 ? "the dashboard's files are not installed (npm run build copies src/ui to dist/src/ui)" : `the dashboard has no file "${name}"`;
      throw new HttpProblem(404, 'not-found', 'Not Found', detail);
    }
    // No fingerprints in the names: a browser asks again each time and gets 304 while unchanged.
    ctx.set('cache-control', 'no-cache');
    ctx.etag = file.etag;
    ctx.type = file.type;
    ctx.body = file.body;
    if (ctx.fresh) ctx.status = 304;
  };

  router.get('/ui', (ctx) => serve(ctx, 'index.html'));
  // Before '/ui/:file': made per engine, from its configuration.
  router.get('/ui/config.json', (ctx) => {
    secure(ctx);
    ctx.set('cache-control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = config;
  });
  router.get('/ui/:file', (ctx) => serve(ctx, ctx.params['file'] ?? ''));
  return router;
}
