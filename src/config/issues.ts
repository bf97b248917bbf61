import { EngineError } from '../errors.js';

/** One problem in the configuration: its JSON path, what is wrong, and the bad value when it is shown. */
export interface ConfigIssue {
  path: string;
  message: string;
  value?: unknown;
}

const MAX_VALUE_CHARS = 120;

/** `flow.config[0].queueMappings[1].sourceQueueName: "x" is not declared in queue.config` */
export function formatIssue(issue: ConfigIssue): string {
  if (!('value' in issue)) return `${issue.path}: ${issue.message}`;
  let shown = JSON.stringify(issue.value) ?? String(issue.value);
  if (shown.length > MAX_VALUE_CHARS) shown = `${shown.slice(0, MAX_VALUE_CHARS)}...`;
  return `${issue.path}: ${shown} ${issue.message}`;
}

export class ConfigError extends EngineError {
  override name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[]) {
    const lines = issues.map((issue) => `  ${formatIssue(issue)}`).join('\n');
    super('AE_INVALID_CONFIG', `${source} is invalid (${issues.length} ${issues.length === 1 ? 'error' : 'errors'}):\n${lines}`);
    this.issues = issues;
  }
}
