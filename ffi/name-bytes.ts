// File names are bytes; blit keeps them in JS strings with the "surrogateescape" rule (PEP 383):
// valid UTF-8 decodes as usual and each byte b of an invalid sequence (always 0x80..0xFF)
// becomes the lone surrogate U+DC00+b, which valid UTF-8 can never produce. Encoding maps
// U+DC80..U+DCFF back to the byte. So bytes -> string -> bytes is exact for every name, and two
// different names never decode to the same string. Every call that hands a path to the OS
// encodes it here (libc.ts cstr, fsPath for node:fs); every name read from the OS or the wire
// decodes here.

const utf8 = new TextDecoder("utf-8");
const encoder = new TextEncoder();
/**
 * True when `s` holds a lone surrogate (an escaped byte, or worse): only then does its encoding
 * differ from plain UTF-8. isWellFormed() is native and cheap; this runs once per system call.
 */
const hasLoneSurrogate = (s: string): boolean => !s.isWellFormed();

/** The name the bytes `b` spell; lossless for any bytes (see the rule above). */
export function nameFromBytes(b: Uint8Array): string {
  // Fast path: an ASCII or valid UTF-8 name. U+FFFD in the result means either a replaced
  // invalid sequence or a real U+FFFD in the name; the byte-wise decoder tells which.
  const s = utf8.decode(b);
  if (!s.includes("\ufffd")) return s;
  return decodeEscaping(b);
}

/** nameFromBytes(buf.subarray(start, end)) without making the subarray (a directory listing). */
export function nameFromBuffer(buf: Buffer, start: number, end: number): string {
  const s = buf.toString("utf8", start, end);
  if (!s.includes("\ufffd")) return s;
  return decodeEscaping(buf.subarray(start, end));
}

function decodeEscaping(b: Uint8Array): string {
  let out = "";
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    let need = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f; // no encoded surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    }
    let ok = need > 0 && i + need < n;
    if (ok) {
      const b1 = b[i + 1]!;
      if (b1 < lo || b1 > hi) ok = false;
      for (let k = 2; ok && k <= need; k++) if ((b[i + k]! & 0xc0) !== 0x80) ok = false;
    }
    if (!ok) {
      out += String.fromCharCode(0xdc00 + c);
      i++;
      continue;
    }
    let cp = c & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) cp = (cp << 6) | (b[i + k]! & 0x3f);
    out += String.fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}

/**
 * The bytes of `name` (the inverse of nameFromBytes). A lone surrogate outside U+DC80..U+DCFF
 * cannot come from a file name; it is written as U+FFFD, as node:fs and TextEncoder do.
 */
export function bytesOfName(name: string): Uint8Array {
  if (!hasLoneSurrogate(name)) return encoder.encode(name);
  return encodeEscaped(name, false);
}

/** bytesOfName(name) followed by a NUL, in a buffer of its own (for system calls). */
export function cBytesOfName(name: string): Uint8Array {
  if (!hasLoneSurrogate(name)) return encoder.encode(name + "\0");
  return encodeEscaped(name, true);
}

function encodeEscaped(name: string, nul: boolean): Uint8Array {
  const out = new Uint8Array(name.length * 3 + 1);
  let o = 0;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0xdc80 && c <= 0xdcff) {
      out[o++] = c - 0xdc00;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < name.length) {
      const d = name.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        out[o++] = 0xf0 | (cp >> 18);
        out[o++] = 0x80 | ((cp >> 12) & 0x3f);
        out[o++] = 0x80 | ((cp >> 6) & 0x3f);
        out[o++] = 0x80 | (cp & 0x3f);
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out[o++] = c;
    else if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
    } else {
      out[o++] = 0xe0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    }
  }
  if (nul) out[o++] = 0;
  return out.slice(0, o);
}

/** Byte length of `name` on disk (what NAME_MAX and PATH_MAX limit). */
export function byteLengthOfName(name: string): number {
  if (!hasLoneSurrogate(name)) return Buffer.byteLength(name, "utf8");
  return encodeEscaped(name, false).length;
}

/** True when `name` holds bytes that are not valid UTF-8 (escaped as U+DC80..U+DCFF). */
export function hasEscapedBytes(name: string): boolean {
  return /(?<![\ud800-\udbff])[\udc80-\udcff]/.test(name);
}

/**
 * `path` as node:fs must get it: the string itself when it is plain Unicode, else a Buffer of
 * its exact bytes (node:fs would write an escaped byte as U+FFFD and name another file).
 */
export function fsPath(path: string): string | Buffer {
  if (!hasLoneSurrogate(path)) return path;
  const b = encodeEscaped(path, false);
  return Buffer.from(b.buffer, b.byteOffset, b.length);
}

const NAMED: Record<number, string> = { 0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r" };

/**
 * `name` for people and logs: undecodable bytes as `\xff`, control characters as `\n`, `\t`,
 * `\r` or `\x1b`, other lone surrogates as `\udXXX`; everything else as it is. Never feed the
 * result back to the file system: it is for messages, JSON and telemetry.
 */
export function displayName(name: string): string {
  if (!/[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/.test(name)) return name;
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < name.length) {
      const d = name.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += name[i]! + name[i + 1]!;
        i++;
        continue;
      }
    }
    if (c >= 0xdc80 && c <= 0xdcff) out += `\\x${(c - 0xdc00).toString(16)}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += `\\u${c.toString(16)}`;
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += NAMED[c] ?? `\\x${c.toString(16).padStart(2, "0")}`;
    else out += name[i]!;
  }
  return out;
}
