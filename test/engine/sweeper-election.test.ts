/**
 * The sweeper election alone: contenders on one lock blob of a real Azurite, each with its own
 * clients (as separate replicas have), log and storage call counter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/observability/log.js';
import { StorageCallCounter } from '../../src/observability/storage-calls.js';
import { SweeperElection } from '../../src/engine/sweeper-election.js';
import { createStorageClients, type StorageClients, type StorageNames } from '../../src/storage/clients.js';
import { LockBlob, SWEEPER_LOCK_BLOB } from '../../src/storage/lock-blob.js';
import { clientsFor, startAzurite, uniqueStorageNames, type TestAzurite } from '../support/azurite.js';
import { eventually } from '../support/eventually.js';
import { LatencyProxy } from '../support/latency-proxy.js';

/** Azure's shortest lease; a renew every 5 s, and no sweeping 12.5 s after the last granted ask. */
const LEASE_IN_MS = 15_000;
const ACQUIRE_INTERVAL_IN_MS = 200;
const WAIT = { timeoutInMs: 60_000 };

interface Term {
  isOver: boolean;
}

interface Contender {
  name: string;
  election: SweeperElection;
  lock: LockBlob;
  clients: StorageClients;
  calls: StorageCallCounter;
  /** The terms its duty was started for, in order. */
  terms: Term[];
  logged(msg: string): Array<Record<string, unknown>>;
}

/** Every contender's log lines in the order they were written, each with its contender's name. */
type Events = Array<Record<string, unknown>>;

function contender(name: string, clients: StorageClients, calls: StorageCallCounter, events: Events): Contender {
  const log = createLogger({ level: 'debug', destination: { write: (line: string) => void events.push({ ...(JSON.parse(line) as Record<string, unknown>), contender: name }) } });
  const lock = new LockBlob({ container: clients.payloads, blobName: SWEEPER_LOCK_BLOB, leaseDurationInMs: LEASE_IN_MS });
  const terms: Term[] = [];
  const duty = async (term: AbortSignal): Promise<void> => {
    const record: Term = { isOver: false };
    terms.push(record);
    if (!term.aborted) await new Promise((resolve) => term.addEventListener('abort', resolve, { once: true }));
    record.isOver = true;
  };
  const election = new SweeperElection({ lock, acquireIntervalInMs: ACQUIRE_INTERVAL_IN_MS, duties: [duty], log });
  return { name, election, lock, clients, calls, terms, logged: (msg) => events.filter((e) => e['contender'] === name && e['msg'] === msg) };
}

describe('the sweeper election', () => {
  let azurite: TestAzurite;
  const running: SweeperElection[] = [];
  before(async () => {
    azurite = await startAzurite();
  });
  after(async () => {
    await Promise.all(running.map((e) => e.close(AbortSignal.timeout(5000))));
    await azurite.close();
  });

  /** A contender on `names`' payload container (created here), with its own clients. */
  async function start(name: string, names: StorageNames, events: Events, clients?: StorageClients, calls = new StorageCallCounter()): Promise<Contender> {
    const own = clients ?? clientsFor(azurite, names, calls);
    await own.payloads.createIfNotExists();
    const c = contender(name, own, calls, events);
    running.push(c.election);
    c.election.start();
    return c;
  }

  it('makes exactly one of two contenders the sweeper, and the other takes over at once when it releases the lease', async () => {
    const names = uniqueStorageNames();
    const events: Events = [];
    // Neither finds the lock blob: both create it, one of them first.
    const [a, b] = await Promise.all([start('a', names, events), start('b', names, events)]);
    const holder = await eventually(() => {
      assert.notEqual(a.election.isSweeper, b.election.isSweeper, 'exactly one sweeps');
      return a.election.isSweeper ? a : b;
    }, WAIT);
    const standby = holder === a ? b : a;
    // The standby keeps asking and keeps being refused.
    const asked = standby.calls.snapshot()['blob.lease'] ?? 0;
    await eventually(() => assert.ok((standby.calls.snapshot()['blob.lease'] ?? 0) >= asked + 3), WAIT);
    assert.equal(holder.election.isSweeper, true);
    assert.equal(standby.election.isSweeper, false);
    assert.deepEqual(holder.terms, [{ isOver: false }], 'the holder\'s duty runs');
    assert.deepEqual(standby.terms, [], 'the standby\'s duty never ran');
    assert.equal(holder.logged('sweeper.acquired').length, 1);

    const closedAt = performance.now();
    await holder.election.close(AbortSignal.timeout(10_000));
    assert.equal(holder.logged('sweeper.released').length, 1);
    assert.deepEqual(holder.terms, [{ isOver: true }], 'its duty returned before the lease was released');
    await eventually(() => assert.equal(standby.election.isSweeper, true), WAIT);
    // Had the lease only lapsed, the standby would have waited two thirds of it at least (renewed within the last third).
    assert.ok(performance.now() - closedAt < LEASE_IN_MS / 3, `taken over ${Math.round(performance.now() - closedAt)} ms after the close`);
    assert.deepEqual(standby.terms, [{ isOver: false }]);
  });

  it('stops being the sweeper at the next renew when its lease is broken from outside, and asks again', async () => {
    const names = uniqueStorageNames();
    const events: Events = [];
    const a = await start('a', names, events);
    await eventually(() => assert.equal(a.election.isSweeper, true), WAIT);

    await a.clients.payloads.getBlockBlobClient(SWEEPER_LOCK_BLOB).getBlobLeaseClient().breakLease(0);
    const [lost] = await eventually(() => {
      const lines = a.logged('sweeper.lost');
      assert.equal(lines.length, 1);
      return lines;
    }, WAIT);
    assert.equal(lost?.['reason'], 'refused');
    assert.equal(lost?.['code'], 'LeaseIsBrokenAndCannotBeRenewed');
    assert.equal(a.terms[0]?.isOver, true, 'its duty was told the term ended');
    // A broken lease may be taken by anyone: the only contender takes it again.
    await eventually(() => assert.equal(a.logged('sweeper.acquired').length, 2), WAIT);
    assert.equal(a.election.isSweeper, true);
    assert.deepEqual(a.terms, [{ isOver: true }, { isOver: false }], 'one term after the other, never two at once');
  });

  it('stops sweeping on its own, when cut off from storage, before another replica can be granted the lease', async () => {
    const names = uniqueStorageNames();
    const events: Events = [];
    let isCutOff = false;
    const proxy = await LatencyProxy.start({
      upstreamPort: azurite.ports.blob,
      latencyInMs: 0,
      isDelayed: () => false,
      // The lease calls go nowhere: not even a renew that storage would grant.
      isBlocked: (method, url) => isCutOff && method === 'PUT' && url.searchParams.get('comp') === 'lease',
    });
    try {
      const direct = azurite.connection;
      if (direct.kind !== 'account') throw new Error('the test Azurite is reached with its account key');
      const calls = new StorageCallCounter();
      const viaProxy = createStorageClients({ ...direct, blobUrl: direct.blobUrl.replace(`:${azurite.ports.blob}/`, `:${proxy.port}/`) }, names, calls);
      const a = await start('a', names, events, viaProxy, calls);
      await eventually(() => assert.equal(a.election.isSweeper, true), WAIT);
      const b = await start('b', names, events);

      isCutOff = true;
      await eventually(() => assert.equal(b.election.isSweeper, true), WAIT);
      assert.equal(a.election.isSweeper, false);
      assert.equal(a.terms[0]?.isOver, true);
      const order = events.filter((e) => ['sweeper.lost', 'sweeper.acquired'].includes(String(e['msg']))).map((e) => `${e['contender']} ${e['msg']}`);
      assert.deepEqual(order, ['a sweeper.acquired', 'a sweeper.lost', 'b sweeper.acquired'], 'a had stopped before b began');
      assert.equal(a.logged('sweeper.lost')[0]?.['reason'], 'lapsed');
      await a.election.close(AbortSignal.timeout(5000));
    } finally {
      await proxy.close();
    }
  });

  it('refuses a lease duration Azure would refuse', () => {
    const { payloads } = clientsFor(azurite);
    for (const leaseDurationInMs of [14_000, 61_000, 15_500, -1]) {
      assert.throws(() => new LockBlob({ container: payloads, blobName: SWEEPER_LOCK_BLOB, leaseDurationInMs }), /15 to 60 whole seconds/, String(leaseDurationInMs));
    }
  });
});
