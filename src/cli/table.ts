/**
 * Text for people: aligned tables that fit a width, and labelled fields, with ANSI colour where the
 * caller allows it. Pure: what to print for a width and a colour choice (terminal.ts decides those).
 */

export type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';

/** SGR codes: [on, off]. Off codes reset only their own attribute, so styles nest. */
const SGR: Readonly<Record<Style, readonly [number, number]>> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
};

/** `text` in `style` when `hasColour`, else as it is. */
export function styled(text: string, style: Style | null, hasColour: boolean): string {
  if (!hasColour || style === null || text === '') return text;
  const [on, off] = SGR[style];
  return `\u001b[${on}m${text}\u001b[${off}m`;
}

/** ISO 8601 to the second, in UTC: what a table has room for. */
export function shortTime(at: Date): string {
  return `${at.toISOString().slice(0, 19)}Z`;
}

/** A cell: its text, and the style it is shown in with colour. */
export type Cell = string | { text: string; style: Style | null };

export interface Column {
  header: string;
  /**
   * Which columns give up width first when the table is too wide: the highest first (free text such
   * as an error), 0 last (ids, which a reader copies).
   */
  shrinkOrder: number;
  /** The narrowest it gets (default MIN_COLUMN_WIDTH): a status cut short says nothing. */
  minWidth?: number;
  align?: 'left' | 'right';
}

export interface Layout {
  /** The width to fit, in characters; null for no limit (output that is not a terminal). */
  width: number | null;
  hasColour: boolean;
}

const GAP = '  ';
const ELLIPSIS = '…';
/** No column shrinks below this (one already narrower keeps its width), however narrow the terminal. */
const MIN_COLUMN_WIDTH = 6;

const textOf = (cell: Cell): string => (typeof cell === 'string' ? cell : cell.text);
const styleOf = (cell: Cell): Style | null => (typeof cell === 'string' ? null : cell.style);
/**
 * Characters as a terminal counts them, near enough: code points, each control character a space.
 * An error text comes from an endpoint's answer: an escape sequence in it must not drive the
 * operator's terminal.
 */
const visible = (text: string): string[] => [...text].map((c) => (c < ' ' || c === '\u007f' ? ' ' : c));

/** `text` cut to `width` characters, its last one an ellipsis when anything was cut. */
export function truncate(text: string, width: number): string {
  const chars = visible(text);
  if (chars.length <= width) return chars.join('');
  return width <= 0 ? '' : `${chars.slice(0, width - 1).join('')}${ELLIPSIS}`;
}

/**
 * The widths of `columns` for `rows`: each as wide as its widest cell, then, while the table is
 * wider than `width`, the column with the highest shrinkOrder that can still give a character
 * (the widest of those first) gives one, down to its minWidth.
 */
export function columnWidths(columns: readonly Column[], rows: readonly Cell[][], width: number | null): number[] {
  const widths = columns.map((column, i) => Math.max(visible(column.header).length, ...rows.map((row) => visible(textOf(row[i] ?? '')).length)));
  if (width === null) return widths;
  const floor = widths.map((w, i) => Math.min(w, columns[i]?.minWidth ?? MIN_COLUMN_WIDTH));
  const total = (): number => widths.reduce((sum, w) => sum + w, 0) + GAP.length * Math.max(columns.length - 1, 0);
  while (total() > width) {
    let pick = -1;
    columns.forEach((column, i) => {
      if ((widths[i] ?? 0) <= (floor[i] ?? 0)) return;
      const best = columns[pick];
      if (pick < 0 || !best || column.shrinkOrder > best.shrinkOrder || (column.shrinkOrder === best.shrinkOrder && (widths[i] ?? 0) > (widths[pick] ?? 0))) pick = i;
    });
    if (pick < 0) break;
    widths[pick] = (widths[pick] ?? 0) - 1;
  }
  return widths;
}

/** The lines of a table: a header line, then one line per row; cells cut to fit with an ellipsis. */
export function renderTable(columns: readonly Column[], rows: readonly Cell[][], { width, hasColour }: Layout): string[] {
  const widths = columnWidths(columns, rows, width);
  const line = (cells: readonly Cell[], isHeader: boolean): string =>
    columns
      .map((column, i) => {
        const w = widths[i] ?? 0;
        const cell = cells[i] ?? '';
        const text = truncate(textOf(cell), w);
        const padding = ' '.repeat(w - visible(text).length);
        // The style around the text alone: padding stays plain.
        const shown = styled(text, isHeader ? 'bold' : styleOf(cell), hasColour);
        if (column.align === 'right') return `${padding}${shown}`;
        return i === columns.length - 1 ? shown : `${shown}${padding}`;
      })
      .join(GAP)
      .trimEnd();
  return [line(columns.map((c) => c.header), true), ...rows.map((row) => line(row, false))];
}

/** Labelled values, one a line, the values aligned after the longest label; values are never cut. */
export function renderFields(fields: ReadonlyArray<readonly [string, Cell]>, { hasColour }: Pick<Layout, 'hasColour'>): string[] {
  const labelWidth = Math.max(0, ...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `${styled(label.padEnd(labelWidth), 'dim', hasColour)}${GAP}${styled(visible(textOf(value)).join(''), styleOf(value), hasColour)}`);
}
