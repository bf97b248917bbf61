/** Submitting requests: as fast as a fixed number of clients can (closed loop), or at a fixed rate (open loop). */
import { setTimeout as sleep } from 'node:timers/promises';
import { requestBody } from './system.js';

export type Submit = (body: Buffer) => Promise<string>;

export interface Submitted {
  id: string;
  /** Just before the submission was made (ms since the epoch). */
  submittedAt: number;
}

/** `count` requests from `concurrency` clients, each submitting its next as soon as the last was accepted. */
export async function submitClosedLoop(submit: Submit, count: number, concurrency: number): Promise<Submitted[]> {
  const submitted: Submitted[] = new Array<Submitted>(count);
  let next = 0;
  const client = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const submittedAt = Date.now();
      submitted[index] = { id: await submit(requestBody(index)), submittedAt };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, client));
  return submitted;
}

/** `ratePerSecond` requests a second for `seconds`, each on schedule whether or not the last was accepted. */
export async function submitAtRate(submit: Submit, ratePerSecond: number, seconds: number): Promise<Submitted[]> {
  const count = Math.max(1, Math.round(ratePerSecond * seconds));
  const startedAt = Date.now();
  const pending: Array<Promise<Submitted>> = [];
  for (let index = 0; index < count; index++) {
    await sleep(startedAt + (index * 1000) / ratePerSecond - Date.now());
    const submittedAt = Date.now();
    pending.push(submit(requestBody(index)).then((id) => ({ id, submittedAt })));
  }
  return Promise.all(pending);
}
