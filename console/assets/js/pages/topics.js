// Topics of one stream: the list with sizes and settings, a form to create a topic (partitions, durability,
// retention), deletion after typing the topic's name, and creating or deleting the stream itself.

import * as api from '../api.js';
import { topicTotals } from '../data.js';
import { href } from '../router.js';
import {
  banner, card, confirmDialog, fmtBytes, fmtDurability, fmtDuration, fmtInt, h, setEmpty, setText, syncChildren, table,
} from '../ui.js';

function field(label, input, help) {
  return h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input,
    help ? h('span', { class: 'help', id: `${input.id}-help`, text: help }) : null);
}

function numberInput(id, attrs = {}) {
  return h('input', { id, name: id, 'data-testid': id, type: 'number', inputmode: 'numeric', min: 0, step: 1, ...attrs });
}

/** The create-topic form; `onCreate(body)` sends it. */
function createForm(onCreate) {
  const name = h('input', {
    id: 'topic-name', name: 'name', 'data-testid': 'topic-name', required: true, autocomplete: 'off', spellcheck: 'false',
    placeholder: 'orders', maxlength: 255,
  });
  const partitions = numberInput('topic-partitions', { min: 1, max: 10000, value: '3', required: true });
  const durability = h('select', { id: 'topic-durability', name: 'durability', 'data-testid': 'topic-durability' },
    h('option', { value: 'always', text: 'Always (fsync, then ack)' }),
    h('option', { value: 'interval', text: 'Interval (fsync every N ms)' }),
    h('option', { value: 'never', text: 'Never (left to the OS)' }));
  const interval = numberInput('topic-interval', { min: 1, value: '100', 'aria-describedby': 'topic-interval-help' });
  const intervalField = field('Fsync interval (ms)', interval, 'Only with interval durability');
  intervalField.hidden = true;
  durability.addEventListener('change', () => {
    intervalField.hidden = durability.value !== 'interval';
  });
  const retentionHours = numberInput('topic-retention-hours', { min: 0, step: 'any', placeholder: 'keep forever' });
  const retentionMib = numberInput('topic-retention-mib', { min: 0, step: 'any', placeholder: 'no limit' });
  const segmentMib = numberInput('topic-segment-mib', { min: 1, step: 'any', placeholder: 'default' });
  const maxKib = numberInput('topic-max-message-kib', { min: 1, step: 'any', placeholder: 'default' });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'create-topic-submit', 'data-testid': 'create-topic-submit', text: 'Create topic' });

  const form = h('form', { class: 'stack', id: 'create-topic-form', 'data-testid': 'create-topic-form', novalidate: true },
    h('div', { class: 'fields' },
      field('Name', name),
      field('Partitions', partitions),
      field('Durability', durability),
      intervalField),
    h('details', { class: 'advanced' }, h('summary', { text: 'Retention and limits' }),
      h('div', { class: 'fields' },
        field('Retention age (hours)', retentionHours),
        field('Retention size per partition (MiB)', retentionMib),
        field('Segment size (MiB)', segmentMib),
        field('Max message size (KiB)', maxKib))),
    h('div', { class: 'row end' }, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const problems = [];
    const n = name.value.trim();
    name.setAttribute('aria-invalid', String(!n));
    if (!n) problems.push('a name');
    const p = Number(partitions.value);
    const pBad = !Number.isInteger(p) || p < 1;
    partitions.setAttribute('aria-invalid', String(pBad));
    if (pBad) problems.push('a whole number of partitions (at least 1)');
    const body = { name: n, partitions: p, durability: durability.value };
    if (durability.value === 'interval') {
      const ms = Number(interval.value);
      if (!Number.isInteger(ms) || ms < 1) problems.push('an fsync interval in whole milliseconds');
      body.durability = `interval:${ms}`;
    }
    const scaled = (input, factor, key) => {
      if (input.value === '') return;
      const v = Number(input.value);
      if (!Number.isFinite(v) || v < 0) problems.push(`a valid ${key.replaceAll('_', ' ')}`);
      else body[key] = Math.round(v * factor);
    };
    scaled(retentionHours, 3_600_000, 'retention_age_ms');
    scaled(retentionMib, 1024 * 1024, 'retention_bytes');
    scaled(segmentMib, 1024 * 1024, 'segment_bytes');
    scaled(maxKib, 1024, 'max_message_bytes');
    if (problems.length) {
      banner('page:action', `To create a topic, give ${problems.join(', ')}.`);
      return;
    }
    submit.disabled = true;
    try {
      if (await onCreate(body)) {
        name.value = '';
        name.removeAttribute('aria-invalid');
      }
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function retentionText(c) {
  const parts = [];
  if (c.retention_age_ms) parts.push(fmtDuration(c.retention_age_ms));
  if (c.retention_bytes) parts.push(`${fmtBytes(c.retention_bytes)}/partition`);
  return parts.join(', ') || 'forever';
}

export default {
  section: 'topics',
  mount(main, ctx) {
    const { stream } = ctx.params;
    ctx.crumbs([{ label: 'Topics', href: '#/topics' }, { label: stream }]);

    const topics = table(`Topics in stream ${stream}`, [
      { label: 'Topic' }, { label: 'Partitions', num: true }, { label: 'Messages', num: true }, { label: 'Size', num: true },
      { label: 'Durability' }, { label: 'Retention' }, { label: 'Created' }, { label: 'Actions', num: true },
    ], 'topics-table');
    const count = h('span', { class: 'hint', 'data-testid': 'topics-count' });

    const streamName = h('input', { id: 'stream-name', 'data-testid': 'stream-name', required: true, autocomplete: 'off', placeholder: 'payments' });
    const streamForm = h('form', { class: 'row', id: 'create-stream-form', 'data-testid': 'create-stream-form', hidden: true },
      h('label', { for: 'stream-name', class: 'visually-hidden', text: 'New stream name' }), streamName,
      h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'create-stream-submit', text: 'Create stream' }));
    streamForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const n = streamName.value.trim();
      if (!n) {
        banner('page:action', 'Give the new stream a name.');
        return;
      }
      try {
        await api.createStream(n);
        banner('page:action', null);
        banner('page:done', `Created stream ${n}.`, 'success');
        ctx.navigate(href('streams', n, 'topics'));
      } catch (e) {
        banner('page:action', e);
      }
    });
    const newStream = h('button', { type: 'button', class: 'btn', 'data-testid': 'new-stream', text: 'New stream',
      on: { click: () => { streamForm.hidden = !streamForm.hidden; if (!streamForm.hidden) streamName.focus(); } } });
    const deleteStream = h('button', { type: 'button', class: 'btn danger', 'data-testid': 'delete-stream', text: 'Delete stream',
      on: { click: async () => {
        const ok = await confirmDialog({
          title: `Delete stream ${stream}?`,
          text: 'Every topic in it, with all its messages, and its consumer groups are deleted. This cannot be undone.',
          typed: stream,
        });
        if (!ok) return;
        try {
          await api.deleteStream(stream);
          banner('page:action', null);
          banner('done:stream', `Deleted stream ${stream}.`, 'success');
          ctx.navigate('#/overview');
        } catch (e) {
          banner('page:action', e);
        }
      } } });

    async function create(body) {
      try {
        const d = await api.createTopic(stream, body);
        banner('page:action', null);
        banner('page:done', `Created topic ${d.topic.name} with ${d.partitions.length} partition${d.partitions.length === 1 ? '' : 's'}.`, 'success');
        ctx.refreshNow();
        return true;
      } catch (e) {
        banner('page:action', e);
        return false;
      }
    }

    async function remove(name) {
      const ok = await confirmDialog({
        title: `Delete topic ${name}?`,
        text: `All of its messages and consumer offsets in stream ${stream} are deleted. This cannot be undone.`,
        typed: name,
      });
      if (!ok) return;
      try {
        await api.deleteTopic(stream, name);
        banner('page:action', null);
        banner('page:done', `Deleted topic ${name}.`, 'success');
        ctx.refreshNow();
      } catch (e) {
        banner('page:action', e);
      }
    }

    main.append(
      h('div', { class: 'page-head' },
        h('div', {}, h('h1', { text: 'Topics' }), h('p', {}, 'Stream ', h('strong', { 'data-testid': 'current-stream', text: stream }))),
        h('div', { class: 'actions' }, newStream, deleteStream)),
      streamForm,
      card('Create a topic', { testid: 'card-create-topic' }, createForm(create)),
      card('Topics', { testid: 'card-topics', flush: true, actions: count }, topics.wrap),
    );

    return {
      async refresh({ signal }) {
        const list = await api.topics(stream, signal);
        const details = await Promise.all(list.map((t) => api.topic(stream, t.name, signal).catch((e) => {
          if (e.status === 404) return null;
          throw e;
        })));
        const rows = list.map((t, i) => ({ info: t, details: details[i] })).sort((a, b) => a.info.name.localeCompare(b.info.name));
        setText(count, `${rows.length} topic${rows.length === 1 ? '' : 's'}`);
        syncChildren(topics.tbody, rows, (r) => r.info.name, (r) => {
          const name = r.info.name;
          return h('tr', { 'data-testid': `topic-row-${name}` },
            h('td', {}, h('a', { class: 'name', href: href('streams', stream, 'topics', name), 'data-testid': `topic-link-${name}`, text: name })),
            h('td', { class: 'num' }), h('td', { class: 'num', 'data-testid': `topic-messages-${name}` }), h('td', { class: 'num' }),
            h('td'), h('td'), h('td'),
            h('td', { class: 'actions' }, h('button', {
              type: 'button', class: 'btn small danger', 'data-testid': `delete-topic-${name}`, 'aria-label': `Delete topic ${name}`,
              text: 'Delete', on: { click: () => remove(name) },
            })));
        }, (tr, r) => {
          const c = r.info.config;
          const t = r.details ? topicTotals(r.details) : null;
          const cells = tr.children;
          setText(cells[1], fmtInt(r.details ? r.details.partitions.length : c.partitions));
          setText(cells[2], t ? fmtInt(t.messages) : '–');
          setText(cells[3], t ? fmtBytes(t.size) : '–');
          setText(cells[4], fmtDurability(c.durability));
          setText(cells[5], retentionText(c));
          setText(cells[6], new Date(r.info.created_ms).toLocaleString('en-GB'));
        });
        setEmpty(topics, rows.length, `No topics in stream ${stream} yet: create one above.`);
      },
    };
  },
};
