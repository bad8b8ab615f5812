// Hash routing: `#/streams/orders/topics/payments` is matched against patterns such as
// `streams/:stream/topics/:topic`; every segment is URI-encoded, so names may hold any printable character.

/** Builds a route's hash from raw (unencoded) segments. */
export function href(...segments) {
  return `#/${segments.map((s) => encodeURIComponent(String(s))).join('/')}`;
}

/** Splits the current hash into decoded segments (null when it is not valid percent-encoding). */
export function currentSegments(hash = window.location.hash) {
  const path = hash.replace(/^#\/?/, '').split('?')[0];
  try {
    return path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
}

/**
 * Finds the first route whose pattern matches `segments`. Routes: [{pattern: 'streams/:stream/topics', ...}].
 * Returns {route, params} or null.
 */
export function match(routes, segments) {
  if (!segments) return null;
  for (const route of routes) {
    const parts = route.pattern.split('/').filter(Boolean);
    if (parts.length !== segments.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < parts.length && ok; i += 1) {
      if (parts[i].startsWith(':')) params[parts[i].slice(1)] = segments[i];
      else ok = parts[i] === segments[i];
    }
    if (ok) return { route, params };
  }
  return null;
}

/** Navigates to a hash (replacing the history entry when `replace`). */
export function navigate(hash, { replace = false } = {}) {
  if (window.location.hash === hash) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else if (replace) {
    window.history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    window.location.hash = hash;
  }
}
