/**
 * The bench's command line. Defaults follow the Benchmark issue; `--quick` is a smoke run that
 * finishes in well under a minute.
 */
import { parseArgs } from 'node:util';

/** The scenarios, in the order a run takes them; `--only` picks some. */
export const SCENARIOS = ['throughput', 'cpu-split', 'light', 'trickle', 'idle', 'backlog'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  /** Requests per system per round. */
  n: number;
  /** Submissions in flight at once in the throughput and backlog runs. */
  concurrency: number;
  rounds: number;
  lightRate: number;
  lightSeconds: number;
  /** The second light-load scenario: requests/s and its duration. */
  trickleRate: number;
  trickleSeconds: number;
  /** How long both systems sit idle (two flows, no traffic) while their receives are counted. */
  idleSeconds: number;
  backlogFactor: number;
  /** Milliseconds both systems wait after an empty receive (the engine's queue `delay`). */
  pollDelayInMs: number;
  isJson: boolean;
  isQuick: boolean;
  /** A folder for `node --cpu-prof` profiles of the system processes, or null. */
  cpuProfDir: string | null;
  /** The scenarios to run (`--only`), in {@link SCENARIOS}' order; all by default. */
  scenarios: readonly ScenarioName[];
}

const DEFAULTS = {
  n: 600,
  concurrency: 32,
  rounds: 2,
  lightRate: 20,
  lightSeconds: 10,
  trickleRate: 1,
  trickleSeconds: 30,
  idleSeconds: 60,
  backlogFactor: 10,
  pollDelayInMs: 100,
} as const;
const QUICK = { n: 60, concurrency: 16, rounds: 1, lightRate: 20, lightSeconds: 2, trickleSeconds: 2, idleSeconds: 3, backlogFactor: 3 } as const;

export const USAGE = `Usage: npm run bench -- [options]

  --n N                requests per system per round (default ${DEFAULTS.n})
  --concurrency C      submissions in flight at once (default ${DEFAULTS.concurrency})
  --rounds R           rounds, alternating floor and engine (default ${DEFAULTS.rounds})
  --light-rate R       requests/s of the light-load scenario (default ${DEFAULTS.lightRate})
  --light-seconds S    its duration (default ${DEFAULTS.lightSeconds})
  --trickle-rate R     requests/s of the second light-load scenario (default ${DEFAULTS.trickleRate})
  --trickle-seconds S  its duration (default ${DEFAULTS.trickleSeconds})
  --idle-seconds S     the idle scenario: two flows, no traffic, receives counted (default ${DEFAULTS.idleSeconds})
  --backlog-factor F   the backlog is F x N requests (default ${DEFAULTS.backlogFactor})
  --poll-delay MS      wait after an empty receive, both systems (default ${DEFAULTS.pollDelayInMs})
  --cpu-prof DIR       profile the floor and engine processes with node --cpu-prof into DIR
  --only S[,S...]      run only these scenarios: ${SCENARIOS.join(', ')} (default: all); the
                       goal lines of the others are left out
  --json               print only the JSON result on stdout
  --quick              a small smoke run (N=${QUICK.n}, 1 round, short light loads, idle ${QUICK.idleSeconds} s, backlog ${QUICK.backlogFactor}x)
`;

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      n: { type: 'string' },
      concurrency: { type: 'string' },
      rounds: { type: 'string' },
      'light-rate': { type: 'string' },
      'light-seconds': { type: 'string' },
      'trickle-rate': { type: 'string' },
      'trickle-seconds': { type: 'string' },
      'idle-seconds': { type: 'string' },
      'backlog-factor': { type: 'string' },
      'poll-delay': { type: 'string' },
      'cpu-prof': { type: 'string' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const base = values.quick ? { ...DEFAULTS, ...QUICK } : DEFAULTS;
  return {
    n: positiveInteger('--n', values.n, base.n),
    concurrency: positiveInteger('--concurrency', values.concurrency, base.concurrency),
    rounds: positiveInteger('--rounds', values.rounds, base.rounds),
    lightRate: positiveNumber('--light-rate', values['light-rate'], base.lightRate),
    lightSeconds: positiveNumber('--light-seconds', values['light-seconds'], base.lightSeconds),
    trickleRate: positiveNumber('--trickle-rate', values['trickle-rate'], base.trickleRate),
    trickleSeconds: positiveNumber('--trickle-seconds', values['trickle-seconds'], base.trickleSeconds),
    idleSeconds: positiveNumber('--idle-seconds', values['idle-seconds'], base.idleSeconds),
    backlogFactor: positiveNumber('--backlog-factor', values['backlog-factor'], base.backlogFactor),
    pollDelayInMs: positiveInteger('--poll-delay', values['poll-delay'], base.pollDelayInMs),
    isJson: values.json,
    isQuick: values.quick,
    cpuProfDir: values['cpu-prof'] ?? null,
    scenarios: scenariosOf(values.only),
  };
}

/** `--only`'s comma-separated scenario names, each exactly as {@link SCENARIOS} spells it. */
function scenariosOf(text: string | undefined): readonly ScenarioName[] {
  if (text === undefined) return SCENARIOS;
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(`--only takes scenario names among ${SCENARIOS.join(', ')}, got "${text.slice(0, 100)}"`);
  }
  return SCENARIOS.filter((scenario) => names.includes(scenario));
}

function positiveNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} must be a positive number, got "${text}"`);
  return value;
}

function positiveInteger(flag: string, text: string | undefined, fallback: number): number {
  const value = positiveNumber(flag, text, fallback);
  if (!Number.isInteger(value)) throw new Error(`${flag} must be a whole number, got "${text}"`);
  return value;
}
