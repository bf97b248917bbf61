/**
 * The throughput chart: a small SVG line chart drawn by hand (no library): requests completed and
 * dead-lettered per 10-second bucket over the last 15 minutes, with a hover title per bucket.
 */
import { clockTime, svg } from './dom.js';

const HEIGHT = 150;
const PAD = { top: 12, right: 10, bottom: 22, left: 34 };

const SERIES = [
  { key: 'completed', label: 'completed', className: 'series-completed' },
  { key: 'deadLettered', label: 'dead-lettered', className: 'series-dead' },
];

/** A round step between the y axis's lines: 1, 2, 5, 10, 20, ... giving at most four steps to `max`. */
function tickStep(max) {
  const rough = Math.max(1, max / 4);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= rough) return step * magnitude;
  return 10 * magnitude;
}

/**
 * Draws the series of `buckets` into `container`, as wide as the container is.
 * @param {HTMLElement} container
 * @param {{ flow: string, bucketSeconds: number, buckets: Array<{start: string, completed: number, deadLettered: number}> }} throughput
 */
export function drawThroughputChart(container, throughput) {
  const { buckets, bucketSeconds } = throughput;
  const width = Math.max(260, Math.floor(container.clientWidth || 600));
  const plotWidth = width - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const max = Math.max(...buckets.map((b) => Math.max(b.completed, b.deadLettered)), 0);
  const yStep = tickStep(max);
  const top = Math.max(yStep, Math.ceil(max / yStep) * yStep);
  const step = buckets.length > 1 ? plotWidth / (buckets.length - 1) : plotWidth;
  const x = (i) => PAD.left + i * step;
  const y = (value) => PAD.top + plotHeight - (value / top) * plotHeight;
  const total = (key) => buckets.reduce((n, b) => n + b[key], 0);

  const grid = [];
  for (let value = 0; value <= top; value += yStep) {
    grid.push(
      svg(
        'g',
        { class: 'grid' },
        svg('line', { x1: PAD.left, x2: width - PAD.right, y1: y(value), y2: y(value) }),
        svg('text', { x: PAD.left - 6, y: y(value) + 4, 'text-anchor': 'end' }, String(value)),
      ),
    );
  }
  // Every five minutes from the start of the window, and "now" at the end.
  const ticks = [];
  const perFiveMinutes = Math.round(300 / bucketSeconds);
  for (let i = 0; i < buckets.length; i += perFiveMinutes) ticks.push(i);
  const axis = ticks.map((i) => {
    const minutesAgo = Math.round(((buckets.length - 1 - i) * bucketSeconds) / 60);
    return svg('text', { class: 'axis', x: x(i), y: HEIGHT - 6, 'text-anchor': i === 0 ? 'start' : 'middle' }, `−${minutesAgo} min`);
  });
  axis.push(svg('text', { class: 'axis', x: x(buckets.length - 1), y: HEIGHT - 6, 'text-anchor': 'end' }, 'now'));

  // A series without a single count stays off the chart (the legend still says 0).
  const lines = SERIES.filter(({ key }) => total(key) > 0).map(({ key, className }) => {
    const points = buckets.map((b, i) => `${x(i).toFixed(1)},${y(b[key]).toFixed(1)}`);
    const area = `M${x(0).toFixed(1)},${y(0).toFixed(1)} L${points.join(' L')} L${x(buckets.length - 1).toFixed(1)},${y(0).toFixed(1)} Z`;
    return svg('g', { class: className }, svg('path', { class: 'area', d: area }), svg('polyline', { class: 'line', points: points.join(' ') }));
  });
  // One transparent column per bucket, whose title tells its numbers on hover.
  const hovers = buckets.map((b, i) =>
    svg(
      'rect',
      { class: 'hover', x: x(i) - step / 2, y: PAD.top, width: step, height: plotHeight },
      svg('title', {}, `${clockTime(new Date(b.start))}: ${b.completed} completed, ${b.deadLettered} dead-lettered`),
    ),
  );
  const label = `Requests of flow ${throughput.flow} per ${bucketSeconds} s over the last 15 minutes: ${total('completed')} completed, ${total('deadLettered')} dead-lettered`;
  const quiet = lines.length === 0 ? svg('text', { class: 'quiet', x: PAD.left + plotWidth / 2, y: PAD.top + plotHeight / 2, 'text-anchor': 'middle' }, 'No request finished here in the last 15 minutes') : null;
  const chart = svg('svg', { class: 'chart', width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': label }, svg('title', {}, label), grid, axis, lines, quiet, hovers);
  container.replaceChildren(chart);
}

/** The legend under a chart, with the totals of the window. */
export function chartLegend(throughput) {
  const total = (key) => throughput.buckets.reduce((n, b) => n + b[key], 0);
  const caption = document.createElement('span');
  caption.textContent = `requests per ${throughput.bucketSeconds} s, last 15 min:`;
  return [caption, ...SERIES.map(({ key, label, className }) => svgLegendItem(className, `${total(key)} ${label}`))];
}

function svgLegendItem(className, text) {
  const item = document.createElement('span');
  item.className = `legend-item ${className}`;
  item.append(svg('svg', { width: 14, height: 4, 'aria-hidden': 'true' }, svg('line', { class: 'line', x1: 0, x2: 14, y1: 2, y2: 2 })), ` ${text}`);
  return item;
}
