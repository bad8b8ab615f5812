// The REST API (/api/v1) as promise-returning functions. Every failure becomes an ApiError carrying the server's
// `code` and `message` (or, when the server cannot be reached, the code `unreachable`).
//
// The session: `login` trades a user and password for a short-lived access token, kept in sessionStorage (this tab
// only, gone when it closes) and sent as `Authorization: Bearer` on every request. A 401 ends the session and calls
// the handler set with `onSignedOut` (the shell shows the login page); `logout` revokes the token.

const BASE = 'api/v1';
const SESSION_KEY = 'callboard.console.session';

let signedOut = () => {};

/** The current session ({token, id, user}) or null. */
export function session() {
  try {
    const raw = window.sessionStorage.getItem(SESSION_KEY);
    const s = raw ? JSON.parse(raw) : null;
    return s && typeof s.token === 'string' ? s : null;
  } catch {
    return null;
  }
}

function setSession(s) {
  try {
    if (s) window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
    else window.sessionStorage.removeItem(SESSION_KEY);
  } catch {
    // Storage refused (private mode): the session lasts until the page reloads.
  }
}

/** Sets what happens when the server refuses the session (401). */
export function onSignedOut(handler) {
  signedOut = handler;
}

/** An error answered by the server, or the server not answering. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }

  /** True when the request never got an answer (server stopped, network down). */
  get unreachable() {
    return this.code === 'unreachable';
  }
}

const seg = encodeURIComponent;

async function send(method, url, { body, signal, accept = 'application/json', anonymous = false, quiet = false } = {}) {
  // X-Requested-With: no `Basic` challenge on a 401, so the browser never shows its own password dialog.
  const headers = { Accept: accept, 'X-Requested-With': 'callboard-console' };
  const current = session();
  if (current && !anonymous) headers.Authorization = `Bearer ${current.token}`;
  const init = { method, headers, cache: 'no-store', signal, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', 'The broker is not answering: the server went away or the network is down.');
  }
  if (res.status === 401 && !anonymous && !quiet && current) {
    setSession(null);
    signedOut('Your session ended (expired, revoked, or the user was disabled). Sign in again.');
  }
  return res;
}

async function errorOf(res) {
  let code = `http_${res.status}`;
  let message = `${res.status} ${res.statusText || 'error'}`.trim();
  try {
    const data = JSON.parse(await res.text());
    if (data && typeof data.message === 'string') message = data.message;
    if (data && typeof data.code === 'string') code = data.code;
  } catch {
    // Not the JSON error body: keep the status line.
  }
  return new ApiError(res.status, code, message);
}

async function request(method, path, options = {}) {
  let url = BASE + path;
  if (options.query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(options.query)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    if (s) url += `?${s}`;
  }
  const res = await send(method, url, options);
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'bad_response', `The server answered ${method} ${path} with something that is not JSON.`);
  }
}

const get = (path, options) => request('GET', path, options);
const topicPath = (stream, topic) => `/streams/${seg(stream)}/topics/${seg(topic)}`;

/** Broker status: version, uptime, partition health counts, listeners and connections. */
export const status = (signal) => get('/status', { signal });

/** Streams. */
export const streams = (signal) => get('/streams', { signal });
export const createStream = (name) => request('POST', '/streams', { body: { name } });
export const deleteStream = (stream) => request('DELETE', `/streams/${seg(stream)}`);

/** Topics of a stream, a topic's details, creating and deleting. */
export const topics = (stream, signal) => get(`/streams/${seg(stream)}/topics`, { signal });
export const topic = (stream, name, signal) => get(topicPath(stream, name), { signal });
export const createTopic = (stream, body) => request('POST', `/streams/${seg(stream)}/topics`, { body });
export const deleteTopic = (stream, name) => request('DELETE', topicPath(stream, name));
export const addPartitions = (stream, name, count) =>
  request('POST', `${topicPath(stream, name)}/partitions`, { body: { count } });

/** Produces messages (`body` as in the API: partitioning, encoding, messages). */
export const produce = (stream, name, body) => request('POST', `${topicPath(stream, name)}/messages`, { body });

/** Reads messages from one partition, everything in base64. */
export const poll = (stream, name, partition, { from, count }, signal) =>
  get(`${topicPath(stream, name)}/partitions/${partition}/messages`, {
    query: { from, count, encoding: 'base64' },
    signal,
  });

/** Consumer groups. */
export const groups = (stream, signal) => get(`/streams/${seg(stream)}/groups`, { signal });
export const group = (stream, name, signal) => get(`/streams/${seg(stream)}/groups/${seg(name)}`, { signal });
export const resetOffsets = (stream, name, body) =>
  request('POST', `/streams/${seg(stream)}/groups/${seg(name)}/reset-offsets`, { body });
export const deleteGroup = (stream, name) => request('DELETE', `/streams/${seg(stream)}/groups/${seg(name)}`);

/** Signs in: a 12-hour token for this tab. Answers the user ({name, enabled, grants}). */
export async function login(user, password) {
  const created = await request('POST', '/login', { body: { user, password }, anonymous: true });
  setSession({ token: created.token, id: created.info.id, user: created.info.user });
  return request('GET', '/whoami');
}

/** Signs out: revokes this tab's token (best effort) and forgets it. */
export async function logout() {
  const current = session();
  if (!current) return;
  try {
    await send('DELETE', `${BASE}/tokens/${seg(current.id)}`, { quiet: true });
  } catch {
    // Unreachable: the token expires by itself.
  }
  setSession(null);
}

/** The signed-in user. */
export const whoami = (signal) => get('/whoami', { signal });

/** Users (needs manage_users). */
export const users = (signal) => get('/users', { signal });
export const createUser = (body) => request('POST', '/users', { body });
export const updateUser = (name, body) => request('PATCH', `/users/${seg(name)}`, { body });
export const deleteUser = (name) => request('DELETE', `/users/${seg(name)}`);
/** `access`: {global: P} | {stream: {stream, permission}} | {topic: {stream, topic, permission}}. */
export const grant = (name, access) => request('POST', `/users/${seg(name)}/grants`, { body: access });
export const revoke = (name, access) => request('DELETE', `/users/${seg(name)}/grants`, { body: access });

/** The Prometheus text exposition at /metrics. */
export async function metrics(signal) {
  const res = await send('GET', 'metrics', { signal, accept: 'text/plain' });
  if (!res.ok) throw await errorOf(res);
  return res.text();
}

/**
 * Sums every sample of each named metric in a Prometheus text exposition (all label sets). A metric that has no
 * sample yet is absent from the result.
 */
export function sumMetrics(text, names) {
  const wanted = new Set(names);
  const sums = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const end = brace >= 0 && brace < space ? brace : space;
    if (end <= 0) continue;
    const name = line.slice(0, end);
    if (!wanted.has(name)) continue;
    const afterLabels = brace >= 0 && brace < space ? line.slice(line.lastIndexOf('}') + 1) : line.slice(space);
    const value = Number(afterLabels.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) sums[name] = (sums[name] ?? 0) + value;
  }
  return sums;
}
