/**
 * The flows: per flow, the last 15 minutes of throughput as a chart, and per step its queue depth,
 * its messages in flight and what it finished and failed in the last minute.
 */
import { chartLegend, drawThroughputChart } from './chart.js';
import { h, hashOf, problemBox, replaceChildren } from './dom.js';

/** What the counts are, by the role of the process that served them. */
function scopeNote(role) {
  if (role === 'ingress') {
    return 'This engine process is an ingress (role ingress): it runs no steps, so “in flight” and the per-minute counts and chart stay at 0 here. Each worker counts its own work (see its /actuator/prometheus). Queue depths are Azure’s approximate counts, the same for every process.';
  }
  return `“In flight”, the per-minute counts and the chart are this engine process’s own (role ${role}): other replicas count their own work. Queue depths are Azure’s approximate counts, the same for every process.`;
}

function stat(value, label, kind = '') {
  return h('div', { class: `stat ${kind}` }, h('span', { class: 'stat-value' }, String(value)), h('span', { class: 'stat-label' }, label));
}

function inFlightCell(step) {
  const bar = h('span', { class: 'meter-fill' });
  bar.style.width = `${Math.min(100, (100 * step.inFlight) / Math.max(1, step.maxThreads))}%`;
  return h(
    'td',
    { class: 'num', 'data-label': 'In flight', title: `${step.inFlight} of ${step.maxThreads} worker slots busy` },
    h('span', { class: 'in-flight' }, `${step.inFlight} / ${step.maxThreads}`, h('span', { class: 'meter', 'aria-hidden': 'true' }, bar)),
  );
}

function stepRow(step, counts) {
  const failed = counts?.failed ?? 0;
  return h(
    'tr',
    { 'data-step': step.step },
    h('td', { 'data-label': 'Step' }, String(step.step)),
    h('td', { 'data-label': 'Queue', class: 'mono' }, step.sourceQueueName),
    h('td', { 'data-label': 'Endpoint', class: 'endpoint', title: step.endpoint }, step.endpoint),
    h('td', { class: 'num', 'data-label': 'Depth' }, String(step.approximateMessageCount)),
    inFlightCell(step),
    h('td', { class: 'num', 'data-label': 'Done / min' }, String(counts?.completed ?? 0)),
    h('td', { class: `num ${failed > 0 ? 'bad' : ''}`, 'data-label': 'Failed / min' }, String(failed)),
  );
}

function flowCard(flow, throughput) {
  const depth = flow.steps.reduce((n, s) => n + s.approximateMessageCount, 0);
  const inFlight = flow.steps.reduce((n, s) => n + s.inFlight, 0);
  const chart = h('div', { class: 'chart-box' });
  const card = h(
    'article',
    { class: 'card flow', 'data-flow': flow.name },
    h(
      'header',
      { class: 'flow-head' },
      h('h2', {}, flow.name),
      h(
        'div',
        { class: 'stats' },
        stat(throughput.lastMinute.completed, 'completed / min', 'good'),
        stat(throughput.lastMinute.deadLettered, 'dead-lettered / min', throughput.lastMinute.deadLettered > 0 ? 'bad' : ''),
        stat(depth, 'waiting'),
        stat(inFlight, 'in flight'),
      ),
    ),
    chart,
    h('div', { class: 'legend' }, chartLegend(throughput)),
    h(
      'table',
      { class: 'table steps' },
      h(
        'thead',
        {},
        h('tr', {}, h('th', {}, 'Step'), h('th', {}, 'Queue'), h('th', {}, 'Endpoint'), h('th', { class: 'num' }, 'Depth'), h('th', { class: 'num' }, 'In flight'), h('th', { class: 'num' }, 'Done / min'), h('th', { class: 'num' }, 'Failed / min')),
      ),
      h(
        'tbody',
        {},
        flow.steps.map((step) => stepRow(step, throughput.steps.find((s) => s.step === step.step))),
      ),
    ),
    h(
      'footer',
      { class: 'flow-links' },
      h('a', { href: hashOf('/requests', { flow: flow.name }) }, 'Requests'),
      h('a', { href: hashOf('/dlq', { flow: flow.name }) }, 'Dead letters'),
    ),
  );
  return { card, chart, throughput };
}

export function flowsView(context) {
  const note = h('p', { class: 'note' });
  const list = h('div', { class: 'flows' });
  const problem = problemBox();
  const element = h('section', { class: 'view' }, h('div', { class: 'view-head' }, h('h1', {}, 'Flows')), problem.element, list, note);
  let cards = [];

  const drawCharts = () => {
    for (const { chart, throughput } of cards) drawThroughputChart(chart, throughput);
  };

  return {
    element,
    title: 'Flows',
    async refresh() {
      const flows = (await context.api.get('/api/flows')).items;
      const throughputs = await Promise.all(flows.map((flow) => context.api.get(`/api/flows/${encodeURIComponent(flow.name)}/throughput`)));
      problem.clear();
      cards = flows.map((flow, i) => flowCard(flow, throughputs[i]));
      replaceChildren(list, cards.length ? cards.map((c) => c.card) : h('p', { class: 'muted' }, 'No flow is configured.'));
      drawCharts();
      note.textContent = throughputs[0] ? scopeNote(throughputs[0].role) : '';
    },
    fail: (err) => problem.show(err),
    resize: drawCharts,
  };
}
