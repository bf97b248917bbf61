/**
 * Where a command's answer goes: stdout, as a terminal or as a pipe. On a terminal, tables fit its
 * width, colour is used unless NO_COLOR is set (https://no-color.org) or TERM is "dumb", and a
 * progress line is redrawn in place; elsewhere, full cells, no colour, and plain lines.
 */
import { type Cell, type Column, renderFields, renderTable, type Style, styled } from './table.js';

export interface TerminalOptions {
  stream: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

export class Terminal {
  readonly isTty: boolean;
  readonly hasColour: boolean;
  readonly #stream: NodeJS.WriteStream;
  #hasProgressLine = false;

  constructor({ stream, env }: TerminalOptions) {
    this.#stream = stream;
    this.isTty = stream.isTTY === true;
    const noColor = env['NO_COLOR'];
    this.hasColour = this.isTty && (noColor === undefined || noColor === '') && env['TERM'] !== 'dumb';
  }

  /** The width tables fit: the terminal's columns, null (no limit) for a pipe or a file. */
  get width(): number | null {
    return this.isTty && typeof this.#stream.columns === 'number' && this.#stream.columns > 0 ? this.#stream.columns : null;
  }

  style(text: string, style: Style | null): string {
    return styled(text, style, this.hasColour);
  }

  line(text = ''): void {
    this.#endProgress();
    this.#stream.write(`${text}\n`);
  }

  table(columns: readonly Column[], rows: readonly Cell[][]): void {
    for (const line of renderTable(columns, rows, { width: this.width, hasColour: this.hasColour })) this.line(line);
  }

  fields(fields: ReadonlyArray<readonly [string, Cell]>): void {
    for (const line of renderFields(fields, { hasColour: this.hasColour })) this.line(line);
  }

  /** Exactly `text` and a newline: what `--json` prints, never styled. */
  raw(text: string): void {
    this.#stream.write(`${text}\n`);
  }

  /**
   * On a terminal, `text` replaces the progress line in place (cut to the width); elsewhere it is
   * a line of its own, so the caller decides how often to call.
   */
  progress(text: string): void {
    if (!this.isTty) {
      this.line(text);
      return;
    }
    const width = this.width;
    const shown = width === null ? text : [...text].slice(0, Math.max(width - 1, 0)).join('');
    // \r to the line's start, \x1b[K erases what a longer earlier text left.
    this.#stream.write(`\r${shown}\u001b[K`);
    this.#hasProgressLine = true;
  }

  #endProgress(): void {
    if (!this.#hasProgressLine) return;
    this.#stream.write('\n');
    this.#hasProgressLine = false;
  }
}
