// The topic page's message browser (read a partition from an offset, view payloads as text, JSON or hex, page
// through, optionally follow new messages) and its produce form (key, headers, payload as text, JSON or hex).

import * as api from './api.js';
import { b64Text, fromBase64, parseHex, renderPayload, toBase64, utf8Bytes } from './codec.js';
import { banner, card, fmtInt, fmtTime, h, setText } from './ui.js';

const MODES = [['text', 'Text'], ['json', 'JSON'], ['hex', 'Hex']];
const MAX_SHOWN = 500;

function field(label, input) {
  return h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input);
}

function syncPartitionOptions(select, partitions, extra = []) {
  const wanted = [...extra, ...partitions.map((p) => [String(p.partition), `Partition ${p.partition}`])];
  const have = Array.from(select.options).map((o) => `${o.value}=${o.textContent}`);
  if (have.join('\n') === wanted.map(([v, l]) => `${v}=${l}`).join('\n')) return;
  const value = select.value;
  select.replaceChildren(...wanted.map(([v, l]) => h('option', { value: v, text: l })));
  if (wanted.some(([v]) => v === value)) select.value = value;
}

/** The message browser for `stream`/`topic`; `details()` gives the latest topic details. */
export function messageBrowser(stream, topic, details) {
  const partition = h('select', { id: 'browse-partition', 'data-testid': 'browse-partition' });
  const from = h('select', { id: 'browse-from', 'data-testid': 'browse-from' },
    h('option', { value: 'newest', text: 'Newest messages' }),
    h('option', { value: 'first', text: 'Oldest (log start)' }),
    h('option', { value: 'offset', text: 'From offset…' }),
    h('option', { value: 'timestamp', text: 'From time…' }));
  const offset = h('input', { id: 'browse-offset', 'data-testid': 'browse-offset', type: 'number', min: 0, step: 1, value: '0' });
  const time = h('input', { id: 'browse-time', 'data-testid': 'browse-time', type: 'datetime-local', step: 1 });
  const count = h('input', { id: 'browse-count', 'data-testid': 'browse-count', type: 'number', min: 1, max: 1000, step: 1, value: '20' });
  const offsetField = field('Offset', offset);
  const timeField = field('Time (local)', time);
  offsetField.hidden = true;
  timeField.hidden = true;
  from.addEventListener('change', () => {
    offsetField.hidden = from.value !== 'offset';
    timeField.hidden = from.value !== 'timestamp';
  });
  const fetchBtn = h('button', { type: 'submit', class: 'btn primary', id: 'browse-fetch', 'data-testid': 'browse-fetch', text: 'Read messages' });
  const follow = h('input', { type: 'checkbox', id: 'browse-follow', 'data-testid': 'browse-follow' });
  let mode = 'text';
  const modeButtons = MODES.map(([m, label]) => h('button', {
    type: 'button', 'aria-pressed': String(m === mode), 'data-testid': `view-${m}`, id: `view-${m}`, text: label,
    on: { click: () => setMode(m) },
  }));
  const summary = h('span', { class: 'note', 'data-testid': 'browse-summary', role: 'status', text: 'Choose a partition and where to start, then read.' });
  const older = h('button', { type: 'button', class: 'btn small', 'data-testid': 'browse-older', text: '← Older', disabled: true });
  const newer = h('button', { type: 'button', class: 'btn small', 'data-testid': 'browse-newer', text: 'Newer →', disabled: true });
  const list = h('div', { class: 'messages', id: 'messages-list', 'data-testid': 'messages-list', 'aria-live': 'polite' });

  let shown = [];
  let last = null; // {partition, first, next}
  let busy = false;

  function setMode(m) {
    mode = m;
    for (const b of modeButtons) b.setAttribute('aria-pressed', String(b.dataset.testid === `view-${m}`));
    render();
  }

  function messageEl(m) {
    const bytes = (() => {
      try {
        return fromBase64(m.payload);
      } catch {
        return utf8Bytes(m.payload || '');
      }
    })();
    const view = renderPayload(bytes, mode);
    const key = m.key === null || m.key === undefined ? null : b64Text(m.key);
    const headers = Object.entries(m.headers || {});
    return h('article', { class: 'message', 'data-testid': `message-${m.offset}`, 'aria-label': `Message at offset ${m.offset}` },
      h('div', { class: 'meta' },
        h('span', { class: 'offset', text: `#${m.offset}` }),
        h('span', { text: fmtTime(m.timestamp) }),
        h('span', { text: `${fmtInt(bytes.length)} B` }),
        key !== null ? h('span', {}, 'key ', h('span', { class: 'chip', 'data-testid': `key-${m.offset}`, text: key })) : null,
        headers.length ? h('span', { 'data-testid': `headers-${m.offset}` }, 'headers ',
          headers.map(([k, v]) => h('span', { class: 'chip', text: `${k}=${b64Text(v)}` }))) : null),
      view.error ? h('div', { class: 'decode-error', role: 'note', 'data-testid': `decode-error-${m.offset}`, text: view.error }) : null,
      h('pre', { class: `payload ${mode}`, 'data-testid': `payload-${m.offset}`, text: view.text }));
  }

  function render() {
    list.replaceChildren(...shown.map(messageEl));
    if (!last) return;
    const d = details();
    const p = d && d.partitions.find((x) => x.partition === last.partition);
    const range = p ? ` (partition holds ${fmtInt(p.log_start)}–${fmtInt(Math.max(p.log_start, p.log_end - 1))})` : '';
    if (shown.length === 0) setText(summary, `No messages in partition ${last.partition} from offset ${fmtInt(last.first)}${range}.`);
    else {
      setText(summary, `Partition ${last.partition}: ${fmtInt(shown.length)} message${shown.length === 1 ? '' : 's'}, offsets ` +
        `${fmtInt(shown[0].offset)}–${fmtInt(shown[shown.length - 1].offset)}${range}.`);
    }
    older.disabled = !p || last.first <= p.log_start;
    newer.disabled = !p || last.next >= p.log_end;
  }

  async function read(p, spec, { append = false } = {}) {
    if (busy) return;
    busy = true;
    fetchBtn.disabled = true;
    try {
      const n = Math.min(Math.max(Number(count.value) || 20, 1), 1000);
      let fromParam = spec;
      if (spec === 'newest') {
        const fresh = await api.topic(stream, topic);
        const info = fresh.partitions.find((x) => x.partition === p);
        if (!info) throw new Error(`partition ${p} does not exist`);
        fromParam = `offset:${Math.max(info.log_start, info.log_end - n)}`;
      }
      const res = await api.poll(stream, topic, p, { from: fromParam, count: n });
      const msgs = res.messages || [];
      if (append) {
        shown = shown.concat(msgs).slice(-MAX_SHOWN);
        if (msgs.length) last.next = res.next_offset;
      } else {
        shown = msgs;
        const first = msgs.length ? msgs[0].offset : fromParam.startsWith('offset:') ? Number(fromParam.slice(7)) : res.next_offset;
        last = { partition: p, first, next: res.next_offset };
      }
      if (shown.length) last.first = shown[0].offset;
      banner('page:browse', null);
      render();
    } catch (e) {
      banner('page:browse', e);
    } finally {
      busy = false;
      fetchBtn.disabled = false;
    }
  }

  const form = h('form', { class: 'stack', id: 'browse-form', 'data-testid': 'browse-form' },
    h('div', { class: 'fields' }, field('Partition', partition), field('Start', from), offsetField, timeField,
      field('Count', count), h('div', { class: 'field' }, fetchBtn)));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = Number(partition.value);
    let spec = from.value;
    if (spec === 'offset') {
      const o = Number(offset.value);
      if (!Number.isInteger(o) || o < 0) {
        banner('page:browse', 'The offset is a whole number, 0 or more.');
        return;
      }
      spec = `offset:${o}`;
    } else if (spec === 'timestamp') {
      const t = time.value ? new Date(time.value).getTime() : NaN;
      if (!Number.isFinite(t)) {
        banner('page:browse', 'Pick a date and time to read from.');
        return;
      }
      spec = `timestamp:${t}`;
    }
    read(p, spec);
  });
  older.addEventListener('click', () => {
    if (!last) return;
    const n = Math.min(Math.max(Number(count.value) || 20, 1), 1000);
    read(last.partition, `offset:${Math.max(0, last.first - n)}`);
  });
  newer.addEventListener('click', () => last && read(last.partition, `offset:${last.next}`));

  const el = card('Messages', {
    testid: 'card-messages',
    actions: h('div', { class: 'row' },
      h('label', { class: 'row note', for: 'browse-follow' }, follow, 'Follow new messages'),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Payload view' }, modeButtons)),
  }, form, h('div', { class: 'row', style: null }, summary), h('div', { class: 'row end' }, older, newer), list);

  return {
    el,
    /** Keeps the partition choices in step with the topic. */
    update(d) {
      syncPartitionOptions(partition, d.partitions);
      if (last) render();
    },
    /** On each refresh: with "follow", reads what arrived since the last message shown. */
    async tick() {
      if (follow.checked && last && !busy) {
        const d = details();
        const p = d && d.partitions.find((x) => x.partition === last.partition);
        if (p && p.log_end > last.next) await read(last.partition, `offset:${last.next}`, { append: true });
      }
    },
    /** After a produce to partition `p`: show the new message when this partition is being browsed. */
    async produced(p) {
      if (last && last.partition === p) await read(p, 'newest');
    },
    /** Reads the newest messages of partition `p` (used after producing to a partition not yet browsed). */
    show(p) {
      partition.value = String(p);
      from.value = 'newest';
      from.dispatchEvent(new Event('change'));
      return read(p, 'newest');
    },
  };
}

/** The produce form; `onSent(partition)` is called with the partition a message went to. */
export function produceForm(stream, topic, onSent) {
  const target = h('select', { id: 'produce-partitioning', 'data-testid': 'produce-partitioning' });
  const key = h('input', { id: 'produce-key', 'data-testid': 'produce-key', autocomplete: 'off', spellcheck: 'false', placeholder: 'optional' });
  const format = h('select', { id: 'produce-format', 'data-testid': 'produce-format' },
    h('option', { value: 'text', text: 'Text' }), h('option', { value: 'json', text: 'JSON (checked)' }), h('option', { value: 'hex', text: 'Hex bytes' }));
  const payload = h('textarea', { id: 'produce-payload', 'data-testid': 'produce-payload', rows: 5, spellcheck: 'false', placeholder: 'Message payload' });
  const headerRows = h('div', { class: 'headers-list', id: 'produce-headers', 'data-testid': 'produce-headers' });
  let headerSeq = 0;
  function addHeader() {
    const i = headerSeq;
    headerSeq += 1;
    const name = h('input', { id: `produce-header-name-${i}`, 'data-testid': `produce-header-name-${i}`, 'aria-label': `Header ${i + 1} name`, placeholder: 'name', autocomplete: 'off' });
    const value = h('input', { id: `produce-header-value-${i}`, 'data-testid': `produce-header-value-${i}`, 'aria-label': `Header ${i + 1} value`, placeholder: 'value', autocomplete: 'off' });
    const row = h('div', { class: 'header-row' }, name, value, h('button', {
      type: 'button', class: 'btn small', 'aria-label': `Remove header ${i + 1}`, text: 'Remove', on: { click: () => row.remove() },
    }));
    headerRows.append(row);
    name.focus();
  }
  const addHeaderBtn = h('button', { type: 'button', class: 'btn small', id: 'produce-add-header', 'data-testid': 'produce-add-header', text: '+ Header', on: { click: addHeader } });
  const result = h('span', { class: 'note ok', id: 'produce-result', 'data-testid': 'produce-result', role: 'status' });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'produce-submit', 'data-testid': 'produce-submit', text: 'Send message' });

  const form = h('form', { class: 'stack', id: 'produce-form', 'data-testid': 'produce-form' },
    h('div', { class: 'fields' }, field('Send to', target), field('Key', key), field('Payload format', format)),
    h('fieldset', {}, h('legend', { text: 'Headers' }), headerRows, h('div', { class: 'row' }, addHeaderBtn)),
    field('Payload', payload),
    h('div', { class: 'row end' }, result, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setText(result, '');
    let bytes;
    try {
      if (format.value === 'hex') bytes = parseHex(payload.value);
      else {
        if (format.value === 'json') JSON.parse(payload.value);
        bytes = utf8Bytes(payload.value);
      }
    } catch (e) {
      payload.setAttribute('aria-invalid', 'true');
      banner('page:produce', `The payload is not valid ${format.value === 'hex' ? 'hex' : 'JSON'}: ${e.message}`);
      return;
    }
    payload.removeAttribute('aria-invalid');
    const headers = {};
    for (const row of headerRows.children) {
      const [n, v] = row.querySelectorAll('input');
      if (n.value.trim()) headers[n.value.trim()] = toBase64(utf8Bytes(v.value));
    }
    const message = { payload: toBase64(bytes) };
    if (key.value !== '') message.key = toBase64(utf8Bytes(key.value));
    if (Object.keys(headers).length) message.headers = headers;
    let partitioning = 'balanced';
    if (target.value === 'key') {
      if (key.value === '') {
        banner('page:produce', 'Sending by key needs a key.');
        return;
      }
      partitioning = 'message_key';
    } else if (target.value !== 'balanced') partitioning = { partition: Number(target.value) };
    submit.disabled = true;
    try {
      const res = await api.produce(stream, topic, { partitioning, encoding: 'base64', messages: [message] });
      const sent = (res.sent || [])[0];
      banner('page:produce', null);
      if (sent) {
        setText(result, sent.duplicates ? `Duplicate: already stored in partition ${sent.partition}.`
          : `Stored in partition ${sent.partition} at offset ${sent.base_offset}.`);
        await onSent(sent.partition);
      } else setText(result, 'Sent.');
    } catch (e) {
      banner('page:produce', e);
    } finally {
      submit.disabled = false;
    }
  });

  return {
    el: card('Produce a message', { testid: 'card-produce' }, form),
    update(d) {
      syncPartitionOptions(target, d.partitions, [['balanced', 'Balanced (any partition)'], ['key', 'By key (hash of the key)']]);
    },
  };
}
