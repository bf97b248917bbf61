/**
 * The operators' dashboard: signs in (under auth "oidc"), then shows one view at a time, chosen by
 * the location's hash, and refreshes it every few seconds while the page is visible. Views read
 * the API only through ./api.js, with the user's token; nothing is kept beyond the page.
 */
import { createApi } from './api.js';
import { OidcSession } from './auth.js';
import { dlqView } from './dlq.js';
import { clockTime, h, replaceChildren } from './dom.js';
import { flowsView } from './flows.js';
import { requestView, requestsView } from './requests.js';

const REFRESH_IN_MS = 5_000;
/** The page the provider returns to: register it as the client's redirect URI. */
const REDIRECT_URI = `${location.origin}/ui`;

const main = document.getElementById('main');
const session = document.getElementById('session');
const toasts = document.getElementById('toasts');
const footer = document.getElementById('footer');
const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('confirm'));

/** A message that goes away by itself; errors stay until closed. */
function notify(message, kind = 'info') {
  const close = () => toast.remove();
  const toast = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('span', {}, message), h('button', { class: 'link', type: 'button', 'aria-label': 'Dismiss', on: { click: close } }, '×'));
  toasts.append(toast);
  if (kind !== 'error') setTimeout(close, 6_000);
}

/**
 * Asks before an action: resolves true when the user confirms.
 * @param {{ title: string, body: string, action: string, danger?: boolean }} question
 */
function confirm({ title, body, action, danger = false }) {
  const ok = h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : 'primary' }, action);
  replaceChildren(
    dialog,
    h(
      'form',
      { method: 'dialog' },
      h('h2', {}, title),
      h('p', {}, body),
      h('div', { class: 'actions' }, h('button', { type: 'submit', value: 'cancel' }, 'Cancel'), ok),
    ),
  );
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    ok.focus();
  });
}

async function loadSettings() {
  const response = await fetch('/ui/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`the dashboard's settings answered ${response.status}`);
  return response.json();
}

function routeOf(hash) {
  const path = hash.replace(/^#/, '').split('?')[0] || '/flows';
  const request = /^\/requests\/([^/]+)$/.exec(path);
  if (request) return { name: 'requests', create: (context) => requestView(context, decodeURIComponent(request[1])) };
  if (path === '/requests') return { name: 'requests', create: requestsView };
  if (path === '/dlq') return { name: 'dlq', create: dlqView };
  return { name: 'flows', create: flowsView };
}

function showSignIn(settings, oidc, problem) {
  const canSignIn = settings.clientId !== null;
  replaceChildren(
    main,
    h(
      'section',
      { class: 'card sign-in' },
      h('h1', {}, 'Sign in'),
      h('p', {}, 'The dashboard shows what the engine’s API shows you: sign in with your account of ', h('span', { class: 'mono' }, settings.issuer), '.'),
      problem ? h('p', { class: 'error-text', role: 'alert' }, problem) : null,
      canSignIn
        ? h(
            'button',
            {
              class: 'primary',
              type: 'button',
              id: 'sign-in',
              on: { click: () => oidc.signIn().catch((err) => showSignIn(settings, oidc, err.message)) },
            },
            'Sign in',
          )
        : h('p', { class: 'error-text' }, 'This engine names no OpenID client for the dashboard: set ui.config.clientId (see the README).'),
    ),
  );
}

function showSession(oidc) {
  if (!oidc) {
    replaceChildren(session, h('span', { class: 'muted', title: 'server.config.auth is "none"' }, 'no sign-in'));
    return;
  }
  if (!oidc.isSignedIn) {
    replaceChildren(session);
    return;
  }
  replaceChildren(
    session,
    h('span', { class: 'user', title: oidc.roles.length ? `roles: ${oidc.roles.join(', ')}` : 'no realm roles' }, oidc.userName),
    h('button', { type: 'button', class: 'link', id: 'sign-out', on: { click: () => void oidc.signOut() } }, 'Sign out'),
  );
}

async function start() {
  const settings = await loadSettings();
  let oidc = null;
  let shell = null;
  if (settings.auth === 'oidc') {
    oidc = new OidcSession({
      issuer: settings.issuer,
      clientId: settings.clientId ?? '',
      redirectUri: REDIRECT_URI,
      onChange: () => {
        showSession(oidc);
        if (!oidc.isSignedIn) {
          shell?.stop();
          shell = null;
          showSignIn(settings, oidc, 'You are signed out.');
        }
      },
    });
    try {
      await oidc.completeSignIn();
    } catch (err) {
      showSignIn(settings, oidc, err.message);
      return;
    }
    if (!oidc.isSignedIn) {
      showSession(oidc);
      showSignIn(settings, oidc, null);
      return;
    }
  }
  showSession(oidc);
  shell = startShell(createApi({ token: async () => (oidc ? oidc.token() : null) }));
}

/** Runs the views until stopped (sign-out). */
function startShell(api) {
  let view = null;
  let timer = 0;
  let paused = false;
  let stopped = false;
  let lastUpdate = null;
  let failed = false;
  let flowsCatalog = null;
  const context = {
    api,
    notify,
    confirm,
    /** The configured flows, read once per page (GET /api/flows). */
    flows: () => {
      flowsCatalog ??= api.get('/api/flows').then(
        (answer) => answer.items,
        (err) => {
          flowsCatalog = null;
          throw err;
        },
      );
      return flowsCatalog;
    },
  };

  const pauseButton = h('button', { type: 'button', class: 'link', id: 'pause', on: { click: () => setPaused(!paused) } });
  const status = h('span', { id: 'updated' });
  replaceChildren(footer, h('span', {}, 'async-engine'), status, pauseButton);
  const setPaused = (value) => {
    paused = value;
    pauseButton.textContent = paused ? 'Resume refresh' : 'Pause refresh';
    showStatus();
    if (!paused) void refresh();
  };
  const showStatus = () => {
    const last = lastUpdate ? `${failed ? 'Tried' : 'Updated'} ${clockTime(lastUpdate)}${failed ? ', with an error (above)' : ''}` : 'Loading…';
    status.textContent = paused ? `${last} · refresh paused` : `${last} · every ${REFRESH_IN_MS / 1000} s`;
  };

  let running = null;
  /** Refreshes the view now (once at a time), then every REFRESH_IN_MS while the page is visible. */
  function refresh() {
    running ??= (async () => {
      clearTimeout(timer);
      const current = view;
      if (!current || stopped) return;
      if (document.visibilityState === 'visible') {
        try {
          await current.refresh();
          failed = false;
        } catch (err) {
          // The view shows the error in place; the loop goes on.
          current.fail(err);
          failed = true;
        }
        lastUpdate = new Date();
        showStatus();
      }
      // A view may ask for a quicker pace while something it shows is about to change.
      if (current === view && !paused && !stopped) timer = setTimeout(() => void refresh(), current.refreshInMs?.() ?? REFRESH_IN_MS);
    })().finally(() => {
      running = null;
    });
    return running;
  }

  function show() {
    const route = routeOf(location.hash);
    for (const link of document.querySelectorAll('#nav a[data-view]')) {
      if (link.getAttribute('data-view') === route.name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    view?.dispose?.();
    view = route.create(context);
    replaceChildren(main, view.element);
    document.title = `${view.title} · async-engine`;
    // A refresh of the previous view may be under way: this one follows it.
    void (running ?? Promise.resolve()).then(() => refresh());
  }

  const onHashChange = () => show();
  const onVisibility = () => {
    if (document.visibilityState === 'visible' && !paused) void refresh();
  };
  let resizeTimer = 0;
  const onResize = () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => view?.resize?.(), 150);
  };
  addEventListener('hashchange', onHashChange);
  document.addEventListener('visibilitychange', onVisibility);
  addEventListener('resize', onResize);
  setPaused(false);
  show();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      view?.dispose?.();
      view = null;
      removeEventListener('hashchange', onHashChange);
      document.removeEventListener('visibilitychange', onVisibility);
      removeEventListener('resize', onResize);
      replaceChildren(footer);
    },
  };
}

start().catch((err) => {
  replaceChildren(main, h('section', { class: 'card' }, h('h1', {}, 'The dashboard could not start'), h('p', { class: 'error-text', role: 'alert' }, err.message)));
});
