// Consumer groups of one stream: members, generation, strategy, total lag and its recent trend, deletion.

import * as api from '../api.js';
import { sparkline } from '../chart.js';
import { recordLag, totalLag } from '../data.js';
import { href } from '../router.js';
import { banner, card, confirmDialog, fmtInt, h, setEmpty, setText, syncChildren, table } from '../ui.js';

export default {
  section: 'groups',
  mount(main, ctx) {
    const { stream } = ctx.params;
    ctx.crumbs([{ label: 'Consumer groups', href: '#/groups' }, { label: stream }]);
    const groups = table(`Consumer groups in stream ${stream}`, [
      { label: 'Group' }, { label: 'State' }, { label: 'Members', num: true }, { label: 'Generation', num: true },
      { label: 'Strategy' }, { label: 'Topics' }, { label: 'Lag', num: true }, { label: 'Lag, last minutes' },
      { label: 'Actions', num: true },
    ], 'groups-table');
    const count = h('span', { class: 'hint', 'data-testid': 'groups-count' });

    async function remove(name) {
      const ok = await confirmDialog({
        title: `Delete consumer group ${name}?`,
        text: 'Its committed offsets are deleted; members still running are removed and consumers start over from their reset policy.',
        typed: name,
      });
      if (!ok) return;
      try {
        await api.deleteGroup(stream, name);
        banner('page:action', null);
        banner('page:done', `Deleted consumer group ${name}.`, 'success');
        ctx.refreshNow();
      } catch (e) {
        banner('page:action', e);
      }
    }

    main.append(
      h('div', { class: 'page-head' }, h('div', {}, h('h1', { text: 'Consumer groups' }),
        h('p', {}, 'Stream ', h('strong', { 'data-testid': 'current-stream', text: stream }),
          '. Lag is what each group has not committed yet; its trend is sampled while this console is open.'))),
      card('Groups', { testid: 'card-groups', flush: true, actions: count }, groups.wrap),
    );

    return {
      async refresh({ signal }) {
        const names = await api.groups(stream, signal);
        const described = await Promise.all(names.map((n) => api.group(stream, n, signal).then((d) => ({ name: n, d }), (e) => {
          if (e.status === 404) return null;
          throw e;
        })));
        const rows = described.filter(Boolean).sort((a, b) => a.name.localeCompare(b.name));
        const now = Date.now();
        for (const r of rows) r.hist = recordLag(stream, r.name, r.d, now);
        setText(count, `${rows.length} group${rows.length === 1 ? '' : 's'}`);
        syncChildren(groups.tbody, rows, (r) => r.name, (r) => h('tr', { 'data-testid': `group-row-${r.name}` },
          h('td', {}, h('a', { class: 'name', href: href('streams', stream, 'groups', r.name), 'data-testid': `group-link-${r.name}`, text: r.name })),
          h('td'), h('td', { class: 'num', 'data-testid': `group-members-${r.name}` }), h('td', { class: 'num' }), h('td'), h('td'),
          h('td', { class: 'num', 'data-testid': `group-lag-${r.name}` }), h('td'),
          h('td', { class: 'actions' }, h('button', {
            type: 'button', class: 'btn small danger', 'data-testid': `delete-group-${r.name}`, 'aria-label': `Delete group ${r.name}`,
            text: 'Delete', on: { click: () => remove(r.name) },
          }))), (tr, r) => {
          const c = tr.children;
          const members = r.d.state.members.length;
          const label = members ? 'active' : 'empty';
          if (c[1].textContent !== label) c[1].replaceChildren(h('span', { class: `badge ${members ? 'ok' : ''}`, text: label }));
          setText(c[2], fmtInt(members));
          setText(c[3], fmtInt(r.d.state.generation));
          setText(c[4], String(r.d.state.strategy).replaceAll('_', ' '));
          const topics = Array.from(new Set([...r.d.state.topics, ...r.d.partitions.map((p) => p.topic)])).sort();
          setText(c[5], topics.join(', ') || '–');
          setText(c[6], fmtInt(totalLag(r.d)));
          c[7].replaceChildren(sparkline(r.hist.total.map((s) => s.lag), { label: `Lag of ${r.name}` }));
        });
        setEmpty(groups, rows.length,
          `No consumer groups in stream ${stream}. A group appears when a consumer joins it (for example: callboard consume TOPIC --group NAME).`);
      },
    };
  },
};
