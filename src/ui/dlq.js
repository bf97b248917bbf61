/**
 * The dead letters, per flow and newest first: why each entry is there, with replay and delete per
 * entry and a replay of the whole flow, each behind a confirmation. The API decides who may: a
 * refusal (403) is shown as it comes, saying which role is missing.
 */
import { apiPath } from './api.js';
import { badge, h, hashOf, hashQuery, problemBox, replaceChildren, shortId, timeElement } from './dom.js';

const PAGE_SIZE = 50;
const JOB_POLL_IN_MS = 1_000;

const REASONS = {
  exhausted: 'the redeliveries were used up',
  poison: 'the message could not be read, named another flow or step, or was received too often',
  expired: 'it would have outlived its queue’s timeToLive, or expired in its queue unprocessed',
};

/** One flow's entries, with "more" paging and its replay job. */
function flowSection(context, flowName, onChanged) {
  const problem = problemBox();
  const rows = h('div', { class: 'entries' });
  const count = h('span', { class: 'count' });
  const jobLine = h('p', { class: 'job', hidden: true, role: 'status' });
  const more = h('button', { type: 'button', hidden: true }, 'Show more');
  const replayAll = h('button', { type: 'button', class: 'primary', 'data-action': 'replay-flow' }, 'Replay all');
  let entries = [];
  let nextCursor = null;
  /** While the user looks at more than the first page, the refresh leaves the list alone. */
  let hasMore = false;

  const act = async (run) => {
    try {
      await run();
      onChanged();
    } catch (err) {
      problem.show(err);
      context.notify(err.message, 'error');
    }
  };

  const replay = (entry) =>
    act(async () => {
      const ok = await context.confirm({
        title: 'Replay this entry?',
        body: `Request ${entry.requestId ?? '(unreadable message)'} is queued again at step ${entry.step} of flow ${entry.flow}, its attempts reset; the entry leaves the dead letters once it is sent.`,
        action: 'Replay',
      });
      if (!ok) return;
      const answer = await context.api.post(`/api/dlq/${encodeURIComponent(entry.dlqId)}/replay`);
      context.notify(answer.id ? `Replayed: request ${answer.id} is queued again.` : 'Replayed: the message is queued again as it was.');
    });

  const remove = (entry) =>
    act(async () => {
      const ok = await context.confirm({
        title: 'Delete this entry?',
        body: `The entry of request ${entry.requestId ?? '(unreadable message)'} and its kept input are deleted for good: it can no longer be replayed.`,
        action: 'Delete',
        danger: true,
      });
      if (!ok) return;
      await context.api.delete(`/api/dlq/${encodeURIComponent(entry.dlqId)}`);
      context.notify('Deleted.');
    });

  const followJob = async (jobId) => {
    jobLine.hidden = false;
    for (;;) {
      const job = await context.api.get(`/api/dlq/replays/${encodeURIComponent(jobId)}`);
      jobLine.textContent = `Replay of ${job.flow}: ${job.replayed} replayed, ${job.skipped} skipped, ${job.failed} failed${job.done ? ' — done.' : ' …'}`;
      if (job.done) break;
      await new Promise((resolve) => setTimeout(resolve, JOB_POLL_IN_MS));
    }
    onChanged();
  };

  replayAll.addEventListener('click', () =>
    act(async () => {
      const ok = await context.confirm({
        title: `Replay every entry of ${flowName}?`,
        body: `Every dead letter of flow ${flowName} is queued again at its step, in the background. Entries that cannot be replayed stay.`,
        action: 'Replay all',
      });
      if (!ok) return;
      const { jobId } = await context.api.post(apiPath('/api/dlq/replay', { flow: flowName }));
      context.notify(`Replay of ${flowName} started.`);
      await followJob(jobId);
    }),
  );

  const entryCard = (entry) =>
    h(
      'article',
      { class: 'entry', 'data-dlq': entry.dlqId, 'data-request': entry.requestId ?? '' },
      h(
        'div',
        { class: 'entry-main' },
        h(
          'div',
          { class: 'entry-head' },
          badge(entry.reason, `reason-${entry.reason}`),
          entry.requestId ? h('a', { href: `#/requests/${encodeURIComponent(entry.requestId)}` }, shortId(entry.requestId)) : h('span', { class: 'muted' }, 'unreadable message'),
          h('span', { class: 'muted' }, '·'),
          timeElement(entry.deadLetteredAt),
        ),
        h(
          'dl',
          { class: 'entry-facts' },
          h('dt', {}, 'Step'),
          h('dd', {}, `${entry.step} · `, h('span', { class: 'mono' }, entry.sourceQueue)),
          h('dt', {}, 'Attempts'),
          h('dd', {}, String(entry.attempts)),
          h('dt', {}, 'Last HTTP'),
          h('dd', {}, entry.lastHttpStatus === undefined ? '—' : String(entry.lastHttpStatus)),
          h('dt', {}, 'Why'),
          h('dd', {}, REASONS[entry.reason] ?? entry.reason),
        ),
        h('pre', { class: 'error-text' }, entry.error),
      ),
      h(
        'div',
        { class: 'entry-actions' },
        h('button', { type: 'button', 'data-action': 'replay', on: { click: () => void replay(entry) } }, 'Replay'),
        h('button', { type: 'button', class: 'danger-outline', 'data-action': 'delete', on: { click: () => void remove(entry) } }, 'Delete'),
      ),
    );

  const render = () => {
    replaceChildren(rows, entries.length === 0 ? h('p', { class: 'muted empty' }, 'No dead letters.') : entries.map(entryCard));
    count.textContent = entries.length === 0 ? '' : `${entries.length}${nextCursor ? '+' : ''}`;
    more.hidden = nextCursor === null;
    replayAll.disabled = entries.length === 0;
  };

  more.addEventListener('click', () =>
    act(async () => {
      const page = await context.api.get(apiPath('/api/dlq', { flow: flowName, limit: PAGE_SIZE, cursor: nextCursor }));
      entries = [...entries, ...page.items];
      nextCursor = page.nextCursor;
      hasMore = true;
      render();
    }),
  );

  const element = h(
    'section',
    { class: 'card dlq-flow', 'data-flow': flowName },
    h('header', { class: 'dlq-head' }, h('h2', {}, flowName, ' ', count), replayAll),
    jobLine,
    problem.element,
    rows,
    more,
  );

  return {
    element,
    async refresh() {
      if (hasMore) return;
      try {
        const page = await context.api.get(apiPath('/api/dlq', { flow: flowName, limit: PAGE_SIZE }));
        entries = page.items;
        nextCursor = page.nextCursor;
        problem.clear();
        render();
      } catch (err) {
        problem.show(err);
        replaceChildren(rows);
        replayAll.disabled = true;
        throw err;
      }
    },
  };
}

export function dlqView(context) {
  const chosen = hashQuery().get('flow') ?? '';
  const problem = problemBox();
  const list = h('div', { class: 'dlq' });
  const picker = h('nav', { class: 'chips', 'aria-label': 'Flows' });
  const element = h(
    'section',
    { class: 'view' },
    h('div', { class: 'view-head' }, h('h1', {}, 'Dead letters'), picker),
    problem.element,
    list,
    h('p', { class: 'note' }, 'Newest first within each flow. Replaying queues the request again at the step it failed, its attempts reset; deleting discards the entry and its kept input.'),
  );
  let sections = null;

  const refreshAll = async () => {
    if (!sections) return;
    const outcomes = await Promise.allSettled(sections.map((s) => s.refresh()));
    const refused = outcomes.find((o) => o.status === 'rejected');
    if (refused) throw refused.reason;
  };

  return {
    element,
    title: 'Dead letters',
    async refresh() {
      if (!sections) {
        const names = chosen ? [chosen] : (await context.flows()).map((f) => f.name);
        replaceChildren(
          picker,
          h('a', { href: '#/dlq', 'aria-current': chosen ? null : 'page' }, 'All flows'),
          (await context.flows().catch(() => [])).map((f) => h('a', { href: hashOf('/dlq', { flow: f.name }), 'aria-current': f.name === chosen ? 'page' : null }, f.name)),
        );
        sections = names.map((name) => flowSection(context, name, () => void refreshAll().catch(() => undefined)));
        replaceChildren(list, sections.length ? sections.map((s) => s.element) : h('p', { class: 'muted' }, 'No flow is configured.'));
      }
      problem.clear();
      await refreshAll();
    },
    // Each flow's section shows its own refusal; a failure to list the flows shows here.
    fail: (err) => {
      if (!sections) problem.show(err);
    },
  };
}
