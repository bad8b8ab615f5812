// Small SVG charts drawn from samples the pages collect: a time-series line chart with a legend showing the
// latest values, and an inline sparkline.

import { h, setText, svg } from './ui.js';

function niceStep(raw, binary = false) {
  if (!(raw > 0)) return 1;
  if (binary && raw >= 1024) {
    // Round steps in KiB, MiB, ...: 1, 2, 2.5, 5 or 10 of the largest binary unit below the raw step.
    const unit = 1024 ** Math.floor(Math.log(raw) / Math.log(1024));
    return niceStep(raw / unit) * unit;
  }
  const exp = 10 ** Math.floor(Math.log10(raw));
  const f = raw / exp;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * exp;
}

/**
 * A line chart over the last `windowMs`. `series`: [{label, format, testid}]; `format` formats axis values.
 * `binary` makes axis steps round in powers of 1024 (for bytes). `update(samples)` takes [{t, values: [number|null per series]}] sorted by time; a null value, or a gap longer
 * than `gapMs` between samples, breaks the line.
 */
export function lineChart({
  title, series, format, testid, windowMs = 5 * 60_000, gapMs = 7_000, height = 190, binary = false,
}) {
  const nows = series.map((s) => h('span', { class: 'now', 'data-testid': s.testid, id: s.testid, text: '–' }));
  const legend = h(
    'div',
    { class: 'legend' },
    series.map((s, i) => h('div', { class: `item s${i}` }, h('span', { class: 'key', text: s.label }), nows[i])),
  );
  const box = svg('svg', { role: 'img', 'aria-label': title, 'data-testid': testid, id: testid, height });
  const el = h('div', { class: 'chart' }, legend, box);
  let samples = [];

  function draw() {
    const width = Math.max(box.clientWidth || 0, 200);
    const padL = 52;
    const padR = 10;
    const padT = 10;
    const padB = 22;
    const plotW = width - padL - padR;
    const plotH = height - padT - padB;
    box.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const now = samples.length ? samples[samples.length - 1].t : Date.now();
    // The time axis grows with the history, from one minute up to `windowMs`.
    const span = samples.length ? now - samples[0].t : 0;
    const shownMs = Math.min(windowMs, Math.max(60_000, Math.ceil(span / 60_000) * 60_000));
    const t0 = now - shownMs;
    const visible = samples.filter((s) => s.t >= t0);
    let max = 0;
    for (const s of visible) for (const v of s.values) if (v !== null && v > max) max = v;
    const step = niceStep(max / 4, binary);
    const top = Math.max(step * Math.ceil(max / step), step);
    const x = (t) => padL + ((t - t0) / shownMs) * plotW;
    const y = (v) => padT + plotH - (v / top) * plotH;

    const parts = [];
    const axis = svg('g', { class: 'axis' });
    for (let v = 0; v <= top + step / 2; v += step) {
      const yy = Math.round(y(v)) + 0.5;
      axis.append(svg('line', { class: v === 0 ? 'baseline' : 'grid-line', x1: padL, x2: width - padR, y1: yy, y2: yy }));
      axis.append(svg('text', { x: padL - 8, y: yy + 4, 'text-anchor': 'end' }, format(v)));
    }
    const tick = [10_000, 15_000, 30_000, 60_000, 120_000].find((ms) => shownMs / ms <= 6) || 60_000;
    for (let ago = 0; ago <= shownMs; ago += tick) {
      const anchor = ago === 0 ? 'end' : ago + tick > shownMs ? 'start' : 'middle';
      const label = ago === 0 ? 'now' : ago % 60_000 === 0 ? `−${ago / 60_000}m` : `−${ago / 1000}s`;
      axis.append(svg('text', { x: x(now - ago), y: height - 6, 'text-anchor': anchor }, label));
    }
    const minutes = Math.round(shownMs / 60_000);
    parts.push(axis);

    series.forEach((_, i) => {
      const g = svg('g', { class: `s${i}` });
      let run = [];
      const flush = () => {
        if (run.length >= 2) {
          const line = run.map(([px, py], k) => `${k ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
          const base = y(0).toFixed(1);
          const area = `${line}L${run[run.length - 1][0].toFixed(1)},${base}L${run[0][0].toFixed(1)},${base}Z`;
          g.append(svg('path', { class: 'area', d: area }), svg('path', { class: 'line', d: line }));
        } else if (run.length === 1) {
          g.append(svg('circle', { class: 'line', cx: run[0][0], cy: run[0][1], r: 1.5 }));
        }
        run = [];
      };
      let prevT = null;
      for (const s of visible) {
        const v = s.values[i];
        if (v === null || v === undefined || (prevT !== null && s.t - prevT > gapMs)) flush();
        if (v !== null && v !== undefined) run.push([x(s.t), y(v)]);
        prevT = s.t;
      }
      flush();
      parts.push(g);
    });
    if (!visible.some((s) => s.values.some((v) => v !== null))) {
      parts.push(svg('text', { class: 'nodata', x: padL + plotW / 2, y: padT + plotH / 2, 'text-anchor': 'middle' },
        'Collecting samples…'));
    }
    box.replaceChildren(...parts);

    const latest = [];
    series.forEach((s, i) => {
      let v = null;
      for (let k = samples.length - 1; k >= 0 && v === null; k -= 1) v = samples[k].values[i] ?? null;
      latest.push(v === null ? '–' : `${s.format(v)}`);
      setText(nows[i], latest[i]);
    });
    box.setAttribute('aria-label', `${title}, last ${minutes} minute${minutes === 1 ? '' : 's'}. Now: ${series.map((s, i) => `${s.label} ${latest[i]}`).join(', ')}`);
  }

  const observer = typeof ResizeObserver === 'function' ? new ResizeObserver(() => draw()) : null;
  if (observer) observer.observe(box);
  draw();
  return {
    el,
    update(next) {
      samples = next;
      draw();
    },
    destroy() {
      if (observer) observer.disconnect();
    },
  };
}

/** An inline sparkline of `values` (numbers), scaled from 0 to their maximum. */
export function sparkline(values, { width = 96, height = 24, label = 'trend', testid } = {}) {
  const el = svg('svg', {
    class: 'spark',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `${label}: ${values.join(', ')}`,
    'data-testid': testid,
  });
  if (values.length < 2) return el;
  const max = Math.max(...values, 1);
  const stepX = (width - 2) / (values.length - 1);
  const pts = values.map((v, i) => [1 + i * stepX, height - 2 - (v / max) * (height - 4)]);
  const line = pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  el.append(
    svg('polygon', { class: 'spark-area', points: `1,${height - 1} ${line} ${(width - 1).toFixed(1)},${height - 1}` }),
    svg('polyline', { points: line }),
  );
  return el;
}
