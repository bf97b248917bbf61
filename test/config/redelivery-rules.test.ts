import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue } from '../../src/config/issues.js';
import { validDocument } from '../support/config-docs.js';
import { issueAt, issuePaths, onlyIssue, parse } from './issues-helpers.js';

const LIST = 'redelivery.config.additional';
/** A document whose redelivery.config.additional holds a rule (count 1, delay 10) per status, plus `extra`'s keys on each. */
const withStatuses = (statuses: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> =>
  validDocument({ 'redelivery.config': { additional: statuses.map((httpStatus) => ({ httpStatus, count: 1, delay: 10, ...extra })) } });
/** The [fromStatus, toStatus] of each resolved status rule, in the document's order. */
const rangesOf = (doc: Record<string, unknown>): Array<[number, number]> =>
  parse(doc).config.redelivery.statusRules.map((r) => [r.fromStatus, r.toStatus]);

describe('redelivery rules', () => {
  it('rejects a rule for a 2xx status, which is never redelivered', () => {
    const doc = validDocument({ 'redelivery.config': { additional: [{ httpStatus: 204, count: 1, delay: 10 }] } });
    onlyIssue(doc, 'redelivery.config.additional[0].httpStatus', { value: 204, message: /success/ });
  });

  it('accepts rules for 199 and 300, around the 2xx range', () => {
    const doc = validDocument({
      'redelivery.config': { additional: [{ httpStatus: 199, count: 1, delay: 10 }, { httpStatus: 300, count: 1, delay: 10 }] },
    });
    assert.deepEqual(parse(doc).config.redelivery.statusRules.map((r) => r.fromStatus), [199, 300]);
  });

  it('rejects a second rule for the same status', () => {
    const doc = validDocument({
      'redelivery.config': { additional: [{ httpStatus: 503, count: 1, delay: 10 }, { httpStatus: 429, count: 5, delay: 100 }, { httpStatus: 503, count: 2, delay: 20 }] },
    });
    onlyIssue(doc, 'redelivery.config.additional[2].httpStatus', { value: 503, message: /second rule \(the first is redelivery\.config\.additional\[0\]\)/ });
  });

  it('requires all three fields of a per-status rule', () => {
    const doc = validDocument({ 'redelivery.config': { additional: [{ httpStatus: 500 }] } });
    issuePaths(doc, ['redelivery.config.additional[0].count', 'redelivery.config.additional[0].delay']);
  });
});

describe('redelivery rules for ranges and classes of statuses', () => {
  it('accepts an exact status, a range and a class together, in either letter case', () => {
    assert.deepEqual(rangesOf(withStatuses([503, '500-549', '5xx', '4XX', '100-199'])), [
      [503, 503],
      [500, 549],
      [500, 599],
      [400, 499],
      [100, 199],
    ]);
  });

  it('reads a status written as a JSON string (as key-value stores hold them) as that status', () => {
    const doc = validDocument({ 'redelivery.config': { additional: '[{"httpStatus":"503","count":1,"delay":5},{"httpStatus":"5xx","count":2,"delay":5}]' } });
    assert.deepEqual(rangesOf(doc), [
      [503, 503],
      [500, 599],
    ]);
  });

  it('accepts a range that spans the successes but not only them', () => {
    assert.deepEqual(rangesOf(withStatuses(['150-250', '1xx'])), [
      [150, 250],
      [100, 199],
    ]);
  });

  it('accepts overlapping ranges of different widths and ranges of one width that only touch', () => {
    assert.deepEqual(rangesOf(withStatuses(['500-549', '540-599', '550-589', 545])).length, 4);
  });

  const malformed = /must be an HTTP status from 100 to 599, a range such as "500-599" or a class such as "5xx"/;
  const cases: Array<[name: string, httpStatus: unknown, message: RegExp]> = [
    ['a class with one x', '5x', malformed],
    ['a range without its upper end', '500-', malformed],
    ['a range written with dots', '500..599', malformed],
    ['a range with spaces', '500 - 599', malformed],
    ['a range of two-digit statuses', '50-59', malformed],
    ['a word', 'server errors', malformed],
    ['an empty string', '', malformed],
    ['a fraction', 503.5, malformed],
    ['a list of statuses', [502, 503], malformed],
    ['a reversed range, naming the order to write', '599-500', /is a reversed range: write "500-599"/],
    ['a status above 599', 600, /must lie within 100\.\.599/],
    ['a status below 100', 99, /must lie within 100\.\.599/],
    ['a range reaching past 599', '550-650', /must lie within 100\.\.599/],
    ['a range starting below 100', '050-150', /must lie within 100\.\.599/],
    ['the class 6xx', '6xx', /must lie within 100\.\.599/],
    ['the class 0xx', '0xx', /must lie within 100\.\.599/],
  ];
  for (const [name, httpStatus, message] of cases) {
    it(`rejects ${name}, at its path with its value`, () => {
      const issue = onlyIssue(withStatuses([429, httpStatus]), `${LIST}[1].httpStatus`, { value: httpStatus, message });
      assert.match(formatIssue(issue), /^redelivery\.config\.additional\[1\]\.httpStatus: /);
    });
  }

  it('rejects a class or range of successes only', () => {
    const issues = issuePaths(withStatuses(['2xx', '200-204', 503]), [`${LIST}[0].httpStatus`, `${LIST}[1].httpStatus`]);
    assert.match(issueAt(issues, `${LIST}[0].httpStatus`).message, /is a success, which is never redelivered/);
    assert.equal(issueAt(issues, `${LIST}[1].httpStatus`).value, '200-204');
  });

  it('rejects two overlapping ranges of one width, naming both paths', () => {
    onlyIssue(withStatuses([503, '500-549', '520-569']), `${LIST}[2].httpStatus`, {
      value: '520-569',
      message: /^overlaps redelivery\.config\.additional\[1\], a range as wide: neither is more specific$/,
    });
  });

  it('rejects a class and the range it stands for as the same statuses twice', () => {
    onlyIssue(withStatuses(['5xx', '500-599']), `${LIST}[1].httpStatus`, { value: '500-599', message: /second rule \(the first is redelivery\.config\.additional\[0\]\)/ });
  });

  it('rejects a class written twice in different letter cases', () => {
    onlyIssue(withStatuses(['4xx', '4XX']), `${LIST}[1].httpStatus`, { value: '4XX', message: /second rule \(the first is redelivery\.config\.additional\[0\]\)/ });
  });

  it('rejects an exact status written again as a range of one', () => {
    onlyIssue(withStatuses([503, '503-503']), `${LIST}[1].httpStatus`, { value: '503-503', message: /second rule/ });
  });

  it('reports every bad rule at once, each at its own path', () => {
    issuePaths(withStatuses(['5x', 503, '599-500', 700, '500-549', '520-569', 503, '2xx']), [
      `${LIST}[0].httpStatus`,
      `${LIST}[2].httpStatus`,
      `${LIST}[3].httpStatus`,
      `${LIST}[5].httpStatus`,
      `${LIST}[6].httpStatus`,
      `${LIST}[7].httpStatus`,
    ]);
  });
});

describe('redelivery back-off keys', () => {
  it('accepts backoff, maxDelay and jitter on the default rule and on status rules', () => {
    const { config } = parse(
      validDocument({
        'redelivery.config': {
          default: { count: 5, delay: 500, backoff: 'exponential', maxDelay: 30_000, jitter: false },
          additional: [{ httpStatus: '5xx', count: 8, delay: 1000, backoff: 'exponential', maxDelay: 60_000 }],
        },
      }),
    );
    assert.deepEqual(config.redelivery.default, { count: 5, delayInMs: 500, backoff: 'exponential', maxDelayInMs: 30_000, hasJitter: false });
    assert.deepEqual(config.redelivery.statusRules, [
      { fromStatus: 500, toStatus: 599, rule: { count: 8, delayInMs: 1000, backoff: 'exponential', maxDelayInMs: 60_000, hasJitter: true } },
    ]);
  });

  it('rejects a backoff other than fixed or exponential', () => {
    onlyIssue(withStatuses([503], { backoff: 'linear' }), `${LIST}[0].backoff`, { value: 'linear', message: /must be one of "fixed", "exponential"/ });
  });

  it('rejects a jitter that is not true or false', () => {
    onlyIssue(validDocument({ 'redelivery.config': { default: { jitter: 'full' } } }), 'redelivery.config.default.jitter', { value: 'full', message: /true or false/ });
  });

  it('rejects a maxDelay beyond 7 days, Azure\'s longest visibility timeout', () => {
    onlyIssue(withStatuses([503], { maxDelay: 604_800_001 }), `${LIST}[0].maxDelay`, { value: 604_800_001, message: /from 0 to 604800000/ });
  });

  it('rejects a maxDelay below the rule\'s own delay, in the default rule and in a status rule', () => {
    const issues = issuePaths(
      validDocument({
        'redelivery.config': { default: { delay: 2000, maxDelay: 1000 }, additional: [{ httpStatus: 503, count: 1, delay: 500, maxDelay: 499 }] },
      }),
      ['redelivery.config.default.maxDelay', `${LIST}[0].maxDelay`],
    );
    assert.equal(formatIssue(issueAt(issues, 'redelivery.config.default.maxDelay')), 'redelivery.config.default.maxDelay: 1000 must be at least delay (2000)');
    assert.equal(issueAt(issues, `${LIST}[0].maxDelay`).value, 499);
  });

  it('accepts a maxDelay equal to the delay', () => {
    parse(validDocument({ 'redelivery.config': { default: { delay: 2000, maxDelay: 2000, backoff: 'exponential' } } }));
  });
});
