/**
 * `async-engine flows`, on operations/flows.ts: each flow's steps with their queue depths.
 */
import { listFlows } from '../operations/flows.js';
import { EXIT_OK } from './exit-codes.js';
import type { CommandIo, OperatorDeps } from './operator-deps.js';
import type { Cell } from './table.js';

const TIMEOUT_IN_MS = 30_000;

export async function runFlowsCommand(deps: OperatorDeps, { isJson, io }: { isJson: boolean; io: CommandIo }): Promise<number> {
  const body = await listFlows(deps.flows, AbortSignal.timeout(TIMEOUT_IN_MS));
  if (isJson) {
    io.out.raw(JSON.stringify(body));
    return EXIT_OK;
  }
  io.out.table(
    [
      { header: 'FLOW', shrinkOrder: 1 },
      { header: 'STEP', shrinkOrder: 0, align: 'right' },
      { header: 'QUEUE', shrinkOrder: 2 },
      { header: 'ENDPOINT', shrinkOrder: 4 },
      { header: 'NEXT', shrinkOrder: 3 },
      { header: 'THREADS', shrinkOrder: 0, align: 'right' },
      { header: 'QUEUED', shrinkOrder: 0, align: 'right' },
    ],
    body.items.flatMap((flow) =>
      flow.steps.map((step): Cell[] => [
        flow.name,
        String(step.step),
        step.sourceQueueName,
        step.endpoint,
        step.targetQueueName ?? '-',
        String(step.maxThreads),
        { text: String(step.approximateMessageCount), style: step.approximateMessageCount > 0 ? 'yellow' : null },
      ]),
    ),
  );
  return EXIT_OK;
}
