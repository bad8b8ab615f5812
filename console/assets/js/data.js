// Data shared by several pages, derived from the REST API's answers.

import * as api from './api.js';

/** Every topic of every stream, with its details (a topic deleted meanwhile is skipped). */
export async function allTopicDetails(streams, signal) {
  const perStream = await Promise.all(
    streams.map(async (s) => {
      const list = await api.topics(s.name, signal).catch((e) => {
        if (e.status === 404) return [];
        throw e;
      });
      const details = await Promise.all(
        list.map((t) => api.topic(s.name, t.name, signal).catch((e) => {
          if (e.status === 404) return null;
          throw e;
        })),
      );
      return details.filter(Boolean);
    }),
  );
  return perStream.flat();
}

/** Sums over a topic's partitions: messages held, bytes, the log ends, and the worst health. */
export function topicTotals(d) {
  let messages = 0;
  let size = 0;
  let end = 0;
  let worst = { state: 'online' };
  const rank = { online: 0, retired: 1, read_only: 2, offline: 3 };
  const bad = { read_only: 0, offline: 0 };
  for (const p of d.partitions) {
    messages += Math.max(0, p.log_end - p.log_start);
    size += p.size_bytes;
    end += p.log_end;
    const state = p.health && p.health.state;
    if (state in bad) bad[state] += 1;
    if ((rank[state] ?? 0) > (rank[worst.state] ?? 0)) worst = p.health;
  }
  return { messages, size, end, worst, bad };
}


/** A member's assignment entry as {topic, partition} (accepts the `["topic", 0]` pair form too). */
export function topicPartition(a) {
  return Array.isArray(a) ? { topic: a[0], partition: a[1] } : a;
}

const LAG_KEEP_MS = 5 * 60_000 + 10_000;
const lagHistories = new Map();

/**
 * Records a group description's lag (total and per partition) at time `t`, and returns the group's history:
 * {total: [{t, lag}], parts: Map("topic\u0000partition" -> [{t, lag}])}. Kept while the console page is open, so
 * the group pages show how lag moved over the last minutes.
 */
export function recordLag(stream, group, description, t = Date.now()) {
  const key = `${stream}\u0000${group}`;
  let hist = lagHistories.get(key);
  if (!hist) {
    hist = { total: [], parts: new Map() };
    lagHistories.set(key, hist);
  }
  const trim = (arr) => {
    while (arr.length && arr[0].t < t - LAG_KEEP_MS) arr.shift();
  };
  let total = 0;
  for (const p of description.partitions) {
    total += p.lag;
    const pk = `${p.topic}\u0000${p.partition}`;
    if (!hist.parts.has(pk)) hist.parts.set(pk, []);
    const arr = hist.parts.get(pk);
    const lastSample = arr[arr.length - 1];
    if (!lastSample || t - lastSample.t >= 500) arr.push({ t, lag: p.lag });
    trim(arr);
  }
  const lastTotal = hist.total[hist.total.length - 1];
  if (!lastTotal || t - lastTotal.t >= 500) hist.total.push({ t, lag: total });
  trim(hist.total);
  return hist;
}

/** Total lag of a group description. */
export function totalLag(description) {
  return description.partitions.reduce((sum, p) => sum + p.lag, 0);
}
