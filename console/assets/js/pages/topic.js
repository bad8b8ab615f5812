// One topic: its partitions (health, offsets, size), its configuration, adding partitions, deleting it, the
// message browser and the produce form.

import * as api from '../api.js';
import { topicTotals } from '../data.js';
import { messageBrowser, produceForm } from '../messages.js';
import { href } from '../router.js';
import {
  banner, card, confirmDialog, fmtBytes, fmtDurability, fmtDuration, fmtInt, h, healthBadge, setText, syncChildren, table,
} from '../ui.js';

function configRows(c) {
  const dedup = c.dedup ? `${fmtInt(c.dedup.max_ids)} ids, ${fmtDuration(c.dedup.max_age_ms)}` : 'off';
  return [
    ['Partitions', fmtInt(c.partitions)],
    ['Durability', fmtDurability(c.durability)],
    ['Retention age', c.retention_age_ms ? fmtDuration(c.retention_age_ms) : 'forever'],
    ['Retention size', c.retention_bytes ? `${fmtBytes(c.retention_bytes)} per partition` : 'no limit'],
    ['Segment size', fmtBytes(c.segment_bytes)],
    ['Max message size', fmtBytes(c.max_message_bytes)],
    ['Deduplication', dedup],
  ];
}

export default {
  section: 'topics',
  mount(main, ctx) {
    const { stream, topic } = ctx.params;
    ctx.crumbs([{ label: 'Topics', href: '#/topics' }, { label: stream, href: href('streams', stream, 'topics') }, { label: topic }]);
    let details = null;

    const subtitle = h('p', { 'data-testid': 'topic-subtitle', text: `Stream ${stream}` });
    const parts = table(`Partitions of ${topic}`, [
      { label: 'Partition' }, { label: 'Health' }, { label: 'Log start', num: true }, { label: 'Log end', num: true },
      { label: 'Messages', num: true }, { label: 'Size', num: true }, { label: 'Segments', num: true },
      { label: 'Restarts', num: true }, { label: 'Parked polls', num: true },
    ], 'partitions-table');
    const totals = h('span', { class: 'hint', 'data-testid': 'topic-totals' });
    const config = h('dl', { class: 'kv', id: 'topic-config', 'data-testid': 'topic-config' });

    const addCount = h('input', { id: 'add-partitions-count', 'data-testid': 'add-partitions-count', type: 'number', min: 1, step: 1, value: '1' });
    const addForm = h('form', { class: 'row', id: 'add-partitions-form', 'data-testid': 'add-partitions-form' },
      h('label', { for: 'add-partitions-count', class: 'note', text: 'Add partitions' }), addCount,
      h('button', { type: 'submit', class: 'btn', 'data-testid': 'add-partitions-submit', text: 'Add' }));
    addCount.classList.add('narrow');
    addForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const n = Number(addCount.value);
      if (!Number.isInteger(n) || n < 1) {
        banner('page:action', 'Add a whole number of partitions, at least 1.');
        return;
      }
      try {
        const d = await api.addPartitions(stream, topic, n);
        banner('page:action', null);
        banner('page:done', `${topic} now has ${d.partitions.length} partitions.`, 'success');
        ctx.refreshNow();
      } catch (e) {
        banner('page:action', e);
      }
    });

    const del = h('button', { type: 'button', class: 'btn danger', id: 'delete-topic', 'data-testid': 'delete-topic', text: 'Delete topic',
      on: { click: async () => {
        const ok = await confirmDialog({
          title: `Delete topic ${topic}?`,
          text: `All of its messages and consumer offsets in stream ${stream} are deleted. This cannot be undone.`,
          typed: topic,
        });
        if (!ok) return;
        try {
          await api.deleteTopic(stream, topic);
          banner('done:topic', `Deleted topic ${topic}.`, 'success');
          ctx.navigate(href('streams', stream, 'topics'));
        } catch (e) {
          banner('page:action', e);
        }
      } } });

    const browser = messageBrowser(stream, topic, () => details);
    const producer = produceForm(stream, topic, async (p) => {
      ctx.refreshNow();
      await browser.produced(p);
    });

    main.append(
      h('div', { class: 'page-head' },
        h('div', {}, h('h1', { id: 'topic-title', 'data-testid': 'topic-title', text: topic }), subtitle),
        h('div', { class: 'actions' }, del)),
      card('Partitions', { testid: 'card-partitions', flush: true, actions: totals }, parts.wrap),
      h('div', { class: 'grid three' }, browser.el, h('div', { class: 'side' }, producer.el,
        card('Configuration', { testid: 'card-config' }, config, h('hr', { class: 'sep' }), addForm))),
    );

    return {
      async refresh({ signal }) {
        const d = await api.topic(stream, topic, signal);
        details = d;
        const t = topicTotals(d);
        setText(subtitle, `Stream ${stream} · created ${new Date(d.topic.created_ms).toLocaleString('en-GB')}`);
        setText(totals, `${fmtInt(t.messages)} messages · ${fmtBytes(t.size)}`);
        syncChildren(parts.tbody, d.partitions, (p) => p.partition, (p) => h('tr', { 'data-testid': `partition-row-${p.partition}` },
          h('td', { class: 'name', text: String(p.partition) }), h('td'),
          h('td', { class: 'num', 'data-testid': `log-start-${p.partition}` }), h('td', { class: 'num', 'data-testid': `log-end-${p.partition}` }),
          h('td', { class: 'num' }), h('td', { class: 'num' }), h('td', { class: 'num' }), h('td', { class: 'num' }), h('td', { class: 'num' })),
        (tr, p) => {
          const c = tr.children;
          const state = JSON.stringify(p.health);
          if (c[1].dataset.health !== state) {
            c[1].dataset.health = state;
            c[1].replaceChildren(healthBadge(p.health));
          }
          setText(c[2], fmtInt(p.log_start));
          setText(c[3], fmtInt(p.log_end));
          setText(c[4], fmtInt(Math.max(0, p.log_end - p.log_start)));
          setText(c[5], fmtBytes(p.size_bytes));
          setText(c[6], fmtInt(p.segments));
          setText(c[7], fmtInt(p.restarts));
          setText(c[8], fmtInt(p.parked_polls));
        });
        syncChildren(config, configRows(d.topic.config).flatMap(([k, v]) => [[`${k}:dt`, k], [`${k}:dd`, v]]), (r) => r[0],
          (r) => (r[0].endsWith(':dt') ? h('dt') : h('dd', { 'data-testid': `config-${r[0].slice(0, -3).toLowerCase().replaceAll(' ', '-')}` })),
          (el, r) => setText(el, r[1]));
        browser.update(d);
        producer.update(d);
        await browser.tick();
      },
    };
  },
};
