// DOM helpers (no innerHTML anywhere: names and payloads from the server are always text), number and time
// formatting, the banner area and the confirmation dialog.

/**
 * Creates an element. `attrs`: `class`, `text`, `on: {event: fn}`, `dataset`-style `data-*`, booleans (set when
 * true), anything else as an attribute. Children: nodes, strings, arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** The same for SVG elements. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

function applyAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') {
      for (const [event, fn] of Object.entries(v)) el.addEventListener(event, fn);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else if (k === 'value' && 'value' in el && !(el instanceof SVGElement)) {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Sets text only when it changed (keeps selections and avoids layout work on every refresh). */
export function setText(el, text) {
  const s = String(text);
  if (el.textContent !== s) el.textContent = s;
}

/**
 * Keeps a container's children in step with `items`: one element per key, created once with `create(item)` and
 * updated with `update(el, item)` on every call, removed when its key is gone, in the order of `items`.
 */
export function syncChildren(container, items, key, create, update) {
  const existing = new Map();
  for (const child of Array.from(container.children)) {
    if (child.dataset.key !== undefined) existing.set(child.dataset.key, child);
    else child.remove();
  }
  let previous = null;
  for (const item of items) {
    const k = String(key(item));
    let el = existing.get(k);
    if (el) existing.delete(k);
    else {
      el = create(item);
      el.dataset.key = k;
    }
    update(el, item);
    const wanted = previous ? previous.nextSibling : container.firstChild;
    if (wanted !== el) container.insertBefore(el, wanted);
    previous = el;
  }
  for (const el of existing.values()) el.remove();
}

/** A table inside a card body: returns { wrap, table, tbody, empty } with a visually hidden caption. */
export function table(caption, columns, testid) {
  const tbody = h('tbody');
  const empty = h('div', { class: 'empty', hidden: true });
  const t = h(
    'table',
    { 'data-testid': testid, id: testid },
    h('caption', { class: 'visually-hidden', text: caption }),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null, text: c.label })))),
    tbody,
  );
  return { wrap: h('div', { class: 'table-wrap' }, t, empty), table: t, tbody, empty };
}

/** Shows `message` in the table's empty state when `count` is 0. */
export function setEmpty(tbl, count, message) {
  tbl.empty.hidden = count > 0;
  tbl.table.hidden = count === 0;
  if (count === 0) setText(tbl.empty, message);
}

/** A card with a header (title, optional hint or actions) and a body. */
export function card(title, { hint, actions, testid, flush } = {}, ...body) {
  return h(
    'section',
    { class: 'card', 'data-testid': testid, 'aria-label': title },
    h('header', {}, h('h2', { text: title }), hint ? h('span', { class: 'hint', text: hint }) : null, actions || null),
    h('div', { class: flush ? 'body flush' : 'body' }, ...body),
  );
}

/** A health badge for a partition's `{"state", "reason"}`. */
export function healthBadge(health) {
  const state = (health && health.state) || 'unknown';
  const cls = { online: 'ok', read_only: 'warn', offline: 'bad' }[state] || '';
  const label = state.replace('_', '-');
  return h('span', { class: `badge ${cls}`, title: health && health.reason ? health.reason : null, text: label });
}

// ---------- Formatting ----------

const intFmt = new Intl.NumberFormat('en-US');

/** 12,345 */
export function fmtInt(n) {
  return n === null || n === undefined || Number.isNaN(n) ? '–' : intFmt.format(Math.round(n));
}

/** 1.2 k, 3.4 M: for rates and axis labels. */
export function fmtCompact(n, digits = 1) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  if (abs < 1000) return abs < 10 && abs % 1 !== 0 ? n.toFixed(digits) : String(Math.round(n));
  for (const [div, unit] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
    if (abs >= div) return `${(n / div).toFixed(abs / div < 10 ? digits : 0)} ${unit}`;
  }
  return String(n);
}

/** 1.5 KiB, 20 MiB */
export function fmtBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (Math.abs(n) < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i += 1;
  } while (Math.abs(v) >= 1024 && i < units.length - 1);
  return `${v.toFixed(Math.abs(v) < 10 ? 1 : 0).replace(/\.0$/, '')} ${units[i]}`;
}

/** 3d 4h, 5m 12s */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hr = Math.floor(s / 3600);
  s -= hr * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** A local date and time with milliseconds, for message timestamps. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '–';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return String(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** The topic's durability as entered in forms: always, never, interval:100. */
export function fmtDurability(d) {
  if (typeof d === 'string') return d;
  if (d && d.interval) return `interval ${d.interval.ms} ms`;
  return JSON.stringify(d);
}

// ---------- Banners ----------

const banners = new Map();

/**
 * Shows (or, with a null message, removes) the banner with this key. `kind`: error, offline, success. Errors
 * from actions stay until dismissed or replaced; refresh errors are cleared by the next successful refresh.
 */
export function banner(key, message, kind = 'error') {
  const area = document.getElementById('banners');
  const old = banners.get(key);
  if (!message) {
    if (old) old.remove();
    banners.delete(key);
    return;
  }
  const text = typeof message === 'string' ? message : describeError(message);
  if (old && old.dataset.kind === kind && old.querySelector('.msg').textContent === text) return;
  const el = h(
    'div',
    {
      class: `banner ${kind}`,
      role: kind === 'success' ? 'status' : 'alert',
      'data-testid': kind === 'offline' ? 'offline-banner' : kind === 'success' ? 'success-banner' : 'error-banner',
      'data-kind': kind,
      'data-key': key,
    },
    h('span', { class: 'msg', text }),
    h('button', {
      type: 'button',
      'aria-label': 'Dismiss',
      text: '×',
      on: { click: () => banner(key, null) },
    }),
  );
  if (old) old.replaceWith(el);
  else area.append(el);
  banners.set(key, el);
  if (kind === 'success') setTimeout(() => banners.get(key) === el && banner(key, null), 4000);
}

/** Removes every banner whose key starts with `prefix` (a page's banners when it is left). */
export function clearBanners(prefix) {
  for (const key of Array.from(banners.keys())) if (key.startsWith(prefix)) banner(key, null);
}

/** The text shown for an error: the API's message, with its code. */
export function describeError(e) {
  if (!e) return 'Unknown error';
  if (e.name === 'ApiError') return e.unreachable ? e.message : `${e.message} (${e.code}, HTTP ${e.status})`;
  return e.message || String(e);
}

// ---------- Confirmation ----------

/**
 * Asks for confirmation in a modal dialog. With `typed`, the user must type that text first. Resolves true when
 * confirmed.
 */
export function confirmDialog({ title, text, typed, action = 'Delete' }) {
  const dialog = document.getElementById('confirm-dialog');
  const form = document.getElementById('confirm-form');
  const input = document.getElementById('confirm-input');
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  setText(document.getElementById('confirm-title'), title);
  setText(document.getElementById('confirm-text'), text);
  document.getElementById('confirm-field').hidden = !typed;
  setText(document.getElementById('confirm-label'), typed ? `Type "${typed}" to confirm` : '');
  setText(ok, action);
  input.value = '';
  ok.disabled = Boolean(typed);
  return new Promise((resolve) => {
    const onInput = () => {
      ok.disabled = input.value !== typed;
    };
    const finish = (result) => {
      input.removeEventListener('input', onInput);
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      if (!typed || input.value === typed) finish(true);
    };
    const onCancel = (ev) => {
      ev.preventDefault();
      finish(false);
    };
    input.addEventListener('input', onInput);
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    (typed ? input : cancel).focus();
  });
}
