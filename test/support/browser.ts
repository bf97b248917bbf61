/**
 * A real browser for the dashboard's tests: Debian's Chromium (`apt-get install -y chromium`, which
 * .ci/run does) driven by playwright-core, which downloads no browser of its own. One browser per
 * test file; pages collect what would reach the console as an error, and screenshots go to a
 * temporary folder (kept, and named in the test's output, when ASYNC_ENGINE_UI_SCREENSHOTS names
 * a folder to put them in).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/**
 * Headless, as root, on a machine whose network is closed: without the background-networking flags
 * Chromium keeps trying to reach Google's hosts. Playwright gives each launch a new, empty profile.
 */
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why the browser tests cannot run here, or undefined when they can (for `describe(..., { skip })`). */
export const NO_BROWSER = existsSync(CHROMIUM_PATH) ? undefined : `no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium, or set CHROMIUM_PATH)`;

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** A page and what went wrong in it: console errors, uncaught exceptions, failed loads. */
export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  problems: string[];
}

export interface BrowserSuite {
  readonly browser: Browser;
  /** A page in a context of its own (its own storage), watched for console errors. */
  open(viewport?: { width: number; height: number }): Promise<WatchedPage>;
  /** Saves a PNG of the page under the suite's folder; returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  readonly screenshotDir: string;
}

/** Registers before/after hooks in the current describe block: one browser for the suite. */
export function browserSuite(): BrowserSuite {
  let browser: Browser | undefined;
  let dir = '';
  const keep = process.env['ASYNC_ENGINE_UI_SCREENSHOTS'];
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS });
    if (keep) {
      await mkdir(keep, { recursive: true });
      dir = keep;
    } else {
      dir = await mkdtemp(path.join(os.tmpdir(), 'ae-ui-'));
    }
  });
  after(async () => {
    await browser?.close();
    if (!keep && dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    get browser() {
      if (!browser) throw new Error('the suite has not started yet');
      return browser;
    },
    get screenshotDir() {
      return dir;
    },
    async open(viewport = DESKTOP) {
      if (!browser) throw new Error('the suite has not started yet');
      const context = await browser.newContext({ viewport, colorScheme: 'light' });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url})`);
      });
      page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
      page.on('requestfailed', (request) => {
        const reason = request.failure()?.errorText ?? '';
        // A request cut off by a navigation (a reload, the way to the sign-in page) failed nothing.
        if (reason !== 'net::ERR_ABORTED') problems.push(`request failed: ${request.url()} ${reason}`);
      });
      return { page, context, problems };
    },
    async screenshot(page, name) {
      const file = path.join(dir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
  };
}
