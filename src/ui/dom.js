/**
 * Small DOM helpers for the dashboard: elements built with text nodes only (nothing from the API
 * is ever parsed as HTML), and the formatting of times, counts and states.
 */

/**
 * An element: `h('a', { href: '#/flows', class: 'nav' }, 'Flows')`. Attributes whose value is
 * null, undefined or false are left out; `on` maps event names to listeners. Children are nodes,
 * strings (text), arrays of them, or null/false (nothing).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [attributes]
 * @param {...unknown} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element, as {@link h}. */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'on') {
      for (const [event, listener] of Object.entries(value)) element.addEventListener(event, listener);
    } else if (value !== null && value !== undefined && value !== false) {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `element`. */
export function replaceChildren(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** The query parameters of the location's hash (`#/requests?flow=x`). */
export function hashQuery() {
  const hash = location.hash;
  const at = hash.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : hash.slice(at + 1));
}

/** `#/path?query`, leaving out empty parameters. */
export function hashOf(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value) params.set(name, value);
  const text = params.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** 14:03:05 */
export function clockTime(date) {
  return timeFormat.format(date);
}

/** "12 s ago", "5 min ago", "3 h ago", else the date. */
export function ago(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return '';
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return dateTimeFormat.format(then);
}

/** A time as the page shows it: relative, the exact instant on hover. */
export function timeElement(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: dateTimeFormat.format(Date.parse(iso)) }, ago(iso));
}

/** The full date and time. */
export function fullTime(iso) {
  return iso ? dateTimeFormat.format(Date.parse(iso)) : '—';
}

/** A request's or entry's state as a coloured badge. */
export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${kind}` }, text);
}

/** A short form of a long id, the whole of it on hover and for screen readers. */
export function shortId(id) {
  if (typeof id !== 'string' || id.length <= 13) return h('span', { class: 'mono' }, id ?? '—');
  return h('span', { class: 'mono', title: id, 'aria-label': id }, `${id.slice(0, 8)}…${id.slice(-4)}`);
}

/**
 * A place for a view's error: hidden until shown. A refused call (403) says which role is missing.
 * @returns {{ element: HTMLElement, show: (err: unknown) => void, clear: () => void }}
 */
export function problemBox() {
  const element = h('div', { class: 'problem', role: 'alert', hidden: true });
  return {
    element,
    show(err) {
      element.textContent = err instanceof Error ? err.message : String(err);
      element.hidden = false;
    },
    clear() {
      element.hidden = true;
      element.textContent = '';
    },
  };
}
