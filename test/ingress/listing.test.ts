import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { echoWhen, gate } from '../support/endpoints.js';
import { configOf, engineSuite, flowDocument, submit } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

interface Listing {
  items: Array<Record<string, unknown>>;
  nextCursor: string | null;
}

async function list(url: string): Promise<Listing> {
  const response = await fetch(url);
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as Listing;
}

describe('listing requests and flows', () => {
  const suite = engineSuite();

  it('lists the requests of a flow, filtered by status, a page at a time', async () => {
    const e = await suite.engine(flowDocument(suite.azurite, { flowName: 'listed', steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    await e.runtime.engine.close(); // they stay queued
    const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => submit(e, 'listed', `{"i":${i}}`)));

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Listing = await list(`${e.url}/api/requests?flow=listed&status=queued&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.ok(page.items.length <= 2);
      for (const item of page.items) {
        assert.equal(item['flow'], 'listed');
        assert.equal(item['status'], 'queued');
        seen.push(String(item['id']));
      }
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null);
    assert.deepEqual([...seen].sort(), [...ids].sort(), 'every request once');
    assert.ok(pages >= 3);
    assert.deepEqual((await list(`${e.url}/api/requests?flow=listed&status=completed`)).items, []);
  });

  it('refuses filters that are not what they claim: an OData injection is a 400 or 404, never a query', async () => {
    const e = await suite.engine(flowDocument(suite.azurite, { flowName: 'guarded', steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    e.storageCalls.reset();
    for (const [query, status] of [
      ["status=x'%20or%20'a'%20eq%20'a", 400],
      ['status=done', 400],
      ["flow=x'%20or%20'a'%20eq%20'a", 404],
      ['limit=-1', 400],
      ['status=queued&status=completed', 400],
      ['cursor=garbage', 400],
      [`cursor=${Buffer.from(Buffer.from('{"nextPartitionKey":1}').toString('base64')).toString('base64url')}`, 400],
    ] as const) {
      const response = await fetch(`${e.url}/api/requests?${query}`);
      assert.equal(response.status, status, query);
      assert.equal(response.headers.get('content-type'), 'application/problem+json', query);
    }
    assert.equal(e.storageCalls.snapshot()['table.query'] ?? 0, 0);
  });

  it('lists the flows with each step\'s queues, endpoint, threads, call time-out, backlog and work in flight', async () => {
    const held = gate();
    const server = await suite.endpoint(echoWhen(held.opened));
    const doc = flowDocument(suite.azurite, { flowName: 'shown', steps: [{ url: server.url(), maxThreads: 1 }, { url: server.url(), maxThreads: 2 }] });
    (doc['flow.config'] as Array<{ queueMappings: Array<Record<string, unknown>> }>)[0]!.queueMappings[1]!['callTimeout'] = 5000;
    const [first, second] = configOf(doc).flows[0]!.steps;
    const e = await suite.engine(doc);
    await Promise.all([0, 1, 2].map((i) => submit(e, 'shown', `{"i":${i}}`)));
    await eventually(() => assert.equal(server.inFlight, 1), { timeoutInMs: 30_000 });

    const { items } = await eventually(
      async () => {
        const listing = await list(`${e.url}/api/flows`);
        const steps = listing.items[0]!['steps'] as Array<Record<string, unknown>>;
        assert.equal(steps[0]!['approximateMessageCount'], 3, 'two waiting and, as Azure counts, the hidden one in flight');
        return listing;
      },
      { timeoutInMs: 30_000 },
    );
    // The poll waits move on their own: a number of ms each, then left out of the comparison.
    for (const step of items[0]!['steps'] as Array<Record<string, unknown>>) {
      assert.equal(typeof step['pollDelay'], 'number');
      delete step['pollDelay'];
    }
    assert.deepEqual(items, [
      {
        name: 'shown',
        steps: [
          { step: 0, sourceQueueName: first!.sourceQueueName, endpoint: server.url(), targetQueueName: second!.sourceQueueName, maxThreads: 1, callTimeout: 60_000, approximateMessageCount: 3, inFlight: 1 },
          { step: 1, sourceQueueName: second!.sourceQueueName, endpoint: server.url(), targetQueueName: null, maxThreads: 2, callTimeout: 5000, approximateMessageCount: 0, inFlight: 0 },
        ],
      },
    ]);
    held.open();
  });
});
