/**
 * Requests: a list filtered by flow and status, page by page, a search by id, and one request's
 * page with its status, attempts, last answer, times, result and callback.
 */
import { apiPath } from './api.js';
import { badge, fullTime, h, hashOf, hashQuery, problemBox, replaceChildren, shortId, timeElement } from './dom.js';

const STATES = ['queued', 'processing', 'retrying', 'completed', 'dead-lettered'];
const PAGE_SIZE = 25;
/** The most of a result the page shows as text; the download has all of it. */
const PREVIEW_BYTES = 64 * 1024;
/** A request on its way is read again this often, so the page follows it step by step. */
const FOLLOW_IN_MS = 1_000;
const FINAL_STATES = new Set(['completed', 'dead-lettered']);

const requestHash = (id) => `#/requests/${encodeURIComponent(id)}`;

function select(name, label, options, value) {
  return h(
    'label',
    { class: 'field' },
    h('span', {}, label),
    h(
      'select',
      { name },
      options.map(([optionValue, text]) => h('option', { value: optionValue, selected: optionValue === value }, text)),
    ),
  );
}

function searchForm() {
  const input = h('input', { type: 'search', name: 'id', placeholder: 'Request id', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Request id', required: true });
  return h(
    'form',
    {
      class: 'search',
      role: 'search',
      on: {
        submit: (event) => {
          event.preventDefault();
          const id = input.value.trim();
          if (id) location.hash = requestHash(id);
        },
      },
    },
    input,
    h('button', { type: 'submit' }, 'Open'),
  );
}

export function requestsView(context) {
  const query = hashQuery();
  const flow = query.get('flow') ?? '';
  const status = query.get('status') ?? '';
  const problem = problemBox();
  const rows = h('tbody');
  const pageLabel = h('span', { class: 'muted' });
  const previous = h('button', { type: 'button', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', disabled: true }, 'Next →');
  /** The cursor of each page shown so far: [null] is the first page. */
  const cursors = [null];
  let nextCursor = null;

  const flowField = select('flow', 'Flow', [['', 'All flows'], ...(flow ? [[flow, flow]] : [])], flow);
  const statusField = select('status', 'Status', [['', 'Any status'], ...STATES.map((s) => [s, s])], status);
  const filters = h(
    'form',
    {
      class: 'filters',
      on: {
        change: () => {
          const data = new FormData(filters);
          location.hash = hashOf('/requests', { flow: String(data.get('flow') ?? ''), status: String(data.get('status') ?? '') });
        },
        submit: (event) => event.preventDefault(),
      },
    },
    flowField,
    statusField,
  );
  // The flows for the filter; without the right to list them the filter offers what the link named.
  context
    .flows()
    .then((flows) => {
      const choice = flowField.querySelector('select');
      replaceChildren(choice, h('option', { value: '' }, 'All flows'), flows.map((f) => h('option', { value: f.name, selected: f.name === flow }, f.name)));
    })
    .catch(() => undefined);

  const element = h(
    'section',
    { class: 'view' },
    h('div', { class: 'view-head' }, h('h1', {}, 'Requests'), searchForm()),
    filters,
    problem.element,
    h(
      'div',
      { class: 'card flush' },
      h(
        'table',
        { class: 'table requests' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Request'), h('th', {}, 'Flow'), h('th', {}, 'Status'), h('th', { class: 'num' }, 'Step'), h('th', { class: 'num' }, 'Attempt'), h('th', { class: 'num' }, 'Last HTTP'), h('th', {}, 'Updated'))),
        rows,
      ),
    ),
    h('div', { class: 'pager' }, previous, pageLabel, next),
    h('p', { class: 'note' }, 'Listed in request-id order, as Table Storage keeps them (it cannot sort by time).'),
  );

  async function load() {
    const page = await context.api.get(apiPath('/api/requests', { flow, status, limit: PAGE_SIZE, cursor: cursors.at(-1) }));
    problem.clear();
    nextCursor = page.nextCursor;
    replaceChildren(
      rows,
      page.items.length === 0
        ? h('tr', {}, h('td', { colspan: 7, class: 'muted empty' }, 'No requests match.'))
        : page.items.map((item) =>
            h(
              'tr',
              { 'data-request': item.id },
              h('td', { 'data-label': 'Request' }, h('a', { href: requestHash(item.id) }, shortId(item.id))),
              h('td', { 'data-label': 'Flow' }, item.flow),
              h('td', { 'data-label': 'Status' }, badge(item.status)),
              h('td', { class: 'num', 'data-label': 'Step' }, String(item.step)),
              h('td', { class: 'num', 'data-label': 'Attempt' }, String(item.attempt)),
              h('td', { class: 'num', 'data-label': 'Last HTTP' }, item.lastHttpStatus === undefined ? '—' : String(item.lastHttpStatus)),
              h('td', { 'data-label': 'Updated' }, timeElement(item.updatedAt)),
            ),
          ),
    );
    previous.disabled = cursors.length === 1;
    next.disabled = nextCursor === null;
    pageLabel.textContent = `Page ${cursors.length}`;
  }
  previous.addEventListener('click', () => {
    cursors.pop();
    load().catch((err) => problem.show(err));
  });
  next.addEventListener('click', () => {
    if (nextCursor === null) return;
    cursors.push(nextCursor);
    load().catch((err) => problem.show(err));
  });

  return { element, title: 'Requests', refresh: load, fail: (err) => problem.show(err) };
}

/** The steps of the flow, the current one marked, as a row of dots. */
function stepper(flow, status) {
  if (!flow) return null;
  const done = (index) => status.status === 'completed' || index < status.step;
  return h(
    'ol',
    { class: 'stepper', 'aria-label': 'Steps of the flow' },
    flow.steps.map((step) => {
      const current = step.step === status.step && status.status !== 'completed';
      const state = done(step.step) ? 'done' : current ? (status.status === 'dead-lettered' ? 'dead' : 'current') : 'todo';
      return h('li', { class: `step-${state}`, title: `${step.sourceQueueName} → ${step.endpoint}`, 'aria-current': current ? 'step' : null }, h('span', { class: 'dot' }), `Step ${step.step}`);
    }),
  );
}

function fact(label, value) {
  return [h('dt', {}, label), h('dd', {}, value)];
}

export function requestView(context, id) {
  const problem = problemBox();
  const head = h('div', { class: 'view-head' });
  const summary = h('div', { class: 'card' });
  const result = h('div', { class: 'card result' });
  const element = h('section', { class: 'view' }, h('a', { class: 'back', href: '#/requests' }, '← Requests'), head, problem.element, summary, result);
  let shownStatus = null;
  let downloadUrl = null;

  const dropDownload = () => {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = null;
  };

  async function showResult(output) {
    const path = `/api/requests/${encodeURIComponent(id)}/result`;
    replaceChildren(output, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const response = await context.api.send('GET', path);
      const type = response.headers.get('content-type') ?? 'application/octet-stream';
      const blob = await response.blob();
      dropDownload();
      // As bytes only: a blob URL belongs to this page's origin, and a result (whatever an endpoint
      // answered, HTML included) must never be rendered there, even opened in a tab of its own.
      downloadUrl = URL.createObjectURL(new Blob([blob], { type: 'application/octet-stream' }));
      const isText = /^(text\/|application\/([\w.+-]*\+)?(json|xml|x-www-form-urlencoded))/i.test(type);
      let preview = null;
      if (isText) {
        let text = await blob.slice(0, PREVIEW_BYTES).text();
        if (/json/i.test(type) && blob.size <= PREVIEW_BYTES) {
          try {
            text = JSON.stringify(JSON.parse(text), null, 2);
          } catch {
            // Not JSON after all: shown as it is.
          }
        }
        preview = h('pre', { class: 'result-body' }, text, blob.size > PREVIEW_BYTES ? '\n…' : '');
      }
      replaceChildren(
        output,
        h('p', {}, h('span', { class: 'mono' }, type), ` · ${blob.size} bytes · `, h('a', { href: downloadUrl, download: `result-${id}` }, 'Download')),
        preview ?? h('p', { class: 'muted' }, 'Not text: download it to look inside.'),
      );
    } catch (err) {
      replaceChildren(output, h('p', { class: 'error-text', role: 'alert' }, err.message));
    }
  }

  function renderResult(status) {
    const path = `/api/requests/${encodeURIComponent(id)}/result`;
    const output = h('div', { class: 'result-output' });
    let body;
    if (status.status === 'completed') {
      const show = (event) => {
        event.preventDefault();
        void showResult(output);
      };
      body = [
        h('p', {}, 'The result is the last step’s answer, at ', h('a', { href: path, class: 'mono', on: { click: show } }, path), '.'),
        h('button', { type: 'button', class: 'primary', id: 'show-result', on: { click: show } }, 'Show result'),
        output,
      ];
    } else if (status.status === 'dead-lettered') {
      body = h('p', {}, 'No result: the request was dead-lettered. Replay it from the ', h('a', { href: hashOf('/dlq', { flow: status.flow }) }, 'dead letters'), '.');
    } else {
      body = h('p', { class: 'muted' }, 'No result yet: the request is still on its way.');
    }
    replaceChildren(result, h('h2', {}, 'Result'), body);
  }

  async function refresh() {
    const [status, flows] = await Promise.all([context.api.get(`/api/requests/${encodeURIComponent(id)}`), context.flows().catch(() => [])]);
    problem.clear();
    const flow = flows.find((f) => f.name === status.flow);
    replaceChildren(head, h('h1', {}, 'Request ', h('span', { class: 'mono break' }, status.id)), badge(status.status));
    const callback = status.callback ? h('span', {}, badge(status.callback.status), ' ', h('span', { class: 'mono break' }, status.callback.url)) : h('span', { class: 'muted' }, 'none');
    replaceChildren(
      summary,
      stepper(flow, status),
      h(
        'dl',
        { class: 'facts' },
        fact('Flow', h('a', { href: hashOf('/requests', { flow: status.flow }) }, status.flow)),
        fact('Status', badge(status.status)),
        fact('Step', [`${status.step}${flow ? ` (steps 0–${flow.steps.length - 1})` : ''} · `, h('span', { class: 'mono' }, status.stepQueue)]),
        fact('Attempt', String(status.attempt)),
        fact('Last HTTP status', status.lastHttpStatus === undefined ? '—' : String(status.lastHttpStatus)),
        fact('Error', status.error ? h('pre', { class: 'error-text' }, status.error) : '—'),
        fact('Created', fullTime(status.createdAt)),
        fact('Updated', [fullTime(status.updatedAt), ' (', timeElement(status.updatedAt), ')']),
        fact('Completed', fullTime(status.completedAt)),
        status.submittedBy ? fact('Submitted by', status.submittedBy) : null,
        fact('Callback', callback),
      ),
    );
    if (shownStatus !== status.status) renderResult(status);
    shownStatus = status.status;
  }

  return {
    element,
    title: `Request ${id}`,
    refresh,
    refreshInMs: () => (shownStatus === null || FINAL_STATES.has(shownStatus) ? undefined : FOLLOW_IN_MS),
    fail(err) {
      if (err.status === 404) {
        replaceChildren(head, h('h1', {}, 'Request ', h('span', { class: 'mono break' }, id)));
        problem.show(new Error(`There is no request with this id (or none you may read).`));
        return;
      }
      problem.show(err);
    },
    dispose: dropDownload,
  };
}
