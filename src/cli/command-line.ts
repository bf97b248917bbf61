/**
 * Reads `async-engine`'s arguments: which command (its words first, in any order with the options),
 * its positional arguments, and only the options that command has. Anything else is a usage error
 * (exit 64) that names what was wrong.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { EngineError } from '../errors.js';
import { COMMANDS, type CommandSpec, commandHelp, globalHelp, groupHelp, type OptionSpec } from './commands.js';

export type OptionValues = Readonly<Record<string, string | boolean | undefined>>;

export type Invocation =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | { kind: 'command'; command: CommandSpec; values: OptionValues; args: readonly string[] }
  /** The command line is wrong: `message`, then `help` (the command's, when the command was recognised). */
  | { kind: 'usage-error'; message: string; help: string };

const HELP: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' };
const VERSION: OptionSpec = { type: 'boolean', short: 'v', help: 'show the version' };

/** Every option any command has, so that a first reading knows which take a value. */
const ALL_OPTIONS: Readonly<Record<string, OptionSpec>> = Object.assign({ help: HELP, version: VERSION }, ...COMMANDS.map((c) => c.options));

type ParseOptions = NonNullable<ParseArgsConfig['options']>;

const parseOptionsOf = (options: Readonly<Record<string, OptionSpec>>): ParseOptions =>
  Object.fromEntries(Object.entries(options).map(([name, spec]) => [name, spec.short ? { type: spec.type, short: spec.short } : { type: spec.type }]));

export function parseCommandLine(argv: readonly string[]): Invocation {
  // First reading, lenient: where the command's words are, and whether help or the version was asked.
  const loose = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options: parseOptionsOf(ALL_OPTIONS) });
  const words = loose.positionals;
  const command = COMMANDS.map((c) => ({ c, length: c.name.split(' ').length }))
    .filter(({ c, length }) => words.slice(0, length).join(' ') === c.name)
    .sort((a, b) => b.length - a.length)[0];
  if (!command) {
    if (loose.values['help'] === true) return { kind: 'help', text: helpOf(words[0]) };
    if (words.length === 0 && loose.values['version'] === true) return { kind: 'version' };
    return { kind: 'usage-error', message: unknownCommand(words), help: helpOf(words[0]) };
  }
  const spec = command.c;
  const help = commandHelp(spec);
  if (loose.values['help'] === true) return { kind: 'help', text: help };

  const foreign = Object.keys(loose.values).find((name) => !(name in spec.options) && name in ALL_OPTIONS);
  if (foreign !== undefined) {
    const owners = COMMANDS.filter((c) => foreign in c.options).map((c) => c.name);
    const message = owners.length > 0 ? `--${foreign} applies to ${owners.join(', ')} only` : `--${foreign} goes before any command, alone`;
    return { kind: 'usage-error', message, help };
  }
  let strict: ReturnType<typeof parseArgs>;
  try {
    strict = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: parseOptionsOf({ ...spec.options, help: HELP }) });
  } catch (err) {
    return { kind: 'usage-error', message: (err as Error).message, help };
  }
  const args = strict.positionals.slice(command.length);
  const required = spec.args.filter((a) => !a.isOptional);
  if (args.length < required.length) return { kind: 'usage-error', message: `${spec.name} needs ${required.map((a) => a.name).join(' ')}`, help };
  if (args.length > spec.args.length) return { kind: 'usage-error', message: `unexpected argument ${JSON.stringify(args[spec.args.length])}`, help };
  return { kind: 'command', command: spec, values: strict.values as OptionValues, args };
}

/** A usage error met once the command is known (a bad option value, a malformed id): exit 64 with the command's help. */
export function usageError(message: string): EngineError {
  return new EngineError('AE_USAGE', message);
}

function unknownCommand(words: readonly string[]): string {
  if (words.length === 0) return 'no command given';
  const group = COMMANDS.filter((c) => c.name.startsWith(`${words[0]} `)).map((c) => c.name);
  const hint = group.length > 0 && words.length === 1 ? `: use ${group.join(', ')}` : '';
  return `unknown command "${words.join(' ')}"${hint}`;
}

/** `async-engine dlq --help`: the dlq commands; the global help for anything else. */
function helpOf(word: string | undefined): string {
  const group = COMMANDS.filter((c) => word !== undefined && c.name.startsWith(`${word} `));
  return word === undefined || group.length === 0 ? globalHelp() : groupHelp(word, group);
}
