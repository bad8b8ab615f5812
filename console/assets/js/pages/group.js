// One consumer group: members and their assignments, committed offset and lag per partition with a trend of the
// recent samples, total lag over time, offset reset and deletion.

import * as api from '../api.js';
import { lineChart, sparkline } from '../chart.js';
import { recordLag, topicPartition, totalLag } from '../data.js';
import { href } from '../router.js';
import {
  banner, card, confirmDialog, fmtCompact, fmtInt, h, setEmpty, setText, syncChildren, table,
} from '../ui.js';

function resetForm(onReset) {
  const topic = h('select', { id: 'reset-topic', 'data-testid': 'reset-topic' });
  const to = h('select', { id: 'reset-to', 'data-testid': 'reset-to' },
    h('option', { value: 'earliest', text: 'Earliest (log start)' }),
    h('option', { value: 'latest', text: 'Latest (log end)' }),
    h('option', { value: 'offset', text: 'Offset…' }),
    h('option', { value: 'timestamp', text: 'Time…' }));
  const offset = h('input', { id: 'reset-offset', 'data-testid': 'reset-offset', type: 'number', min: 0, step: 1, value: '0' });
  const time = h('input', { id: 'reset-time', 'data-testid': 'reset-time', type: 'datetime-local', step: 1 });
  const fieldOf = (label, input) => h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input);
  const offsetField = fieldOf('Offset', offset);
  const timeField = fieldOf('Time (local)', time);
  offsetField.hidden = true;
  timeField.hidden = true;
  to.addEventListener('change', () => {
    offsetField.hidden = to.value !== 'offset';
    timeField.hidden = to.value !== 'timestamp';
  });
  const form = h('form', { class: 'stack', id: 'reset-form', 'data-testid': 'reset-form' },
    h('div', { class: 'fields' }, fieldOf('Topic', topic), fieldOf('Reset to', to), offsetField, timeField),
    h('p', { class: 'note', text: 'Members running now may commit over a reset; stop them first for a clean restart.' }),
    h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'btn', 'data-testid': 'reset-submit', text: 'Reset offsets' })));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!topic.value) {
      banner('page:action', 'The group has no topic to reset.');
      return;
    }
    let target = to.value;
    if (target === 'offset') {
      const o = Number(offset.value);
      if (!Number.isInteger(o) || o < 0) {
        banner('page:action', 'The offset is a whole number, 0 or more.');
        return;
      }
      target = { offset: o };
    } else if (target === 'timestamp') {
      const t = time.value ? new Date(time.value).getTime() : NaN;
      if (!Number.isFinite(t)) {
        banner('page:action', 'Pick the date and time to reset to.');
        return;
      }
      target = { timestamp: t };
    }
    onReset({ topic: topic.value, to: target });
  });
  return {
    el: form,
    update(topics) {
      const have = Array.from(topic.options).map((o) => o.value);
      if (have.join('\n') === topics.join('\n')) return;
      const value = topic.value;
      topic.replaceChildren(...topics.map((t) => h('option', { value: t, text: t })));
      if (topics.includes(value)) topic.value = value;
    },
  };
}

export default {
  section: 'groups',
  mount(main, ctx) {
    const { stream, group } = ctx.params;
    ctx.crumbs([
      { label: 'Consumer groups', href: '#/groups' }, { label: stream, href: href('streams', stream, 'groups') }, { label: group },
    ]);
    const subtitle = h('p', { 'data-testid': 'group-subtitle', text: `Stream ${stream}` });
    const stat = (label, testid) => {
      const value = h('div', { class: 'value', id: testid, 'data-testid': testid, text: '–' });
      return { el: h('section', { class: 'card stat', 'aria-label': label }, h('div', { class: 'label', text: label }), value), value };
    };
    const stats = {
      state: stat('State', 'group-state'),
      members: stat('Members', 'group-members'),
      generation: stat('Generation', 'group-generation'),
      lag: stat('Total lag', 'total-lag'),
    };
    const chart = lineChart({
      title: `Total lag of ${group}`,
      series: [{ label: 'Messages behind', format: (v) => fmtInt(v), testid: 'lag-now' }],
      format: (v) => fmtCompact(v),
      testid: 'lag-chart',
      gapMs: 10_000,
    });
    const parts = table(`Offsets and lag of ${group}`, [
      { label: 'Topic' }, { label: 'Partition', num: true }, { label: 'Committed', num: true }, { label: 'Log start', num: true },
      { label: 'Log end', num: true }, { label: 'Lag', num: true }, { label: 'Lag, recent samples' }, { label: 'Assigned to' },
    ], 'group-partitions-table');
    const members = table(`Members of ${group}`, [
      { label: 'Member' }, { label: 'Client' }, { label: 'Assignment' },
    ], 'members-table');

    const reset = resetForm(async (body) => {
      const target = typeof body.to === 'string' ? body.to : JSON.stringify(body.to);
      const ok = await confirmDialog({
        title: `Reset ${group} on ${body.topic}?`,
        text: `Every partition of ${body.topic} gets the committed offset ${target} for this group.`,
        action: 'Reset offsets',
      });
      if (!ok) return;
      try {
        await api.resetOffsets(stream, group, body);
        banner('page:action', null);
        banner('page:done', `Reset ${group} on ${body.topic} to ${target}.`, 'success');
        ctx.refreshNow();
      } catch (e) {
        banner('page:action', e);
      }
    });
    const del = h('button', { type: 'button', class: 'btn danger', 'data-testid': 'delete-group', text: 'Delete group',
      on: { click: async () => {
        const ok = await confirmDialog({
          title: `Delete consumer group ${group}?`,
          text: 'Its committed offsets are deleted; members still running are removed.',
          typed: group,
        });
        if (!ok) return;
        try {
          await api.deleteGroup(stream, group);
          banner('done:group', `Deleted consumer group ${group}.`, 'success');
          ctx.navigate(href('streams', stream, 'groups'));
        } catch (e) {
          banner('page:action', e);
        }
      } } });

    main.append(
      h('div', { class: 'page-head' },
        h('div', {}, h('h1', { id: 'group-title', 'data-testid': 'group-title', text: group }), subtitle),
        h('div', { class: 'actions' }, del)),
      h('div', { class: 'stats' }, Object.values(stats).map((s) => s.el)),
      h('div', { class: 'grid three' },
        card('Lag over time', { testid: 'card-lag', hint: 'sampled every 2 s while open' }, chart.el),
        card('Reset offsets', { testid: 'card-reset' }, reset.el)),
      card('Partitions', { testid: 'card-group-partitions', flush: true }, parts.wrap),
      card('Members', { testid: 'card-members', flush: true }, members.wrap),
    );

    return {
      async refresh({ signal }) {
        const d = await api.group(stream, group, signal);
        const hist = recordLag(stream, group, d);
        const s = d.state;
        const owner = new Map();
        for (const m of s.members) {
          for (const a of m.assignment.map(topicPartition)) owner.set(`${a.topic}\u0000${a.partition}`, m);
        }
        setText(subtitle, `Stream ${stream} · strategy ${String(s.strategy).replaceAll('_', ' ')} · ` +
          `subscribed to ${s.topics.length ? s.topics.join(', ') : 'nothing now'}`);
        setText(stats.state.value, s.members.length ? 'Active' : 'Empty');
        setText(stats.members.value, fmtInt(s.members.length));
        setText(stats.generation.value, fmtInt(s.generation));
        setText(stats.lag.value, fmtInt(totalLag(d)));
        chart.update(hist.total.map((x) => ({ t: x.t, values: [x.lag] })));

        const rows = d.partitions.slice().sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
        syncChildren(parts.tbody, rows, (p) => `${p.topic}\u0000${p.partition}`, (p) => h('tr', { 'data-testid': `group-partition-${p.topic}-${p.partition}` },
          h('td', {}, h('a', { href: href('streams', stream, 'topics', p.topic), text: p.topic })),
          h('td', { class: 'num', text: String(p.partition) }), h('td', { class: 'num', 'data-testid': `committed-${p.topic}-${p.partition}` }),
          h('td', { class: 'num' }), h('td', { class: 'num' }), h('td', { class: 'num', 'data-testid': `lag-${p.topic}-${p.partition}` }),
          h('td'), h('td')), (tr, p) => {
          const c = tr.children;
          setText(c[2], p.committed === null || p.committed === undefined ? 'none' : fmtInt(p.committed));
          setText(c[3], fmtInt(p.log_start));
          setText(c[4], fmtInt(p.log_end));
          setText(c[5], fmtInt(p.lag));
          const samples = (hist.parts.get(`${p.topic}\u0000${p.partition}`) || []).slice(-30).map((x) => x.lag);
          c[6].replaceChildren(sparkline(samples, { label: `Lag of ${p.topic} partition ${p.partition}` }));
          const m = owner.get(`${p.topic}\u0000${p.partition}`);
          setText(c[7], m ? m.client_id || m.member_id : 'unassigned');
        });
        setEmpty(parts, rows.length, 'The group has not consumed any partition yet.');

        syncChildren(members.tbody, s.members, (m) => m.member_id, (m) => h('tr', { 'data-testid': `member-${m.member_id}` },
          h('td', { class: 'mono', text: m.member_id }), h('td'), h('td')), (tr, m) => {
          setText(tr.children[1], m.client_id || '–');
          const chips = m.assignment.map(topicPartition).map((a) => `${a.topic}/${a.partition}`);
          if (tr.children[2].dataset.chips !== chips.join(',')) {
            tr.children[2].dataset.chips = chips.join(',');
            tr.children[2].replaceChildren(...(chips.length ? chips.map((c) => h('span', { class: 'chip', text: c })) : ['nothing assigned']));
          }
        });
        setEmpty(members, s.members.length, 'No member now: no consumer of this group is running.');
        reset.update(Array.from(new Set([...s.topics, ...d.partitions.map((p) => p.topic)])).sort());
      },
      unmount() {
        chart.destroy();
      },
    };
  },
};
