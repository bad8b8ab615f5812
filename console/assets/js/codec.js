// Payload codecs for the message browser and the produce form: base64 <-> bytes, UTF-8 text, pretty JSON and a
// hex dump. The API is asked for base64 so every byte arrives intact and is decoded here.

/** Decodes standard base64 to bytes (throws on malformed input). */
export function fromBase64(s) {
  const bin = atob(s || '');
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}

/** Encodes bytes as standard base64. */
export function toBase64(bytes) {
  let bin = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) bin += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(bin);
}

/** UTF-8 bytes of a string. */
export function utf8Bytes(s) {
  return new TextEncoder().encode(s);
}

/** Text of UTF-8 bytes: {text, valid} (invalid sequences become U+FFFD and `valid` is false). */
export function utf8Text(bytes) {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), valid: true };
  } catch {
    return { text: new TextDecoder('utf-8').decode(bytes), valid: false };
  }
}

/** Parses hex ("48 65 6c", "0x48656c", with spaces, colons or newlines) to bytes; throws on anything else. */
export function parseHex(s) {
  const clean = s.replace(/0x/gi, '').replace(/[\s:,-]/g, '');
  if (clean.length % 2 !== 0) throw new Error('hex needs an even number of digits');
  if (/[^0-9a-f]/i.test(clean)) throw new Error('hex may only hold 0-9 and a-f');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** A classic hex dump: offset, 16 bytes in hex, and their printable ASCII. */
export function hexDump(bytes) {
  if (bytes.length === 0) return '(empty)';
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${i.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`);
  }
  return lines.join('\n');
}

/**
 * Renders a payload in a view mode: `text`, `json` or `hex`. Returns {text, error}: with `json`, a payload that is
 * not JSON gives an error (and its text); with `text`, bytes that are not UTF-8 give a note.
 */
export function renderPayload(bytes, mode) {
  if (mode === 'hex') return { text: hexDump(bytes), error: null };
  const { text, valid } = utf8Text(bytes);
  if (mode === 'json') {
    if (!valid) return { text, error: 'Not JSON: the payload is not valid UTF-8.' };
    try {
      return { text: JSON.stringify(JSON.parse(text), null, 2), error: null };
    } catch (e) {
      return { text, error: `Not JSON: ${e.message}` };
    }
  }
  return { text, error: valid ? null : 'Not valid UTF-8: undecodable bytes are shown as \uFFFD (use Hex).' };
}

/** Decodes a base64 field for display as text (keys, header values). */
export function b64Text(s) {
  if (s === null || s === undefined) return null;
  try {
    return utf8Text(fromBase64(s)).text;
  } catch {
    return s;
  }
}
