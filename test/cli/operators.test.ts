/**
 * The operator commands (`flows`, `requests`, `dlq`) as an operator runs them: the real command in a
 * child process, on the test Azurite, beside an engine in this process that fills the tables. The
 * `--json` answers are compared byte for byte with the HTTP API's bodies for the same entries.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMANDS } from '../../src/cli/commands.js';
import { canRunInTerminal, cleanEnv, runCli, runCliInTerminal, type CliResult } from '../support/cli.js';
import { writeConfigFile } from '../support/config-docs.js';
import { echo } from '../support/endpoints.js';
import { engineSuite, flowDocument, submit, waitForStatus, type TestEngine } from '../support/engine.js';
import { eventually } from '../support/eventually.js';
import { occupyPort } from '../support/ports.js';

const ESC = '\u001b';
/** Whether `text` holds an ANSI escape sequence. */
const hasAnsi = (text: string): boolean => text.includes(`${ESC}[`);
const noRetries = { 'redelivery.config': { default: { count: 0, delay: 0 } } };

let tmp: string;
let written = 0;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ae-operators-'));
});
after(() => rm(tmp, { recursive: true, force: true }));
const configFile = (doc: unknown): Promise<string> => writeConfigFile(doc, tmp, `config-${++written}.json`);

/** The command with `--config file`, from a clean environment plus `env`. */
const cli = (file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => runCli([...args, '--config', file], { env: cleanEnv(env) });

/** The body of a GET on the engine's API, as it came: what `--json` must print (and a newline). */
async function apiBody(e: TestEngine, pathAndQuery: string): Promise<string> {
  const response = await fetch(`${e.url}${pathAndQuery}`);
  assert.equal(response.status, 200, pathAndQuery);
  return response.text();
}

function assertExit(result: CliResult, code: number): void {
  assert.equal(result.code, code, `exit ${result.code}, stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
}

/** A config file on storage nothing answers: a command that gets past its argument checks exits 1. */
async function unreachableConfig(): Promise<string> {
  const { port, release } = await occupyPort();
  release();
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:${port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`;
  return configFile({
    'azure.storage.config': { connectionString },
    'queue.config': [{ name: 'only-queue' }],
    'flow.config': [{ flowName: 'flow', queueMappings: [{ initial: true, sourceQueueName: 'only-queue', endpointUrl: 'http://127.0.0.1:9/x' }] }],
    'server.config': { auth: 'none' },
  });
}

// Every test has its own engine, tables and files, and most of the time goes to CLI processes of
// their own: several at once keep the file well inside its time limit on a busy machine.
describe('the operator commands on an engine\'s storage', { concurrency: 3 }, () => {
  const suite = engineSuite();

  /** An engine on a one-step flow whose endpoint answers 503 until heal(); its document in a file for the command. */
  async function brokenFlow(): Promise<{ e: TestEngine; file: string; heal: () => void; doc: Record<string, unknown> }> {
    let isHealed = false;
    const endpoint = await suite.endpoint((call, i) => (isHealed ? echo(call, i) : { status: 503, body: 'down for maintenance' }));
    const doc = flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: noRetries });
    const e = await suite.engine(doc);
    return { e, file: await configFile(doc), heal: () => (isHealed = true), doc };
  }

  async function deadLettered(e: TestEngine, count: number): Promise<string[]> {
    const ids = await Promise.all(Array.from({ length: count }, (_, i) => submit(e, 'flow', `{"i":${i}}`)));
    for (const id of ids) await waitForStatus(e, id, 'dead-lettered');
    return ids;
  }

  async function dlqIds(e: TestEngine): Promise<string[]> {
    const { items } = JSON.parse(await apiBody(e, '/api/dlq')) as { items: Array<{ dlqId: string }> };
    return items.map((item) => item.dlqId);
  }

  it('flows: a table of each step with its queue depth for people, and with --json the body of GET /api/flows', async () => {
    const endpoint = await suite.endpoint();
    const doc = flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }, { url: endpoint.url() }] });
    // An ingress runs no pollers: the submitted messages stay in the first queue, and inFlight and pollDelay are 0 on both faces.
    const e = await suite.engine(doc, {}, 'ingress');
    await Promise.all([0, 1, 2].map((i) => submit(e, 'flow', `{"i":${i}}`)));
    const file = await configFile(doc);
    const [first, second] = (doc['queue.config'] as Array<{ name: string }>).map((q) => q.name);

    const json = await cli(file, ['flows', '--json']);
    assertExit(json, 0);
    assert.equal(json.stdout, `${await apiBody(e, '/api/flows')}\n`);

    const human = await cli(file, ['flows']);
    assertExit(human, 0);
    const lines = human.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^FLOW +STEP +QUEUE +ENDPOINT +NEXT +THREADS +QUEUED$/);
    assert.match(lines[1] ?? '', new RegExp(`^flow +0 +${first} +${endpoint.url()} +${second} +8 +3$`));
    assert.match(lines[2] ?? '', new RegExp(`^flow +1 +${second} +${endpoint.url()} +- +8 +0$`));
    assert.ok(!hasAnsi(human.stdout), 'no colour on a pipe');
  });

  it('requests list and get: the API\'s JSON page by page with --json, a table and fields for people', async () => {
    const doc = flowDocument(suite.azurite, { steps: [{ url: (await suite.endpoint()).url() }] });
    const e = await suite.engine(doc);
    const file = await configFile(doc);
    const ids = await Promise.all([0, 1, 2].map((i) => submit(e, 'flow', `{"i":${i}}`)));
    for (const id of ids) await waitForStatus(e, id, 'completed');

    const page = await cli(file, ['requests', 'list', '--flow', 'flow', '--limit', '2', '--json']);
    assertExit(page, 0);
    const apiPage = await apiBody(e, '/api/requests?flow=flow&limit=2');
    assert.equal(page.stdout, `${apiPage}\n`);
    const { nextCursor } = JSON.parse(apiPage) as { nextCursor: string };
    const next = await cli(file, ['requests', 'list', '--flow', 'flow', '--limit', '2', '--cursor', nextCursor, '--json']);
    assertExit(next, 0);
    assert.equal(next.stdout, `${await apiBody(e, `/api/requests?flow=flow&limit=2&cursor=${nextCursor}`)}\n`);
    const completed = await cli(file, ['requests', 'list', '--status', 'completed', '--json']);
    assert.equal(completed.stdout, `${await apiBody(e, '/api/requests?status=completed')}\n`);
    const none = await cli(file, ['requests', 'list', '--status', 'retrying', '--json']);
    assert.equal(none.stdout, `${JSON.stringify({ items: [], nextCursor: null })}\n`);
    for (const id of ids) {
      const one = await cli(file, ['requests', 'get', id, '--json']);
      assertExit(one, 0);
      assert.equal(one.stdout, `${await apiBody(e, `/api/requests/${id}`)}\n`);
    }

    const table = await cli(file, ['requests', 'list', '--limit', '2']);
    assertExit(table, 0);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^ID +FLOW +STATUS +STEP +ATTEMPT +UPDATED +ERROR$/);
    assert.equal(lines.length, 4, 'a header, two rows, and where the next page starts');
    for (const line of lines.slice(1, 3)) assert.match(line, /^[0-9a-f-]{36} +flow +completed +0 +1 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(lines[3] ?? '', /^next page: the same command with --cursor \S+$/);
    const [id] = ids;
    assert.ok(id);
    const fields = await cli(file, ['requests', 'get', id]);
    assertExit(fields, 0);
    assert.match(fields.stdout, new RegExp(`^id +${id}\n`));
    assert.match(fields.stdout, /^status +completed$/m);
    assert.match(fields.stdout, /^step +0 \(step-[0-9a-f]+\)$/m);
    assert.ok(!hasAnsi(table.stdout + fields.stdout), 'no colour on a pipe');
    const empty = await cli(file, ['requests', 'list', '--status', 'retrying']);
    assert.equal(empty.stdout, 'no requests\n');
  });

  it('dlq list and get: the API\'s JSON with --json, a table and fields for people', async () => {
    const { e, file } = await brokenFlow();
    const ids = await deadLettered(e, 3);

    const page = await cli(file, ['dlq', 'list', '--limit', '2', '--json']);
    assertExit(page, 0);
    const apiPage = await apiBody(e, '/api/dlq?limit=2');
    assert.equal(page.stdout, `${apiPage}\n`);
    const { nextCursor } = JSON.parse(apiPage) as { nextCursor: string };
    const next = await cli(file, ['dlq', 'list', '--limit', '2', '--cursor', nextCursor, '--json']);
    assertExit(next, 0);
    assert.equal(next.stdout, `${await apiBody(e, `/api/dlq?limit=2&cursor=${nextCursor}`)}\n`);
    const byFlow = await cli(file, ['dlq', 'list', '--flow', 'flow', '--json']);
    assert.equal(byFlow.stdout, `${await apiBody(e, '/api/dlq?flow=flow')}\n`);

    const [dlqId] = await dlqIds(e);
    assert.ok(dlqId);
    const one = await cli(file, ['dlq', 'get', dlqId, '--json']);
    assertExit(one, 0);
    assert.equal(one.stdout, `${await apiBody(e, `/api/dlq/${dlqId}`)}\n`);

    const table = await cli(file, ['dlq', 'list']);
    assertExit(table, 0);
    assert.match(table.stdout.split('\n')[0] ?? '', /^DLQ ID +REQUEST +STEP +REASON +TRIES +HTTP +DEAD-LETTERED +ERROR$/);
    for (const id of ids) assert.match(table.stdout, new RegExp(`flow~\\d{13}-\\S+ +${id} +0 +exhausted +1 +503 +\\S+Z +HTTP 503: down for maintenance`));
    const fields = await cli(file, ['dlq', 'get', dlqId]);
    assertExit(fields, 0);
    assert.match(fields.stdout, new RegExp(`^dlqId +${dlqId}$`, 'm'));
    assert.match(fields.stdout, /^reason +exhausted$/m);
    assert.match(fields.stdout, new RegExp(`^replay +queues the request again at step 0: async-engine dlq replay ${dlqId}$`, 'm'));
    assert.ok(!hasAnsi(table.stdout + fields.stdout));
  });

  it('dlq replay ID queues the request again: the entry leaves the DLQ and the request completes on the healthy endpoint', async () => {
    const { e, file, heal } = await brokenFlow();
    const [id] = await deadLettered(e, 1);
    const [dlqId] = await dlqIds(e);
    assert.ok(id && dlqId);
    heal();
    const replayed = await cli(file, ['dlq', 'replay', dlqId, '--json']);
    assertExit(replayed, 0);
    assert.equal(replayed.stdout, `${JSON.stringify({ id })}\n`, 'the body of POST /api/dlq/{dlqId}/replay');
    const done = await waitForStatus(e, id, 'completed');
    assert.equal(done['attempt'], 1, 'attempts were reset');
    assert.deepEqual(await dlqIds(e), []);
    assertExit(await cli(file, ['dlq', 'get', dlqId]), 3);
    const again = await cli(file, ['dlq', 'replay', dlqId]);
    assertExit(again, 3);
    assert.match(again.stderr, /there is no DLQ entry/);
  });

  it('dlq replay --flow replays every entry of the flow, and --json prints the finished job as GET /api/dlq/replays/{jobId} does', async () => {
    const { e, file, heal } = await brokenFlow();
    const ids = await deadLettered(e, 3);
    heal();
    const result = await cli(file, ['dlq', 'replay', '--flow', 'flow', '--json']);
    assertExit(result, 0);
    const job = JSON.parse(result.stdout) as { jobId: string };
    assert.equal(result.stdout, `${await apiBody(e, `/api/dlq/replays/${job.jobId}`)}\n`, 'the job as every engine shows it');
    assert.deepEqual(JSON.parse(result.stdout), { jobId: job.jobId, flow: 'flow', replayed: 3, skipped: 0, failed: 0, done: true });
    for (const id of ids) await waitForStatus(e, id, 'completed');
    assert.deepEqual(await dlqIds(e), []);
  });

  it('dlq replay --flow away from a terminal prints plain lines: progress, then the counts', async () => {
    const { e, file, heal } = await brokenFlow();
    await deadLettered(e, 2);
    heal();
    const result = await cli(file, ['dlq', 'replay', '--flow', 'flow']);
    assertExit(result, 0);
    assert.ok(!result.stdout.includes('\r') && !result.stdout.includes(ESC), 'no carriage return, no escape sequence');
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^replaying flow flow \(replay-[0-9a-f-]+\): 0 replayed, 0 skipped, 0 failed$/);
    assert.equal(lines.at(-1), 'flow flow: 2 replayed, 0 skipped, 0 failed');
  });

  it('dlq delete removes the entry and its payload: --json prints nothing, as the API\'s 204, and then it is not found', async () => {
    const { e, file } = await brokenFlow();
    await deadLettered(e, 2);
    const [first, second] = await dlqIds(e);
    assert.ok(first && second);
    const quiet = await cli(file, ['dlq', 'delete', first, '--json']);
    assertExit(quiet, 0);
    assert.equal(quiet.stdout, '');
    const said = await cli(file, ['dlq', 'delete', second]);
    assertExit(said, 0);
    assert.equal(said.stdout, `deleted ${second}\n`);
    assert.deepEqual(await dlqIds(e), []);
    for (const id of [first, second]) {
      assertExit(await cli(file, ['dlq', 'get', id]), 3);
      assertExit(await cli(file, ['dlq', 'delete', id]), 3);
    }
  });

  it('exits 3 for what does not exist: a request, a DLQ entry, one of a flow not configured, an unknown --flow', async () => {
    const { e, file } = await brokenFlow();
    await deadLettered(e, 1);
    const [dlqId] = await dlqIds(e);
    assert.ok(dlqId);
    const [, rowKey] = dlqId.split('~');
    for (const [args, message] of [
      [['requests', 'get', randomUUID()], /there is no request with id "[0-9a-f-]{36}"/],
      [['dlq', 'get', `flow~0000000000001-${randomUUID()}`], /there is no DLQ entry "flow~0000000000001-/],
      [['dlq', 'get', `elsewhere~${rowKey}`], /there is no DLQ entry "elsewhere~/],
      [['dlq', 'replay', `elsewhere~${rowKey}`], /there is no DLQ entry/],
      [['dlq', 'delete', `elsewhere~${rowKey}`], /there is no DLQ entry/],
      [['requests', 'list', '--flow', 'nosuch'], /there is no flow named "nosuch"/],
      [['dlq', 'list', '--flow', 'nosuch'], /there is no flow named "nosuch"/],
      [['dlq', 'replay', '--flow', 'nosuch'], /there is no flow named "nosuch"/],
    ] as const) {
      const result = await cli(file, [...args]);
      assertExit(result, 3);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
    }
    assert.deepEqual(await dlqIds(e), [dlqId], 'the entry of another id is untouched');
  });

  it('on storage no engine has run on with its configuration, exits 1 saying the tables are missing, and creates nothing', async () => {
    // Fresh table and queue names that no engine has provisioned.
    const file = await configFile(flowDocument(suite.azurite, { steps: [{ url: 'http://127.0.0.1:9/x' }] }));
    for (let run = 0; run < 2; run++) {
      for (const args of [['requests', 'list'], ['dlq', 'list'], ['flows']]) {
        const result = await cli(file, args);
        assertExit(result, 1);
        assert.match(result.stderr, /do not exist on this storage\. The engine creates them when it starts/, args.join(' '));
      }
    }
  });

  it('shows an entry of a flow its configuration does not have, but exits 1 saying why it cannot replay it', async () => {
    const { e, doc } = await brokenFlow();
    await deadLettered(e, 1);
    const [dlqId] = await dlqIds(e);
    assert.ok(dlqId);
    // The same tables, the flow under another name: the entry's flow is not configured here.
    const [flow] = doc['flow.config'] as Array<Record<string, unknown>>;
    const other = await configFile({ ...doc, 'flow.config': [{ ...flow, flowName: 'other' }] });
    assertExit(await cli(other, ['dlq', 'get', dlqId]), 0);
    const listed = await cli(other, ['dlq', 'list', '--json']);
    assert.equal((JSON.parse(listed.stdout) as { items: unknown[] }).items.length, 1);
    assertExit(await cli(other, ['dlq', 'list', '--flow', 'flow']), 3);
    const replay = await cli(other, ['dlq', 'replay', dlqId]);
    assertExit(replay, 1);
    assert.match(replay.stderr, /flow "flow" has no step 0 any more/);
    assert.deepEqual(await dlqIds(e), [dlqId], 'the entry stays');
  });
});

describe('the operator commands\' arguments', { concurrency: 3 }, () => {
  it('--help on every command and command group exits 0 with its usage', async () => {
    for (const command of COMMANDS) {
      const { code, stdout } = await runCli([...command.name.split(' '), '--help']);
      assert.equal(code, 0, command.name);
      assert.ok(stdout.startsWith(`Usage: async-engine ${command.name}`), stdout);
      assert.match(stdout, /Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration, 3 not found, 64 usage error/);
    }
    for (const group of ['requests', 'dlq', 'config']) {
      const { code, stdout } = await runCli([group, '--help']);
      assert.equal(code, 0, group);
      assert.ok(stdout.startsWith(`Usage: async-engine ${group} <command>`), stdout);
    }
    const global = await runCli(['--help']);
    for (const command of COMMANDS) assert.match(global.stdout, new RegExp(`^  ${command.name}`, 'm'));
  });

  it('refuses malformed arguments with exit 64 and the command\'s help, before any storage call', async () => {
    // Storage nothing answers: a command that asked it would exit 1, not 64.
    const file = await unreachableConfig();
    const uuid = randomUUID();
    for (const args of [
      ['requests', 'get', '../etc/passwd'],
      ['requests', 'get', `${uuid}%2f..`],
      ['requests', 'get', `${uuid}/..`],
      ['requests', 'get', uuid.toUpperCase().replace(/-/g, '')],
      ['dlq', 'get', '..'],
      ['dlq', 'get', 'flow~..%2f..%2fx'],
      ['dlq', 'replay', 'flow~0000000000001-a/../b'],
      ['dlq', 'delete', '%2e%2e'],
      ['requests', 'list', '--limit', '0'],
      ['requests', 'list', '--limit=-1'],
      ['requests', 'list', '--limit', 'abc'],
      ['requests', 'list', '--limit', '1001'],
      ['requests', 'list', '--limit', '99999999999999999999999'],
      ['dlq', 'list', '--limit', '1.5'],
      ['dlq', 'list', '--limit', ''],
      ['requests', 'list', '--status', 'done'],
      ['requests', 'list', '--status', "queued' or '1' eq '1"],
      ['dlq', 'list', '--cursor', 'not-a-cursor'],
      ['requests', 'get'],
      ['requests', 'get', uuid, uuid],
      ['dlq', 'replay'],
      ['dlq', 'replay', `flow~0000000000001-${uuid}`, '--flow', 'flow'],
      ['flows', '--bogus'],
      ['flows', '--role', 'worker'],
      ['requests', 'get', uuid, '--status', 'queued'],
      ['dlq', 'frobnicate'],
    ]) {
      const result = await cli(file, args);
      assertExit(result, 64);
      assert.match(result.stderr, /^async-engine: /, args.join(' '));
      assert.match(result.stderr, /Usage: async-engine/, args.join(' '));
    }
    const limit = await cli(file, ['requests', 'list', '--limit', '5000']);
    assert.match(limit.stderr, /--limit must be an integer from 1 to 1000/);
    const role = await cli(file, ['dlq', 'list', '--role', 'worker']);
    assert.match(role.stderr, /--role applies to start only/);
    const status = await cli(file, ['requests', 'list', '--status', 'done']);
    assert.match(status.stderr, /--status must be one of queued, processing, retrying, completed, dead-lettered/);
    // An unknown flow is known from the configuration alone.
    assertExit(await cli(file, ['dlq', 'list', '--flow', 'nosuch']), 3);
  });

  it('exits 2 for an invalid configuration and 1, saying so, when storage is unreachable', async () => {
    const invalid = await configFile({ 'queue.config': 'nope' });
    for (const args of [['flows'], ['requests', 'list'], ['dlq', 'get', `flow~0000000000001-${randomUUID()}`]]) {
      assertExit(await cli(invalid, args), 2);
    }
    const unreachable = await unreachableConfig();
    for (const args of [['flows'], ['requests', 'list'], ['requests', 'get', randomUUID()], ['dlq', 'list', '--json'], ['dlq', 'get', `flow~0000000000001-${randomUUID()}`]]) {
      const result = await cli(unreachable, args);
      assertExit(result, 1);
      assert.match(result.stderr, /storage is unreachable/, args.join(' '));
      assert.equal(result.stdout, '');
    }
  });
});

describe('the operator commands on a terminal', { skip: canRunInTerminal ? false : 'needs util-linux script for a pseudo-terminal' }, () => {
  const suite = engineSuite();

  it('fit tables to the terminal\'s width with an ellipsis, in colour unless NO_COLOR is set', async () => {
    const endpoint = await suite.endpoint(() => ({ status: 500, body: 'a long error text from the endpoint, far wider than any terminal column can hold' }));
    const doc = flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: noRetries });
    const e = await suite.engine(doc);
    const id = await submit(e, 'flow', '{}');
    await waitForStatus(e, id, 'dead-lettered');
    const file = await configFile(doc);
    const args = ['requests', 'list', '--config', file];

    const coloured = await runCliInTerminal(args, { columns: 70 });
    assertExit(coloured, 0);
    assert.ok(coloured.stdout.includes(`${ESC}[31mdead-lettered${ESC}[39m`), 'a dead-lettered request in red, its status never cut');
    const plain = await runCliInTerminal(args, { columns: 70, env: cleanEnv({ NO_COLOR: '1' }) });
    assertExit(plain, 0);
    assert.ok(!hasAnsi(plain.stdout));
    const lines = plain.stdout.split('\r\n').filter((l) => l !== '');
    assert.ok(lines.every((l) => [...l].length <= 70), lines.join('\n'));
    assert.match(plain.stdout, /…/, 'the error was cut');
    const wide = await runCliInTerminal(args, { columns: 250, env: cleanEnv({ NO_COLOR: '1' }) });
    assert.match(wide.stdout, /far wider than any terminal column can hold/);
  });

  it('dlq replay --flow redraws one progress line in place, then prints the counts', async () => {
    let isHealed = false;
    const endpoint = await suite.endpoint((call, i) => (isHealed ? echo(call, i) : { status: 503 }));
    const doc = flowDocument(suite.azurite, { steps: [{ url: endpoint.url() }], extra: noRetries });
    const e = await suite.engine(doc);
    const ids = await Promise.all([0, 1, 2].map((i) => submit(e, 'flow', `{"i":${i}}`)));
    for (const id of ids) await waitForStatus(e, id, 'dead-lettered');
    isHealed = true;
    const result = await runCliInTerminal(['dlq', 'replay', '--flow', 'flow', '--config', await configFile(doc)], { env: cleanEnv({ NO_COLOR: '1' }) });
    assertExit(result, 0);
    // \r back to the line's start, the text, erase to its end: the line is redrawn in place.
    const redrawn = result.stdout.split('\r').filter((part) => part.startsWith('replaying flow flow'));
    assert.ok(redrawn.length > 0, result.stdout);
    assert.match(redrawn.at(-1) ?? '', /^replaying flow flow \(replay-[0-9a-f-]+\): 3 replayed, 0 skipped, 0 failed/);
    assert.ok(redrawn.every((part) => part.includes(`${ESC}[K`)), 'each redraw erases what a longer one left');
    assert.match(result.stdout, /flow flow: 3 replayed, 0 skipped, 0 failed/);
    await eventually(async () => {
      for (const id of ids) await waitForStatus(e, id, 'completed');
    }, { timeoutInMs: 60_000 });
  });
});
