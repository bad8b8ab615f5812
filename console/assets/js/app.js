// The console's shell: the sign-in page (shown until the tab holds a session, and again when the server ends it),
// routes, the stream picker, broker version and uptime, the signed-in user with sign-out, the live indicator, and
// the refresh loop that polls the server every 2 s while the tab is visible (paused while hidden).

import * as api from './api.js';
import { currentSegments, href, match, navigate } from './router.js';
import { banner, clearBanners, describeError, fmtDuration, h, setText } from './ui.js';
import overview from './pages/overview.js';
import topicsPage from './pages/topics.js';
import topicPage from './pages/topic.js';
import groupsPage from './pages/groups.js';
import groupPage from './pages/group.js';
import usersPage from './pages/users.js';

const REFRESH_MS = 2000;
const REQUEST_TIMEOUT_MS = 10_000;
const STREAM_KEY = 'callboard.console.stream';

const routes = [
  { pattern: 'overview', page: overview },
  { pattern: 'topics', redirect: () => href('streams', state.stream, 'topics') },
  { pattern: 'groups', redirect: () => href('streams', state.stream, 'groups') },
  { pattern: 'streams/:stream/topics', page: topicsPage },
  { pattern: 'streams/:stream/topics/:topic', page: topicPage },
  { pattern: 'streams/:stream/groups', page: groupsPage },
  { pattern: 'streams/:stream/groups/:group', page: groupPage },
  { pattern: 'users', page: usersPage },
];

const state = {
  stream: readStoredStream(),
  streams: [],
  view: null,
  page: null,
  params: {},
  timer: null,
  running: null,
  tickAbort: null,
  lastContact: null,
  offline: false,
  uptime: null,
  user: null,
  started: false,
};

function readStoredStream() {
  try {
    return window.localStorage.getItem(STREAM_KEY) || 'default';
  } catch {
    return 'default';
  }
}

function setStream(stream) {
  state.stream = stream;
  try {
    window.localStorage.setItem(STREAM_KEY, stream);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  renderStreamPicker();
}

// ---------- Shell ----------

function renderStreamPicker() {
  const select = document.getElementById('stream-select');
  const names = state.streams.map((s) => s.name);
  if (!names.includes(state.stream)) names.unshift(state.stream);
  const current = Array.from(select.options).map((o) => o.value);
  if (current.join('\n') !== names.join('\n')) {
    select.replaceChildren(...names.map((n) => h('option', { value: n, text: n })));
  }
  if (select.value !== state.stream) select.value = state.stream;
}

function onStreamPicked(ev) {
  const stream = ev.target.value;
  setStream(stream);
  const section = state.page ? state.page.section : 'overview';
  if (section === 'topics' || section === 'groups') navigate(href('streams', stream, section));
}

function setLive(kind, text) {
  const live = document.getElementById('live');
  live.dataset.state = kind;
  setText(document.getElementById('live-text'), text);
}

function clock(date = new Date()) {
  return date.toLocaleTimeString('en-GB', { hour12: false });
}

/** Breadcrumbs: [{label, href}] with the last one current. */
function setCrumbs(items) {
  const nav = document.getElementById('crumbs');
  const nodes = [];
  items.forEach((item, i) => {
    if (i) nodes.push(h('span', { class: 'sep', 'aria-hidden': 'true', text: '/' }));
    const last = i === items.length - 1;
    nodes.push(last || !item.href ? h('span', { 'aria-current': last ? 'page' : null, text: item.label })
      : h('a', { href: item.href, text: item.label }));
  });
  nav.replaceChildren(...nodes);
  document.title = `${items[items.length - 1].label} · Callboard console`;
}

async function refreshShell(statusPromise, signal) {
  const [status, streams] = await Promise.all([statusPromise, api.streams(signal)]);
  setText(document.getElementById('broker-version'), status.version);
  setText(document.getElementById('broker-uptime'), fmtDuration(status.uptime_ms));
  if (state.uptime !== null && status.uptime_ms + 5000 < state.uptime) {
    banner('shell:restart', `The broker restarted (${clock()}).`, 'success');
  }
  state.uptime = status.uptime_ms;
  state.streams = streams;
  renderStreamPicker();
}

function markOnline() {
  state.lastContact = new Date();
  if (state.offline) {
    state.offline = false;
    banner('shell:offline', null);
    banner('shell:back', 'Connection to the broker is back.', 'success');
  }
  setLive('live', `Live · updated ${clock(state.lastContact)}`);
}

function markOffline(why) {
  state.offline = true;
  const since = state.lastContact ? ` Last answer at ${clock(state.lastContact)}.` : ' No answer since the page loaded.';
  banner('shell:offline', `Lost contact with the broker at ${window.location.host}: ${why}.${since} ` +
    `Retrying every ${REFRESH_MS / 1000} s.`, 'offline');
  setLive('offline', 'Offline');
}

// ---------- Refresh loop ----------

function schedule(delay = REFRESH_MS) {
  clearTimeout(state.timer);
  state.timer = setTimeout(tick, delay);
}

/** One refresh: the shell and the current page, with a timeout; never two at once. */
async function tick() {
  clearTimeout(state.timer);
  if (!state.user) return;
  if (document.hidden) {
    setLive('paused', 'Paused while the tab is hidden');
    return;
  }
  if (state.running) return;
  const controller = new AbortController();
  state.tickAbort = controller;
  // Only this timer's abort means "no answer": leaving a page aborts the refresh in flight too (unmountCurrent).
  let timedOut = false;
  const timeout = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, REQUEST_TIMEOUT_MS);
  const view = state.view;
  const statusPromise = api.status(controller.signal);
  statusPromise.catch(() => {});
  state.running = (async () => {
    const results = await Promise.allSettled([
      refreshShell(statusPromise, controller.signal),
      view && view.refresh ? view.refresh({ signal: controller.signal, status: statusPromise }) : null,
    ]);
    const [shell, page] = results;
    if (shell.status === 'fulfilled') markOnline();
    else if (timedOut) markOffline(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
    else if (shell.reason && shell.reason.unreachable) markOffline('the server is not answering (stopped, restarting, or the network is down)');
    else if (shell.reason && shell.reason.name !== 'AbortError') banner('shell:error', describeError(shell.reason));
    if (shell.status === 'fulfilled') banner('shell:error', null);
    if (view !== state.view) return;
    if (page.status === 'rejected') {
      const e = page.reason;
      // When the shell's requests failed too, its banner already says why.
      if (e && e.name !== 'AbortError' && shell.status === 'fulfilled') banner('page:refresh', describeError(e));
    } else {
      banner('page:refresh', null);
    }
  })();
  try {
    await state.running;
  } finally {
    clearTimeout(timeout);
    state.running = null;
    if (state.tickAbort === controller) state.tickAbort = null;
    schedule();
  }
}

// ---------- Pages ----------

function unmountCurrent() {
  if (state.tickAbort) state.tickAbort.abort();
  if (state.view && state.view.unmount) state.view.unmount();
  state.view = null;
  clearBanners('page:');
}

function route() {
  const found = match(routes, currentSegments());
  const segments = currentSegments() || [];
  if (!found) {
    if (segments.length === 0) {
      navigate('#/overview', { replace: true });
      return;
    }
    unmountCurrent();
    state.page = null;
    setCrumbs([{ label: 'Not found' }]);
    const main = document.getElementById('main');
    main.replaceChildren(h('div', { class: 'page-head' }, h('div', {}, h('h1', { text: 'Page not found' }),
      h('p', {}, 'Nothing lives at this address. ', h('a', { href: '#/overview', text: 'Back to the overview' })))));
    return;
  }
  if (found.route.redirect) {
    navigate(found.route.redirect(), { replace: true });
    return;
  }
  unmountCurrent();
  const page = found.route.page;
  state.page = page;
  state.params = found.params;
  if (found.params.stream !== undefined && found.params.stream !== state.stream) setStream(found.params.stream);
  for (const a of document.querySelectorAll('.rail nav a')) {
    if (a.dataset.section === page.section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  main.replaceChildren();
  const ctx = {
    params: found.params,
    stream: found.params.stream ?? state.stream,
    crumbs: setCrumbs,
    navigate,
    streams: () => state.streams,
    /** Runs a refresh now (after an action changed something). */
    refreshNow: () => {
      if (state.running) state.running.then(() => tick());
      else tick();
    },
  };
  state.view = page.mount(main, ctx);
  if (document.activeElement && document.activeElement !== document.body && !main.contains(document.activeElement)) {
    main.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
  if (state.running) state.running.then(() => tick());
  else tick();
}

// ---------- Session ----------

/** Shows the sign-in page (with why, when the server ended the session) and stops refreshing. */
function showLogin(message) {
  state.user = null;
  clearTimeout(state.timer);
  unmountCurrent();
  state.page = null;
  document.getElementById('shell').hidden = true;
  document.getElementById('login-page').hidden = false;
  const error = document.getElementById('login-error');
  error.hidden = !message;
  setText(error, message || '');
  document.title = 'Sign in · Callboard console';
  document.getElementById('login-user').focus();
}

/** Shows the console for `user` ({name, grants}). */
function showShell(user) {
  state.user = user;
  const global = (user.grants && user.grants.global) || [];
  document.getElementById('nav-users-item').hidden = !global.includes('manage_users');
  setText(document.getElementById('whoami'), user.name);
  document.getElementById('login-page').hidden = true;
  document.getElementById('shell').hidden = false;
  if (!state.started) {
    state.started = true;
    window.addEventListener('hashchange', () => {
      if (state.user) route();
    });
  }
  route();
}

async function onLogin(ev) {
  ev.preventDefault();
  const user = document.getElementById('login-user').value.trim();
  const password = document.getElementById('login-password').value;
  const submit = document.getElementById('login-submit');
  const error = document.getElementById('login-error');
  if (!user || !password) {
    error.hidden = false;
    setText(error, 'Enter a user name and a password.');
    return;
  }
  submit.disabled = true;
  try {
    const me = await api.login(user, password);
    document.getElementById('login-password').value = '';
    showShell(me);
  } catch (e) {
    error.hidden = false;
    setText(error, e.status === 401 ? `Sign-in refused: ${e.message}` : describeError(e));
  } finally {
    submit.disabled = false;
  }
}

async function onLogout() {
  await api.logout();
  showLogin(null);
}

async function start() {
  document.getElementById('stream-select').addEventListener('change', onStreamPicked);
  document.getElementById('login-form').addEventListener('submit', onLogin);
  document.getElementById('logout').addEventListener('click', onLogout);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) tick();
  });
  api.onSignedOut((message) => showLogin(message));
  renderStreamPicker();
  if (!api.session()) {
    showLogin(null);
    return;
  }
  try {
    showShell(await api.whoami());
  } catch (e) {
    if (e.status !== 401) showLogin(describeError(e));
  }
}

start();
