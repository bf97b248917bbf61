/**
 * The dashboard under auth "oidc", in a real browser: the sign-in with the authorization code flow
 * and PKCE against the test provider, the token kept in memory and renewed before it expires, the
 * sign-out, and a user whose token lacks the DLQ's role seeing the API's refusal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { browserSuite, DESKTOP, NO_BROWSER, PHONE } from '../support/browser.js';
import { engineSuite, flowDocument, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { TestIdp } from '../support/oidc.js';

const UI_CLIENT = 'async-engine-ui';
const USERS = { olivia: 'olivia-pw', victor: 'victor-pw' };
const UI_TIMEOUT_IN_MS = 20_000;

async function textOf(locator: Locator): Promise<string> {
  return (await locator.textContent()) ?? '';
}

describe('the dashboard signs in with OpenID Connect (auth "oidc")', { skip: NO_BROWSER }, () => {
  const suite = engineSuite();
  const browser = browserSuite();
  let idp: TestIdp;
  let e: TestEngine;

  before(async () => {
    idp = await TestIdp.start({
      realm: 'operators',
      clientId: 'async-engine',
      clientSecret: 's3cret',
      users: USERS,
      // Olivia operates; Victor only looks.
      roles: { olivia: ['viewer', 'operator'], victor: ['viewer'] },
    });
    const endpoint = await suite.endpoint();
    e = await suite.engine(
      flowDocument(suite.azurite, {
        flowName: 'billing',
        steps: [{ url: endpoint.url() }],
        extra: {
          'server.config': { auth: 'oidc' },
          'openid.config': { realm: 'operators', 'auth-server-url': idp.authServerUrl, resource: 'async-engine' },
          'rbac.config': {
            apiMappings: [
              { url: '/api', roles: ['viewer', 'operator'] },
              { url: '/api/dlq', roles: ['operator'] },
            ],
          },
          'ui.config': { clientId: UI_CLIENT },
        },
      }),
    );
    // The redirect URI is the engine's /ui, known once it listens.
    idp.addPublicClient({ clientId: UI_CLIENT, redirectUris: [`${e.url}/ui`] });
  });
  after(() => idp.close());

  /** Opens the dashboard at `hash`, signs in as `user` on the provider's form, and waits for the page to come back. */
  async function signIn(page: Page, user: keyof typeof USERS, hash = ''): Promise<void> {
    await page.goto(`${e.url}/ui${hash}`);
    await page.locator('#sign-in').click();
    await page.locator('#username').waitFor({ timeout: UI_TIMEOUT_IN_MS });
    assert.equal(new URL(page.url()).origin, new URL(idp.issuer).origin, "the provider's own login page");
    await page.locator('#username').fill(user);
    await page.locator('#password').fill(USERS[user]);
    await page.locator('#login').click();
    await page.locator('#session .user').waitFor({ timeout: UI_TIMEOUT_IN_MS });
  }

  it('signs in with the code flow and PKCE, keeps the token in memory only, and renews it before it expires', async () => {
    // A short life, so that the renewal (at three quarters of it) comes within the test.
    idp.tokenLifetimeInSeconds = 4;
    const { page, context, problems } = await browser.open(DESKTOP);
    try {
      const codeGrants = idp.codeGrants;
      await signIn(page, 'olivia');
      assert.equal(idp.codeGrants, codeGrants + 1);
      assert.equal(await textOf(page.locator('#session .user')), 'olivia');
      await page.locator('article.flow[data-flow="billing"] svg.chart').waitFor({ timeout: UI_TIMEOUT_IN_MS });
      // The address bar no longer holds the code; nothing of the sign-in is stored.
      assert.equal(new URL(page.url()).search, '');
      assert.deepEqual(await page.evaluate<number[]>('[sessionStorage.length, localStorage.length, document.cookie.length]'), [0, 0, 0]);
      await browser.screenshot(page, 'signed-in-desktop');

      const refreshGrants = idp.refreshGrants;
      await eventually(() => assert.ok(idp.refreshGrants > refreshGrants, 'renewed with the refresh token'), { timeoutInMs: UI_TIMEOUT_IN_MS });
      // Still signed in, and the page's next calls go through with the new token.
      await page.locator('#nav a[data-view="requests"]').click();
      await page.locator('table.requests').waitFor({ timeout: UI_TIMEOUT_IN_MS });
      assert.equal(await page.locator('.problem:not([hidden])').count(), 0);
      assert.equal(await textOf(page.locator('#session .user')), 'olivia');
      assert.deepEqual(problems, []);

      await page.locator('#sign-out').click();
      await page.locator('#sign-in').waitFor({ timeout: UI_TIMEOUT_IN_MS });
      assert.equal(new URL(page.url()).pathname, '/ui', "back from the provider's logout");
    } finally {
      idp.tokenLifetimeInSeconds = 300;
      await context.close();
    }
  });

  it('shows a user without the DLQ role that the API refuses, and why', async () => {
    const { page, context } = await browser.open(PHONE);
    try {
      await signIn(page, 'victor', '#/dlq');
      const section = page.locator('section.dlq-flow[data-flow="billing"]');
      await section.locator('.problem:not([hidden])').waitFor({ timeout: UI_TIMEOUT_IN_MS });
      const refusal = await textOf(section.locator('.problem'));
      assert.match(refusal, /403 Forbidden/);
      assert.match(refusal, /lacks a role that rbac\.config requires/);
      assert.equal(await section.locator('button[data-action="replay-flow"]').isDisabled(), true);
      await browser.screenshot(page, 'dlq-refused-phone');
      // The same user reads the flows, which the viewer role covers.
      await page.locator('#nav a[data-view="flows"]').click();
      await page.locator('article.flow[data-flow="billing"]').waitFor({ timeout: UI_TIMEOUT_IN_MS });
    } finally {
      await context.close();
    }
  });

  it('says so when the provider refuses the sign-in, and offers it again', async () => {
    const { page, context } = await browser.open(DESKTOP);
    try {
      await page.goto(`${e.url}/ui`);
      await page.locator('#sign-in').click();
      await page.locator('#username').waitFor({ timeout: UI_TIMEOUT_IN_MS });
      // Back at the dashboard with an error and a state it never sent (as a forged return would be).
      await page.goto(`${e.url}/ui?error=access_denied&state=forged`);
      await page.locator('.sign-in .error-text').waitFor({ timeout: UI_TIMEOUT_IN_MS });
      assert.match(await textOf(page.locator('.sign-in .error-text')), /unexpected state/);
      assert.equal(await page.locator('#sign-in').isVisible(), true);
    } finally {
      await context.close();
    }
  });
});
