/**
 * The dashboard in a real browser, under auth "none": an engine on Azurite with one flow whose
 * second step can be told to refuse, so that requests complete or are dead-lettered on demand.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { browserSuite, DESKTOP, NO_BROWSER, PHONE, type WatchedPage } from '../support/browser.js';
import { engineSuite, flowDocument, submit, waitForStatus, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

/** What a locator's element says (its text, as the DOM has it). */
async function textOf(locator: Locator): Promise<string> {
  return (await locator.textContent()) ?? '';
}

/** Generous: two cores shared with the rest of the suite. */
const UI_TIMEOUT_IN_MS = 20_000;

describe('the dashboard (auth "none")', { skip: NO_BROWSER }, () => {
  const suite = engineSuite();
  const browser = browserSuite();
  let e: TestEngine;
  let document: Record<string, unknown>;
  let desktop: WatchedPage;
  /** While true, step 1 answers 400, which is dead-lettered at once. */
  let refusing = false;
  /** Step 1 holds a body that says "hold" until the test lets it go. */
  let letGo: () => void = () => undefined;
  let held = Promise.resolve();

  before(async () => {
    const first = await suite.endpoint();
    const second = await suite.endpoint(async (call) => {
      if (call.body.includes('hold')) await held;
      return refusing ? { status: 400, body: 'refused by the test' } : { body: call.body, contentType: 'application/json' };
    });
    document = flowDocument(suite.azurite, {
      flowName: 'orders',
      steps: [{ url: first.url('/validate') }, { url: second.url('/fulfil') }],
      extra: { 'redelivery.config': { default: { count: 0, delay: 0 } } },
    });
    e = await suite.engine(document);
    desktop = await browser.open(DESKTOP);
  });

  /** Submits `body` and waits until the request is completed, or dead-lettered while `refusing`. */
  async function request(body: string, { refused = false } = {}): Promise<string> {
    refusing = refused;
    const id = await submit(e, 'orders', body);
    await waitForStatus(e, id, refused ? 'dead-lettered' : 'completed');
    return id;
  }

  /** Submits `body` while step 1 refuses, and waits until its DLQ entry is there. */
  async function deadLetter(body: string): Promise<string> {
    const id = await request(body, { refused: true });
    // The status row is written before the entry (settle.ts): wait for the entry itself.
    await eventually(
      async () => {
        const listed = (await (await fetch(`${e.url}/api/dlq?flow=orders`)).json()) as { items: Array<{ requestId: string }> };
        assert.ok(listed.items.some((item) => item.requestId === id));
      },
      { timeoutInMs: UI_TIMEOUT_IN_MS },
    );
    return id;
  }

  /** Opens the dashboard at `hash`, afresh: the same address again would be no navigation at all. */
  async function goto(page: Page, hash: string): Promise<void> {
    const target = `${e.url}/ui${hash}`;
    if (page.url() === target) await page.reload();
    else await page.goto(target);
  }

  it('loads with no console error, and shows the flows with their steps and a chart', async () => {
    await request('{"order":1}');
    const { page, problems } = desktop;
    await goto(page, '');
    const flow = page.locator('article.flow[data-flow="orders"]');
    await flow.locator('svg.chart').waitFor({ timeout: UI_TIMEOUT_IN_MS });
    assert.equal(await flow.locator('tbody tr').count(), 2);
    assert.match(await textOf(flow.locator('h2')), /orders/);
    // The completed request is in this process's series (the row settles just after the status).
    await eventually(async () => assert.equal(await textOf(flow.locator('.stat-value').first()), '1'), { timeoutInMs: UI_TIMEOUT_IN_MS });
    assert.match(await textOf(page.locator('.note')), /role all/);
    await browser.screenshot(page, 'flows-desktop');
    assert.deepEqual(problems, []);
  });

  it('shows a submitted request in the list, and its page once completed, with its result', async () => {
    const { page, problems } = desktop;
    const id = await request('{"order":"list-me"}');
    await goto(page, '#/requests?flow=orders');
    await page.locator(`tr[data-request="${id}"]`).waitFor({ timeout: UI_TIMEOUT_IN_MS });
    await browser.screenshot(page, 'requests-desktop');
    await page.locator(`tr[data-request="${id}"] a`).click();
    await page.locator('.view-head .badge-completed').waitFor({ timeout: UI_TIMEOUT_IN_MS });
    await page.locator('#show-result').click();
    await page.locator('.result-body').waitFor({ timeout: UI_TIMEOUT_IN_MS });
    assert.match(await textOf(page.locator('.result-body')), /"order": "list-me"/);
    await browser.screenshot(page, 'request-desktop');
    assert.deepEqual(problems, []);
  });

  it('follows a request on its way, by itself, until it is completed', async () => {
    const { page, problems } = desktop;
    held = new Promise((resolve) => {
      letGo = resolve;
    });
    refusing = false;
    const id = await submit(e, 'orders', '{"order":"hold"}');
    await goto(page, `#/requests/${id}`);
    const state = page.locator('.view-head .badge');
    await state.waitFor({ timeout: UI_TIMEOUT_IN_MS });
    assert.match(await textOf(state), /^(queued|processing)$/, 'the endpoint holds the request: it cannot be completed yet');
    assert.match(await textOf(page.locator('.result')), /still on its way/);
    letGo();
    await page.locator('.view-head .badge-completed').waitFor({ timeout: UI_TIMEOUT_IN_MS });
    assert.equal(await page.locator('#show-result').isVisible(), true);
    assert.deepEqual(problems, []);
  });

  it('finds a request by its id', async () => {
    const { page } = desktop;
    const id = await request('{"order":"search-me"}');
    await goto(page, '#/requests');
    await page.locator('input[name="id"]').fill(id);
    await page.locator('form.search button').click();
    await page.locator('.view-head .badge-completed').waitFor({ timeout: UI_TIMEOUT_IN_MS });
    assert.match(await textOf(page.locator('.view-head h1')), new RegExp(id));
  });

  it('shows a dead-lettered request in the DLQ; replaying it from the page sends it through and removes the entry', async () => {
    const { page } = desktop;
    const id = await deadLetter('{"order":"replay-me"}');
    await goto(page, '#/dlq?flow=orders');
    const entry = page.locator(`article.entry[data-request="${id}"]`);
    await entry.waitFor({ timeout: UI_TIMEOUT_IN_MS });
    assert.match(await textOf(entry), /exhausted/);
    assert.match(await textOf(entry), /400/);
    await browser.screenshot(page, 'dlq-desktop');
    refusing = false;
    await entry.locator('button[data-action="replay"]').click();
    // The confirmation first: cancelling it changes nothing.
    await page.locator('dialog[open] button[value="cancel"]').click();
    assert.equal(await entry.count(), 1);
    await entry.locator('button[data-action="replay"]').click();
    await browser.screenshot(page, 'dlq-confirm-desktop');
    await page.locator('dialog[open] button[value="ok"]').click();
    await entry.waitFor({ state: 'detached', timeout: UI_TIMEOUT_IN_MS });
    await waitForStatus(e, id, 'completed');
  });

  it('deletes a DLQ entry from the page, after a confirmation', async () => {
    const { page } = desktop;
    const id = await deadLetter('{"order":"delete-me"}');
    await goto(page, '#/dlq?flow=orders');
    const entry = page.locator(`article.entry[data-request="${id}"]`);
    await entry.waitFor({ timeout: UI_TIMEOUT_IN_MS });
    await entry.locator('button[data-action="delete"]').click();
    await page.locator('dialog[open] button[value="ok"]').click();
    await entry.waitFor({ state: 'detached', timeout: UI_TIMEOUT_IN_MS });
    const listed = (await (await fetch(`${e.url}/api/dlq?flow=orders`)).json()) as { items: Array<{ requestId: string }> };
    assert.deepEqual(
      listed.items.filter((item) => item.requestId === id),
      [],
    );
  });

  it('replays a whole flow from the page, after a confirmation, and follows the job', async () => {
    const { page } = desktop;
    const ids = [await deadLetter('{"order":"all-1"}'), await deadLetter('{"order":"all-2"}')];
    refusing = false;
    await goto(page, '#/dlq?flow=orders');
    const section = page.locator('section.dlq-flow[data-flow="orders"]');
    for (const id of ids) await section.locator(`article.entry[data-request="${id}"]`).waitFor({ timeout: UI_TIMEOUT_IN_MS });
    await section.locator('button[data-action="replay-flow"]').click();
    await page.locator('dialog[open] button[value="ok"]').click();
    await eventually(async () => assert.match(await textOf(section.locator('.job')), /done/), { timeoutInMs: UI_TIMEOUT_IN_MS });
    await section.locator('article.entry').first().waitFor({ state: 'detached', timeout: UI_TIMEOUT_IN_MS });
    for (const id of ids) await waitForStatus(e, id, 'completed');
  });

  it('says on an ingress that it runs no steps, so its counts stay at 0', async () => {
    const ingress = await suite.engine(document, {}, 'ingress');
    const { page } = desktop;
    await page.goto(`${ingress.url}/ui`);
    await page.locator('article.flow[data-flow="orders"] svg.chart').waitFor({ timeout: UI_TIMEOUT_IN_MS });
    assert.match(await textOf(page.locator('.note')), /is an ingress \(role ingress\): it runs no steps/);
  });

  it('is readable on a phone-width window', async () => {
    const phone = await browser.open(PHONE);
    try {
      await request('{"order":"phone"}');
      await deadLetter('{"order":"phone-dead"}');
      await goto(phone.page, '');
      await phone.page.locator('article.flow svg.chart').waitFor({ timeout: UI_TIMEOUT_IN_MS });
      await browser.screenshot(phone.page, 'flows-phone');
      // Nothing is wider than the window: no sideways scrolling.
      assert.ok((await phone.page.evaluate<number>('document.documentElement.scrollWidth')) <= PHONE.width);
      await goto(phone.page, '#/dlq?flow=orders');
      await phone.page.locator('article.entry').first().waitFor({ timeout: UI_TIMEOUT_IN_MS });
      await browser.screenshot(phone.page, 'dlq-phone');
      assert.ok((await phone.page.evaluate<number>('document.documentElement.scrollWidth')) <= PHONE.width);
      await goto(phone.page, '#/requests?flow=orders');
      await phone.page.locator('tr[data-request]').first().waitFor({ timeout: UI_TIMEOUT_IN_MS });
      await browser.screenshot(phone.page, 'requests-phone');
      assert.ok((await phone.page.evaluate<number>('document.documentElement.scrollWidth')) <= PHONE.width);
      assert.deepEqual(phone.problems, []);
    } finally {
      await phone.context.close();
    }
  });
});
