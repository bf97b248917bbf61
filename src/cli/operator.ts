/**
 * The operator commands (`flows`, `requests`, `dlq`): each checks its arguments before anything
 * reaches storage, opens storage as storage/storage.ts's attach() does (no engine needed, nothing
 * provisioned), runs the shared operation (operations/) and answers in one of two ways: text for
 * people (terminal.ts), or with `--json` exactly the JSON body of the HTTP API for the same thing.
 * Components are built here for the command's duration and closed after it, whatever happens.
 */
import type { EngineConfig } from '../config/types.js';
import { DueRules } from '../engine/due-rules.js';
import { ReplayJobs } from '../engine/replay-jobs.js';
import { RequestIndex } from '../engine/request-index.js';
import { createFlows, type Flows } from '../engine/flows.js';
import { EngineError, isEngineError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { StorageCallCounter } from '../observability/storage-calls.js';
import { DlqTable } from '../storage/dlq-table.js';
import { DueIndexTable } from '../storage/due-index.js';
import { IndexCommitter } from '../storage/index-committer.js';
import { PayloadStore } from '../storage/payloads.js';
import { createStepQueue } from '../storage/queues.js';
import { ReplayJobTable } from '../storage/replay-jobs.js';
import { StatusTable } from '../storage/status-table.js';
import { Storage } from '../storage/storage.js';
import type { CommandName } from './commands.js';
import type { OptionValues } from './command-line.js';
import { planDlqCommand, runDlqCommand, type DlqPlan } from './dlq.js';
import { EXIT_NOT_FOUND } from './exit-codes.js';
import { runFlowsCommand } from './flows.js';
import { planRequestsCommand, runRequestsCommand, type RequestsPlan } from './requests.js';
import type { CommandIo, NotFoundPlan, OperatorDeps } from './operator-deps.js';

/** A command's checked arguments, or why it cannot name anything that exists. */
export type Plan = { kind: 'flows' } | RequestsPlan | DlqPlan | NotFoundPlan;

export class OperatorContext implements OperatorDeps {
  readonly flows: Flows;
  readonly statusTable: StatusTable;
  readonly dlqTable: DlqTable;
  readonly payloads: PayloadStore;
  readonly replayJobs: ReplayJobs;
  /** A replay writes index rows like the engine's (a status row made again, a replay job). */
  readonly index: RequestIndex;
  readonly log: Logger;
  readonly storage: Storage;
  readonly #indexCommitter: IndexCommitter;
  #closing: Promise<void> | undefined;

  private constructor(config: EngineConfig, storage: Storage, log: Logger) {
    const { clients } = storage;
    this.storage = storage;
    this.log = log;
    this.flows = createFlows(config.flows, config.queues, (name) => createStepQueue(clients.queues.getQueueClient(name)));
    this.statusTable = new StatusTable(clients.statusTable);
    this.dlqTable = new DlqTable(clients.dlqTable);
    this.payloads = new PayloadStore({ container: clients.payloads, inlineLimitBytes: config.payload.inlineLimitBytes });
    this.#indexCommitter = new IndexCommitter(new DueIndexTable(clients.statusTable));
    this.index = new RequestIndex({ committer: this.#indexCommitter, rules: new DueRules({ flows: this.flows, retention: config.retention }) });
    // Never aborted from outside: the command stops a replay with close().
    this.replayJobs = new ReplayJobs({
      flows: this.flows,
      statusTable: this.statusTable,
      dlqTable: this.dlqTable,
      index: this.index,
      jobTable: new ReplayJobTable(clients.statusTable),
      closing: new AbortController().signal,
      log,
    });
  }

  static async open(config: EngineConfig, log: Logger): Promise<OperatorContext> {
    return new OperatorContext(config, await Storage.attach(config, { log, counter: new StorageCallCounter() }), log);
  }

  /** Stops a replay still running, then the emulator this command started, if any. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.replayJobs.close().catch((err: unknown) => this.log.error({ err }, 'cli.close_failed'));
      await this.#indexCommitter.close().catch((err: unknown) => this.log.error({ err }, 'cli.close_failed'));
      await this.storage.close().catch((err: unknown) => this.log.error({ err }, 'cli.close_failed'));
    })();
    return this.#closing;
  }
}

/** Checks a command's arguments against the configuration, without storage; AE_USAGE for bad ones. */
export function planCommand(name: CommandName, values: OptionValues, args: readonly string[], config: EngineConfig): Plan {
  const flowNames: ReadonlyMap<string, unknown> = new Map(config.flows.map((f) => [f.name, f]));
  switch (name) {
    case 'flows':
      return { kind: 'flows' };
    case 'requests list':
    case 'requests get':
      return planRequestsCommand(name, values, args, flowNames);
    case 'dlq list':
    case 'dlq get':
    case 'dlq replay':
    case 'dlq delete':
      return planDlqCommand(name, values, args, flowNames);
    case 'start':
    case 'config check':
      throw new EngineError('AE_INVALID_OPTION', `${name} is not an operator command`);
    default:
      throw new Error(`unhandled command ${name satisfies never}`);
  }
}

/** Runs an operator command to its exit code; storage is opened only once its arguments are sound. */
export async function runOperatorCommand(plan: Plan, { config, isJson, log, io }: { config: EngineConfig; isJson: boolean; log: Logger; io: CommandIo }): Promise<number> {
  if (plan.kind === 'not-found') {
    io.err(`async-engine: ${plan.message}`);
    return EXIT_NOT_FOUND;
  }
  const context = await OperatorContext.open(config, log);
  try {
    if (context.storage.emulator !== null) {
      const { blob, queue, table } = context.storage.emulator.ports;
      io.err(`async-engine: no emulator answered on ports ${blob}, ${queue} and ${table}: started the embedded Azurite there for this command (no engine runs one)`);
    }
    return await withStorageHints(() => {
      switch (plan.kind) {
        case 'flows':
          return runFlowsCommand(context, { isJson, io });
        case 'requests list':
        case 'requests get':
          return runRequestsCommand(context, plan, { isJson, io });
        default:
          return runDlqCommand(context, plan, { isJson, io });
      }
    });
  } finally {
    await context.close();
  }
}

/**
 * A table or queue that does not exist means no engine ever ran with this configuration on this
 * storage (the engine creates them at start; the commands create nothing): said so, exit 1.
 */
async function withStorageHints(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (!isEngineError(err, 'AE_NOT_FOUND')) throw err;
    throw new EngineError(
      'AE_NOT_FOUND',
      `${err.message}: the tables and queues of this configuration do not exist on this storage. ` +
        'The engine creates them when it starts: has one run with this configuration? (the operator commands create nothing)',
      { cause: err },
    );
  }
}
