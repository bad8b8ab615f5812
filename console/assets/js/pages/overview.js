// Overview: broker status, live throughput (from successive /metrics samples, or the partitions' log ends when the
// counters are not there yet), every topic of every stream with its traffic, and connections per gateway.

import * as api from '../api.js';
import { lineChart } from '../chart.js';
import { allTopicDetails, topicTotals } from '../data.js';
import { href } from '../router.js';
import {
  card, fmtBytes, fmtCompact, fmtDuration, fmtInt, h, healthBadge, setEmpty, setText, syncChildren, table,
} from '../ui.js';

const WINDOW_MS = 5 * 60_000;
const MESSAGES_IN = 'callboard_messages_in_total';
const BYTES_IN = 'callboard_bytes_in_total';
const BYTES_OUT = 'callboard_bytes_out_total';

// Kept across visits to the page, so the chart has its history when coming back.
const history = { samples: [], prev: null, topicPrev: new Map(), topicRates: new Map() };

/** Adds one throughput sample: rates between this reading and the previous one of the same source. */
function sample(now, metricsText, details) {
  const sums = metricsText === null ? {} : api.sumMetrics(metricsText, [MESSAGES_IN, BYTES_IN, BYTES_OUT]);
  let reading;
  if (sums[MESSAGES_IN] !== undefined) {
    reading = { source: 'metrics', t: now, msgs: sums[MESSAGES_IN], bytesIn: sums[BYTES_IN] ?? 0, bytesOut: sums[BYTES_OUT] ?? 0 };
  } else {
    // No counter yet (nothing produced since the broker started) or no /metrics: the logs' ends and sizes.
    let msgs = 0;
    let bytes = 0;
    for (const d of details) {
      const t = topicTotals(d);
      msgs += t.end;
      bytes += t.size;
    }
    reading = { source: 'logs', t: now, msgs, bytesIn: bytes, bytesOut: metricsText === null ? null : sums[BYTES_OUT] ?? 0 };
  }
  const prev = history.prev;
  if (prev && prev.source === reading.source && reading.t > prev.t) {
    const dt = (reading.t - prev.t) / 1000;
    const rate = (a, b) => (a === null || b === null || a < b ? null : (a - b) / dt);
    history.samples.push({
      t: now,
      values: [rate(reading.msgs, prev.msgs), rate(reading.bytesIn, prev.bytesIn), rate(reading.bytesOut, prev.bytesOut)],
    });
  }
  history.prev = reading;
  while (history.samples.length && history.samples[0].t < now - WINDOW_MS - 10_000) history.samples.shift();

  const seen = new Set();
  for (const d of details) {
    const key = `${d.topic.stream}\u0000${d.topic.name}`;
    seen.add(key);
    const end = topicTotals(d).end;
    const before = history.topicPrev.get(key);
    if (before && now > before.t) {
      // A log end that went back (the topic was deleted and made again) gives no rate, not the old one.
      if (end >= before.end) history.topicRates.set(key, ((end - before.end) * 1000) / (now - before.t));
      else history.topicRates.delete(key);
    }
    history.topicPrev.set(key, { t: now, end });
  }
  for (const key of Array.from(history.topicPrev.keys())) {
    if (!seen.has(key)) {
      history.topicPrev.delete(key);
      history.topicRates.delete(key);
    }
  }
}

function stat(label, testid) {
  const value = h('div', { class: 'value', 'data-testid': testid, id: testid, text: '–' });
  const sub = h('div', { class: 'sub', text: '\u00a0' });
  const el = h('section', { class: 'card stat', 'aria-label': label }, h('div', { class: 'label', text: label }), value, sub);
  return { el, value, sub };
}

export default {
  section: 'overview',
  mount(main, ctx) {
    ctx.crumbs([{ label: 'Overview' }]);
    const stats = {
      broker: stat('Broker', 'stat-version'),
      uptime: stat('Uptime', 'stat-uptime'),
      topics: stat('Topics', 'stat-topics'),
      partitions: stat('Partitions online', 'stat-partitions-online'),
      offline: stat('Partitions offline', 'stat-partitions-offline'),
      connections: stat('Client connections', 'stat-connections'),
    };
    const msgChart = lineChart({
      title: 'Messages per second',
      series: [{ label: 'Messages in / s', format: (v) => fmtCompact(v), testid: 'rate-messages-in' }],
      format: (v) => fmtCompact(v),
      testid: 'chart-messages',
      windowMs: WINDOW_MS,
    });
    const byteChart = lineChart({
      title: 'Bytes per second',
      series: [
        { label: 'Bytes in / s', format: (v) => `${fmtBytes(v)}`, testid: 'rate-bytes-in' },
        { label: 'Bytes out / s', format: (v) => `${fmtBytes(v)}`, testid: 'rate-bytes-out' },
      ],
      format: (v) => fmtBytes(v),
      binary: true,
      testid: 'chart-bytes',
      windowMs: WINDOW_MS,
    });
    const topics = table('Topics in every stream', [
      { label: 'Topic' }, { label: 'Stream' }, { label: 'Partitions', num: true }, { label: 'Messages', num: true },
      { label: 'Size', num: true }, { label: 'In / s', num: true }, { label: 'Health' },
    ], 'overview-topics');
    const gateways = table('Connections per gateway', [
      { label: 'Gateway' }, { label: 'Address' }, { label: 'Connections', num: true },
    ], 'overview-gateways');
    const source = h('span', { class: 'hint', 'data-testid': 'throughput-source', text: '' });

    main.append(
      h('div', { class: 'page-head' }, h('div', {}, h('h1', { text: 'Overview' }),
        h('p', { text: `Broker at ${window.location.host}, refreshed every 2 seconds.` }))),
      h('div', { class: 'stats' }, Object.values(stats).map((s) => s.el)),
      h('div', { class: 'grid two' },
        card('Message throughput', { testid: 'card-messages', actions: source }, msgChart.el),
        card('Byte throughput', { testid: 'card-bytes' }, byteChart.el)),
      h('div', { class: 'grid split' },
        card('Topics', { testid: 'card-topics', flush: true, actions: h('a', { href: '#/topics', text: 'Manage topics' }) },
          topics.wrap),
        card('Gateways', { testid: 'card-gateways', flush: true }, gateways.wrap)),
    );
    msgChart.update(history.samples.map((s) => ({ t: s.t, values: [s.values[0]] })));
    byteChart.update(history.samples.map((s) => ({ t: s.t, values: [s.values[1], s.values[2]] })));

    return {
      async refresh({ signal, status }) {
        const [st, streams, metricsText] = await Promise.all([
          status,
          api.streams(signal),
          api.metrics(signal).catch((e) => (e.name === 'AbortError' ? Promise.reject(e) : null)),
        ]);
        const details = await allTopicDetails(streams, signal);
        sample(Date.now(), metricsText, details);
        setText(source, history.prev && history.prev.source === 'metrics' ? 'from /metrics' : 'from partition log ends');

        setText(stats.broker.value, st.version);
        setText(stats.broker.sub, `${st.restarts} partition restarts`);
        setText(stats.uptime.value, fmtDuration(st.uptime_ms));
        const since = new Date(Date.now() - st.uptime_ms);
        const sameDay = since.toDateString() === new Date().toDateString();
        setText(stats.uptime.sub, `since ${sameDay ? since.toLocaleTimeString('en-GB') : since.toLocaleString('en-GB')}`);
        setText(stats.topics.value, fmtInt(st.topics));
        setText(stats.topics.sub, `in ${fmtInt(st.streams)} stream${st.streams === 1 ? '' : 's'}`);
        setText(stats.partitions.value, fmtInt(st.partitions_online));
        setText(stats.partitions.sub, `${fmtInt(st.partitions_read_only)} read-only`);
        setText(stats.offline.value, fmtInt(st.partitions_offline));
        setText(stats.offline.sub, st.partitions_offline ? 'failed past the restart bound' : 'none failed');
        stats.offline.el.classList.toggle('bad', st.partitions_offline > 0);
        stats.offline.el.classList.toggle('ok', st.partitions_offline === 0);
        const conns = st.connections || {};
        const total = Object.values(conns).reduce((a, b) => a + (Number(b) || 0), 0);
        setText(stats.connections.value, fmtInt(total));
        setText(stats.connections.sub, Object.entries(conns).map(([k, v]) => `${k} ${v}`).join(' · ') || 'none');

        msgChart.update(history.samples.map((s) => ({ t: s.t, values: [s.values[0]] })));
        byteChart.update(history.samples.map((s) => ({ t: s.t, values: [s.values[1], s.values[2]] })));

        details.sort((a, b) => a.topic.stream.localeCompare(b.topic.stream) || a.topic.name.localeCompare(b.topic.name));
        syncChildren(topics.tbody, details, (d) => `${d.topic.stream}\u0000${d.topic.name}`, (d) => {
          const link = h('a', { class: 'name', href: href('streams', d.topic.stream, 'topics', d.topic.name), text: d.topic.name });
          return h('tr', { 'data-testid': `overview-topic-${d.topic.stream}-${d.topic.name}` },
            h('td', {}, link), h('td', { text: d.topic.stream }), h('td', { class: 'num' }), h('td', { class: 'num' }),
            h('td', { class: 'num' }), h('td', { class: 'num' }), h('td'));
        }, (tr, d) => {
          const t = topicTotals(d);
          const cells = tr.children;
          setText(cells[2], fmtInt(d.partitions.length));
          setText(cells[3], fmtInt(t.messages));
          setText(cells[4], fmtBytes(t.size));
          const rate = history.topicRates.get(`${d.topic.stream}\u0000${d.topic.name}`);
          setText(cells[5], rate === undefined ? '–' : fmtCompact(rate));
          const label = t.bad.offline ? `offline:${t.bad.offline}` : t.bad.read_only ? `ro:${t.bad.read_only}` : 'online';
          if (cells[6].dataset.health !== label) {
            cells[6].dataset.health = label;
            const badge = healthBadge(t.worst);
            if (t.bad.offline || t.bad.read_only) {
              badge.textContent = t.bad.offline ? `${t.bad.offline} offline` : `${t.bad.read_only} read-only`;
            }
            cells[6].replaceChildren(badge);
          }
        });
        setEmpty(topics, details.length, 'No topics yet. Create one on the Topics page.');

        const listeners = new Map((st.listeners || []).map((l) => [l.name, l.addr]));
        const names = Array.from(new Set([...listeners.keys(), ...Object.keys(conns)]));
        syncChildren(gateways.tbody, names, (n) => n, (n) => h('tr', { 'data-testid': `gateway-${n}` },
          h('td', { class: 'name', text: n.toUpperCase() }), h('td', { class: 'mono' }),
          h('td', { class: 'num', 'data-testid': `connections-${n}` })), (tr, n) => {
          setText(tr.children[1], listeners.get(n) || 'not listening');
          setText(tr.children[2], conns[n] === undefined ? '–' : fmtInt(conns[n]));
        });
        setEmpty(gateways, names.length, 'No listeners reported.');
      },
      unmount() {
        msgChart.destroy();
        byteChart.destroy();
      },
    };
  },
};
