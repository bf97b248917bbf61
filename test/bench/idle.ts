/**
 * The idle scenario: what a pipeline with no traffic costs. Each system runs two copies of the
 * 3-step flow (six queues) on a fresh Azurite and nobody submits; the bench counts its receives
 * over `idleSeconds`, from its storage-call counts just after it is ready to the same counts at the
 * end. The floor receives every `delay` ms; the engine backs off from `delay` to its default
 * `maxIdleDelay` (5000 ms), and the window includes that ramp.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startEngineSystem } from './engine-system.js';
import { STEP_COUNT } from './flow-shape.js';
import { startFloor } from './floor-system.js';
import { profileArgs, startEmulator, type BenchContext } from './measure.js';
import type { RunningSystem, SystemName } from './system.js';

/** Flows each system runs in the idle scenario, as the Flow control issue asks. */
export const IDLE_FLOW_COUNT = 2;

export interface IdleRun {
  system: SystemName;
  flows: number;
  queues: number;
  /** The measured window: from the first count to the last. */
  seconds: number;
  /** queue.receive calls in the window, over all queues. */
  receives: number;
  receivesPerQueuePerSecond: number;
  /** Every storage call in the window by kind (the engine's scrape adds queue.admin reads). */
  byKind: Record<string, number>;
}

export async function runIdle(ctx: BenchContext, name: SystemName): Promise<IdleRun> {
  const emulator = await startEmulator();
  try {
    const label = `idle-${name}`;
    const common = { emulator, echo: ctx.echo, pollDelayInMs: ctx.options.pollDelayInMs, flowCount: IDLE_FLOW_COUNT, execArgv: profileArgs(ctx.options, label) };
    const system: RunningSystem =
      name === 'floor' ? await startFloor(common) : await startEngineSystem({ ...common, workDir: ctx.workDir, submitConnections: 1 }, label);
    try {
      const before = await system.readStorageCalls();
      const startedAt = Date.now();
      await sleep(ctx.options.idleSeconds * 1000);
      const after = await system.readStorageCalls();
      const seconds = (Date.now() - startedAt) / 1000;
      const byKind = difference(after, before);
      const queues = IDLE_FLOW_COUNT * STEP_COUNT;
      const receives = byKind['queue.receive'] ?? 0;
      return { system: name, flows: IDLE_FLOW_COUNT, queues, seconds, receives, receivesPerQueuePerSecond: receives / queues / seconds, byKind };
    } finally {
      await system.close();
    }
  } finally {
    await emulator.close();
  }
}

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [kind, count] of Object.entries(after)) {
    const delta = count - (before[kind] ?? 0);
    if (delta !== 0) result[kind] = delta;
  }
  return result;
}
