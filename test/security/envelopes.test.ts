/**
 * Queue messages are not trusted beyond what the engine can check: whoever can write to a step
 * queue (a queue-only SAS) must not be able to overwrite another request's status row, or make the
 * engine read, return or delete blobs it did not write.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { ENVELOPE_VERSION, encodeEnvelope, type Envelope } from '../../src/storage/envelope.js';
import { SWEEPER_LOCK_BLOB } from '../../src/storage/lock-blob.js';
import { engineSuite, flowDocument, getStatus, submit, type TestEngine, waitForStatus } from '../support/engine.js';
import { eventually } from '../support/eventually.js';

/** A message as an attacker would write it: a valid envelope for `requestId` at step 0. */
function forged(requestId: string, overrides: Partial<Envelope> = {}): string {
  return encodeEnvelope({
    v: ENVELOPE_VERSION,
    requestId,
    flow: 'flow',
    step: 0,
    attempt: 1,
    contentType: 'application/json',
    statusEtag: 'W/"datetime\'2020-01-01T00%3A00%3A00.0000000Z\'"',
    traceparent: null,
    callbackUrl: null,
    acceptedAt: new Date().toISOString(),
    body: { kind: 'inline', encoding: 'utf8', data: '{"forged":true}' },
    blobs: [],
    ...overrides,
  });
}

const queueOf = (e: TestEngine): string => e.runtime.flows.get('flow')?.steps[0]?.source.queue.name ?? '';

describe('untrusted queue messages', () => {
  const suite = engineSuite();

  it('cannot overwrite another request\'s status row by naming it with a made-up ETag', async () => {
    const endpoint = await suite.endpoint();
    const doc = flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] });
    const stopped = await suite.engine(doc);
    await stopped.runtime.engine.close();
    const victim = await submit(stopped, 'flow', '{"real":true}');
    const queue = stopped.runtime.storage.clients.queues.getQueueClient(queueOf(stopped));
    // The victim's own message is held elsewhere (another engine has it): only the forgery is here.
    await queue.clearMessages();
    const before = await getStatus(stopped, victim);
    await queue.sendMessage(forged(victim));

    const e = await suite.engine(doc);
    await eventually(() => assert.equal(endpoint.calls.length, 1, 'the forged message ran'), { timeoutInMs: 30_000 });
    await eventually(async () => assert.equal((await queue.peekMessages()).peekedMessageItems.length, 0, 'and is gone'), { timeoutInMs: 30_000 });
    // The line comes once the delete's answer is in, which a busy emulator may send after its answer
    // to the peek above: the queue can be empty before the engine knows it.
    await eventually(() => assert.equal(e.logged('step.stale').length, 1, 'the forgery was dropped as another message\'s'), { timeoutInMs: 30_000 });
    assert.deepEqual(await getStatus(e, victim), before, 'the victim\'s row is as it was');
  });

  it('dead-letters a message that names a blob outside its request, and touches no such blob', async () => {
    const endpoint = await suite.endpoint();
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const blobs = e.runtime.storage.clients.payloads;
    const other = blobs.containerName;
    // Another request's result, in the engine's own container, and a blob of another container.
    const victim = randomUUID();
    const victimBlob = `${victim}/result-${randomUUID()}`;
    await blobs.getBlockBlobClient(victimBlob).uploadData(Buffer.from('another request\'s result'));
    const attacker = randomUUID();
    const attempts: Array<Partial<Envelope>> = [
      { body: { kind: 'blob', blobName: victimBlob, byteLength: 24 }, blobs: [victimBlob] }, // read it as an input
      { body: { kind: 'blob', blobName: `../${other}/${victimBlob}`, byteLength: 24 } }, // a path out of the container
      { blobs: [victimBlob] }, // have it deleted when "its" request completes
    ];
    const queue = e.runtime.storage.clients.queues.getQueueClient(queueOf(e));
    for (const overrides of attempts) await queue.sendMessage(forged(attacker, overrides));
    const entries = await eventually(
      async () => {
        const listed = (await (await fetch(`${e.url}/api/dlq?flow=flow`)).json()) as { items: Array<{ reason: string; requestId: string | null; error: string }> };
        assert.equal(listed.items.length, 3);
        return listed.items;
      },
      { timeoutInMs: 30_000 },
    );
    assert.ok(entries.every((x) => x.reason === 'poison' && x.requestId === null && /invalid fields: (body|blobs)/.test(x.error)), JSON.stringify(entries));
    assert.equal(endpoint.calls.length, 0, 'no endpoint saw them');
    assert.equal((await blobs.getBlockBlobClient(victimBlob).downloadToBuffer()).toString(), 'another request\'s result', 'the blob is untouched');
  });

  it('dead-letters a message that names the sweepers\' lock blob, which stays as it was, leased by its sweeper', async () => {
    const endpoint = await suite.endpoint();
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }] }));
    const lock = e.runtime.storage.clients.payloads.getBlockBlobClient(SWEEPER_LOCK_BLOB);
    await eventually(() => assert.equal(e.runtime.engine.isSweeper, true), { timeoutInMs: 30_000 });
    const attacker = randomUUID();
    const attempts: Array<Partial<Envelope>> = [
      { body: { kind: 'blob', blobName: SWEEPER_LOCK_BLOB, byteLength: 0 }, blobs: [SWEEPER_LOCK_BLOB] }, // read it as an input
      { blobs: [SWEEPER_LOCK_BLOB] }, // have it deleted when "its" request completes, and the lease with it
    ];
    const queue = e.runtime.storage.clients.queues.getQueueClient(queueOf(e));
    for (const overrides of attempts) await queue.sendMessage(forged(attacker, overrides));
    const entries = await eventually(
      async () => {
        const listed = (await (await fetch(`${e.url}/api/dlq?flow=flow`)).json()) as { items: Array<{ reason: string; requestId: string | null; error: string }> };
        assert.equal(listed.items.length, 2);
        return listed.items;
      },
      { timeoutInMs: 30_000 },
    );
    assert.ok(entries.every((x) => x.reason === 'poison' && x.requestId === null && /invalid fields: (body|blobs)/.test(x.error)), JSON.stringify(entries));
    assert.equal(endpoint.calls.length, 0, 'no endpoint saw them');
    assert.equal((await lock.getProperties()).leaseState, 'leased', 'the lock blob is there, leased');
    assert.equal(e.runtime.engine.isSweeper, true, 'by the engine, still its sweeper');
    assert.equal(e.logged('sweeper.lost').length, 0);
  });

  it('clears the completion and the error of a replayed request, which a merge write used to leave behind', async () => {
    const endpoint = await suite.endpoint(() => ({ status: 400, body: 'refused' }));
    const e = await suite.engine(flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: { 'redelivery.config': { default: { count: 0, delay: 0 } } } }));
    const id = await submit(e, 'flow', '{}');
    const dead = await waitForStatus(e, id, 'dead-lettered');
    assert.ok(dead['completedAt'] && dead['error'] && dead['lastHttpStatus'] === 400);
    await e.runtime.engine.close(); // the replayed request stays queued, to be looked at
    const { items } = (await (await fetch(`${e.url}/api/dlq?flow=flow`)).json()) as { items: Array<{ dlqId: string }> };
    assert.equal((await fetch(`${e.url}/api/dlq/${items[0]?.dlqId}/replay`, { method: 'POST' })).status, 202);
    const queued = await getStatus(e, id);
    assert.equal(queued['status'], 'queued');
    for (const stale of ['completedAt', 'error', 'lastHttpStatus']) assert.equal(queued[stale], undefined, `${stale} is gone`);
  });
});
