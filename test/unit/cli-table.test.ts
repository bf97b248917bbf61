import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Column, columnWidths, renderFields, renderTable, truncate } from '../../src/cli/table.js';

const ESC = '\u001b';
const hasControl = (text: string): boolean => [...text].some((c) => c < ' ' || c === '\u007f');

const columns: Column[] = [
  { header: 'ID', shrinkOrder: 0 },
  { header: 'STATUS', shrinkOrder: 1 },
  { header: 'N', shrinkOrder: 0, align: 'right' },
  { header: 'ERROR', shrinkOrder: 4 },
];
const rows = [
  ['6f1c2d3e-aaaa-bbbb-cccc-000000000001', { text: 'completed', style: 'green' as const }, '1', ''],
  ['6f1c2d3e-aaaa-bbbb-cccc-000000000002', { text: 'dead-lettered', style: 'red' as const }, '12', 'HTTP 503: the endpoint is down for maintenance until tomorrow'],
];

describe('the command line\'s tables', () => {
  it('align every column to its widest cell, numbers to the right, with no trailing blanks', () => {
    const lines = renderTable(columns, rows, { width: null, hasColour: false });
    assert.deepEqual(lines, [
      'ID                                    STATUS          N  ERROR',
      '6f1c2d3e-aaaa-bbbb-cccc-000000000001  completed       1',
      '6f1c2d3e-aaaa-bbbb-cccc-000000000002  dead-lettered  12  HTTP 503: the endpoint is down for maintenance until tomorrow',
    ]);
  });

  for (const width of [120, 80, 72, 60, 40]) {
    it(`fit ${width} columns, free text giving way first and cut cells ending in an ellipsis`, () => {
      const lines = renderTable(columns, rows, { width, hasColour: false });
      for (const line of lines) assert.ok([...line].length <= width, `${line} (${[...line].length})`);
      const widths = columnWidths(columns, rows, width);
      if (width < 120) assert.ok(lines[2]?.includes('…'), lines[2]);
      // The id column gives way only once the error column is as narrow as it goes.
      if ((widths[0] ?? 0) < 36) assert.equal(widths[3], 6);
    });
  }

  it('never cut a column below its minWidth: the other columns give way', () => {
    const withStatus: Column[] = [{ header: 'ID', shrinkOrder: 0 }, { header: 'STATUS', shrinkOrder: 5, minWidth: 13 }, { header: 'ERROR', shrinkOrder: 4 }];
    const widths = columnWidths(withStatus, rows.map((r) => [r[0] ?? '', r[1] ?? '', r[3] ?? '']), 40);
    assert.equal(widths[1], 13);
    assert.ok((widths[0] ?? 0) < 36, 'the id gave way instead');
  });

  it('use colour only when told, and then only as SGR codes around the cell', () => {
    assert.ok(!renderTable(columns, rows, { width: 80, hasColour: false }).join('').includes(ESC));
    const coloured = renderTable(columns, rows, { width: null, hasColour: true });
    assert.ok(coloured[0]?.startsWith(`${ESC}[1mID`), coloured[0]);
    assert.ok(coloured[1]?.includes(`${ESC}[32mcompleted${ESC}[39m`), coloured[1]);
    assert.ok(coloured[2]?.includes(`${ESC}[31mdead-lettered${ESC}[39m`), coloured[2]);
  });

  it('show control characters of a cell as spaces: an endpoint\'s error text cannot drive the terminal', () => {
    const hostile = [['x', 'queued', '1', 'HTTP 500: \u001b[2J\u001b]0;pwned\u0007gone\r\n']];
    const [, line] = renderTable(columns, hostile, { width: null, hasColour: false });
    assert.ok(!hasControl(line ?? ''), line);
    const [field] = renderFields([['error', 'a\u001b[31mb\rc']], { hasColour: false });
    assert.ok(!hasControl(field ?? ''), field);
  });

  for (const [text, width, expected] of [
    ['abcdef', 6, 'abcdef'],
    ['abcdefg', 6, 'abcde…'],
    ['abc', 1, '…'],
    ['abc', 0, ''],
    ['ééééé', 3, 'éé…'],
  ] as const) {
    it(`truncate(${JSON.stringify(text)}, ${width}) is ${JSON.stringify(expected)}`, () => {
      assert.equal(truncate(text, width), expected);
    });
  }

  it('align labelled fields after the longest label and never cut a value', () => {
    const long = 'x'.repeat(300);
    assert.deepEqual(renderFields([['id', '1'], ['last HTTP status', '503'], ['error', long]], { hasColour: false }), ['id                1', 'last HTTP status  503', `error             ${long}`]);
  });
});
