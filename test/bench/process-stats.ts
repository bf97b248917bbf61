/**
 * Peak RSS and CPU time of another process, read from /proc (Linux). Elsewhere both are null and
 * the report shows "n/a".
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcessStats {
  /** VmHWM: the highest resident set size the process has had. */
  peakRssInBytes: number | null;
  /** utime + stime so far. */
  cpuSeconds: number | null;
}

/** The kernel's clock ticks per second for /proc/<pid>/stat; 100 on practically every Linux. */
const CLOCK_TICKS_PER_SECOND = readClockTicks();

export function readProcessStats(pid: number): ProcessStats {
  return { peakRssInBytes: readPeakRss(pid), cpuSeconds: readCpuSeconds(pid) };
}

function readPeakRss(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; the fields after its ')' start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[14 - 3]);
    const stime = Number(fields[15 - 3]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / CLOCK_TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

function readClockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** The resident set size now (VmRSS), or null off Linux. */
export function readRss(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface RssSample {
  /** Seconds since sampling started. */
  atSeconds: number;
  rssInBytes: number;
}

/** Samples a process's RSS at a fixed interval, to show whether it grows over a long run. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(pid: number, intervalInMs: number) {
    const startedAt = Date.now();
    this.#timer = setInterval(() => {
      const rssInBytes = readRss(pid);
      if (rssInBytes !== null) this.samples.push({ atSeconds: (Date.now() - startedAt) / 1000, rssInBytes });
    }, intervalInMs);
    this.#timer.unref();
  }

  stop(): RssSample[] {
    clearInterval(this.#timer);
    return this.samples;
  }

  /** The sample nearest to each fraction (0..1) of the sampled time; null when there is none. */
  static at(samples: readonly RssSample[], fractions: readonly number[]): Array<number | null> {
    const last = samples.at(-1);
    if (!last) return fractions.map(() => null);
    return fractions.map((f) => {
      const target = f * last.atSeconds;
      let nearest = samples[0]!;
      for (const s of samples) if (Math.abs(s.atSeconds - target) < Math.abs(nearest.atSeconds - target)) nearest = s;
      return nearest.rssInBytes;
    });
  }
}
