/**
 * Every command of `async-engine`, with its arguments, options and help text: what the parser
 * (command-line.ts) accepts and what `--help` prints. Running them is main.ts's (start, config
 * check) and operator.ts's (flows, requests, dlq).
 */

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in the help (`--flow F`); none for a boolean. */
  value?: string;
  help: string;
}

export type CommandName = 'start' | 'config check' | 'flows' | 'requests list' | 'requests get' | 'dlq list' | 'dlq get' | 'dlq replay' | 'dlq delete';

export interface CommandSpec {
  name: CommandName;
  /** The positional arguments after the command's words; an optional one is shown in brackets. */
  args: ReadonlyArray<{ name: string; isOptional: boolean }>;
  options: Readonly<Record<string, OptionSpec>>;
  /** One line in `async-engine --help`. */
  summary: string;
  /** The paragraph of `async-engine COMMAND --help`. */
  details: string;
}

const config: OptionSpec = { type: 'string', short: 'c', value: 'PATH', help: `configuration file; else $ASYNC_ENGINE_CONFIG, else config/\${ASYNC_ENGINE_ENV:-local}.json` };
const json: OptionSpec = { type: 'boolean', help: 'print exactly the JSON the HTTP API answers for the same (one line)' };
const flow: OptionSpec = { type: 'string', value: 'F', help: 'only the flow F' };
const limit: OptionSpec = { type: 'string', value: 'N', help: 'at most N, 1 to 1000 (default 50)' };
const cursor: OptionSpec = { type: 'string', value: 'C', help: "the page after the one whose nextCursor is C (the human output prints it as 'next page')" };

/** What the operator commands have in common, said once in their help. */
const OPERATOR_NOTE = "Works on storage directly with the configuration's credentials (no engine needs to run; the HTTP API's authentication and RBAC do not apply).";

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'start',
    args: [],
    options: {
      config,
      role: {
        type: 'string',
        short: 'r',
        value: 'ROLE',
        help: 'all (default), ingress (the HTTP API, no pollers) or worker (pollers, sweeps, callbacks; over HTTP only /actuator/*); else $ASYNC_ENGINE_ROLE',
      },
    },
    summary: 'run the engine until SIGTERM or SIGINT, then drain and exit',
    details: 'Starts the embedded emulator if configured, creates missing queues, tables and the payload container, and runs until SIGTERM or SIGINT; then drains and exits 0. A second signal exits at once.',
  },
  {
    name: 'config check',
    args: [],
    options: { config },
    summary: 'validate the configuration and print it, secrets as "[redacted]"',
    details: 'Prints the normalised configuration as JSON on stdout, or every error on stderr (exit 2), and says on stderr how the engine will reach storage.',
  },
  {
    name: 'flows',
    args: [],
    options: { json, config },
    summary: "each flow's steps with their queue depths",
    details: `Lists every configured flow's steps: source queue, endpoint, next queue, threads, and the source queue's approximate message count (Azure's estimate, messages being worked on included). inFlight and pollDelay in the JSON are this process's own, so 0 here. ${OPERATOR_NOTE}`,
  },
  {
    name: 'requests list',
    args: [],
    options: { flow, status: { type: 'string', value: 'S', help: 'only requests in state S: queued, processing, retrying, completed or dead-lettered' }, limit, cursor, json, config },
    summary: 'list requests, a page at a time',
    details: `Lists requests in request-id order (Table Storage cannot sort by time), like GET /api/requests. ${OPERATOR_NOTE}`,
  },
  {
    name: 'requests get',
    args: [{ name: 'ID', isOptional: false }],
    options: { json, config },
    summary: "one request's status",
    details: `Shows the status of request ID, like GET /api/requests/ID. Exit 3 when there is no such request. ${OPERATOR_NOTE}`,
  },
  {
    name: 'dlq list',
    args: [],
    options: { flow, limit, cursor, json, config },
    summary: 'list dead-lettered entries, newest first',
    details: `Lists the DLQ entries, newest first within a flow, like GET /api/dlq. ${OPERATOR_NOTE}`,
  },
  {
    name: 'dlq get',
    args: [{ name: 'ID', isOptional: false }],
    options: { json, config },
    summary: 'one DLQ entry',
    details: `Shows the DLQ entry ID, like GET /api/dlq/ID. Exit 3 when there is no such entry. ${OPERATOR_NOTE}`,
  },
  {
    name: 'dlq replay',
    args: [{ name: 'ID', isOptional: true }],
    options: { flow: { type: 'string', value: 'F', help: 'replay every entry of the flow F instead of one' }, json, config },
    summary: 'queue an entry (ID) or every entry of a flow (--flow F) again',
    details:
      'With ID: queues the request of DLQ entry ID again at the step it failed, attempts reset, and removes the entry, like POST /api/dlq/ID/replay (--json prints its {"id"}). ' +
      'With --flow F: replays every entry of F, 8 at a time, showing its progress on a terminal, like POST /api/dlq/replay?flow=F but in this process, to the end; ' +
      '--json then prints the finished job as GET /api/dlq/replays/{jobId} shows it. Exit 1 when an entry cannot be replayed or some failed, 130 when interrupted. ' +
      OPERATOR_NOTE,
  },
  {
    name: 'dlq delete',
    args: [{ name: 'ID', isOptional: false }],
    options: { json, config },
    summary: 'delete a DLQ entry and its payload',
    details: `Deletes the DLQ entry ID and its payload blobs, like DELETE /api/dlq/ID (which answers 204 without a body: --json prints nothing). Exit 3 when there is no such entry. ${OPERATOR_NOTE}`,
  },
];

export const EXIT_CODES_HELP = 'Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration, 3 not found, 64 usage error, 130 interrupted.';

/** `--help` of one command. */
export function commandHelp(command: CommandSpec): string {
  const optionText = (name: string, spec: OptionSpec): string => `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`;
  const options = [...Object.entries(command.options), ['help', { type: 'boolean', short: 'h', help: 'show this help' }] as const];
  const usage = [
    `async-engine ${command.name}`,
    ...command.args.map((a) => (a.isOptional ? `[${a.name}]` : a.name)),
    ...Object.entries(command.options).map(([name, spec]) => `[--${name}${spec.value ? ` ${spec.value}` : ''}]`),
  ].join(' ');
  const labelWidth = Math.max(...options.map(([name, spec]) => optionText(name, spec).length));
  return [
    `Usage: ${usage}`,
    '',
    wrap(`${command.summary[0]?.toUpperCase() ?? ''}${command.summary.slice(1)}. ${command.details}`, 78),
    '',
    'Options:',
    ...options.map(([name, spec]) => `  ${optionText(name, spec).padEnd(labelWidth)}  ${spec.help}`),
    '',
    EXIT_CODES_HELP,
    '',
  ].join('\n');
}

/** `async-engine dlq --help`: the commands of one group, a line each. */
export function groupHelp(group: string, commands: readonly CommandSpec[]): string {
  const label = (c: CommandSpec): string => [c.name, ...c.args.map((a) => (a.isOptional ? `[${a.name}]` : a.name))].join(' ');
  const width = Math.max(...commands.map((c) => label(c).length));
  return [
    `Usage: async-engine ${group} <command> [options]`,
    '',
    'Commands:',
    ...commands.map((c) => `  ${label(c).padEnd(width)}  ${c.summary}`),
    '',
    `"async-engine ${group} COMMAND --help" describes a command.`,
    EXIT_CODES_HELP,
    '',
  ].join('\n');
}

/** `async-engine --help`. */
export function globalHelp(): string {
  const label = (c: CommandSpec): string => [c.name, ...c.args.map((a) => (a.isOptional ? `[${a.name}]` : a.name))].join(' ');
  const width = Math.max(...COMMANDS.map((c) => label(c).length));
  return [
    'Usage: async-engine <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${label(c).padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    `  -c, --config PATH  ${config.help}`,
    '  -r, --role ROLE    for start: all (default), ingress or worker; else $ASYNC_ENGINE_ROLE',
    '      --json         for flows, requests and dlq: print what the HTTP API answers',
    '  -h, --help         show this help; after a command, that command\'s',
    '  -v, --version      show the version',
    '',
    'flows, requests and dlq work on storage directly, with the configuration\'s credentials:',
    'no engine needs to run, and the HTTP API\'s authentication and RBAC do not apply.',
    'Secrets may come from the environment: AZURE_STORAGE_CONNECTION_STRING,',
    'AZURE_STORAGE_ACCOUNT_KEY, OPENAPI_PASSWORD, OIDC_CLIENT_SECRET.',
    EXIT_CODES_HELP,
    '',
  ].join('\n');
}

function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}
