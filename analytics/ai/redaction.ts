// --redact: paths and host names in the evidence bundle become placeholders before anything is
// sent (`<path-1>`, `<host-1>`). Placeholders are numbered in order of first appearance over the
// bundle's fixed order, so the same bundle always gives the same placeholders (and the same
// answer-cache key), and a placeholder says nothing about what it replaced. The mapping never
// leaves the machine: `restore` puts the originals back into the model's answer for display.
import type { Evidence } from "../diagnose/evidence.ts";

export interface Placeholder {
  placeholder: string;
  original: string;
  kind: "path" | "host";
}

export interface Redaction {
  evidence: Evidence[];
  placeholders: Placeholder[];
  /** Text with every placeholder replaced by its original. */
  restore(text: string): string;
}

export interface RedactInput {
  /** Strings known to be paths (the run's source and destination), replaced wherever they occur. */
  paths?: readonly string[];
  /** Strings known to be host names (the run's host, this machine's name). */
  hosts?: readonly string[];
}

// A blit:// URL: host (a name, an IPv4 address or a bracketed IPv6 one), optional port, and path.
const URL_RE = /blit:\/\/(\[[^\]\s]+\]|[^\s/:,;'"]+)(:\d+)?(\/[^\s,;'"()]*)?/g;
// An absolute POSIX path not glued to a word or a unit ("MB/s", "files/s").
const POSIX_RE = /(?<![\w.\-/\]])\/[^\s,;:'"()<>[\]]+/g;
// A network filesystem's source, server:/export (NFS), whose host name is private too.
const REMOTE_FS_RE = /(?<![\w.\-/:])([A-Za-z0-9][\w.\-]*):(\/(?!\/)[^\s,;'"()<>[\]]*)/g;
// A Windows path, C:\dir\file or \\server\share\file.
const WINDOWS_RE = /(?<![\w])(?:[A-Za-z]:\\|\\\\)[^\s,;'"()<>]*/g;
// A path in double quotes, as trace facts write the paths they name: all of it up to the closing
// quote is the path, spaces included ("C:\Users\Ana Lima\x.docx").
const QUOTED_RE = /"((?:[A-Za-z]:\\|\\\\|\/)[^"\n]*)"/g;

/** A copy of `evidence` with paths and host names replaced; the input is not changed. */
export function redactEvidence(evidence: readonly Evidence[], input: RedactInput = {}): Redaction {
  const byOriginal = new Map<string, Placeholder>();
  const counters = { path: 0, host: 0 };
  const placeholderFor = (original: string, kind: Placeholder["kind"]): string => {
    const seen = byOriginal.get(`${kind}\0${original}`);
    if (seen) return seen.placeholder;
    const p: Placeholder = { placeholder: `<${kind}-${++counters[kind]}>`, original, kind };
    byOriginal.set(`${kind}\0${original}`, p);
    return p.placeholder;
  };
  const known = [
    ...(input.paths ?? []).filter((p) => p.length > 1 && !p.startsWith("blit://")).map((p) => ({ text: p, kind: "path" as const })),
    ...(input.hosts ?? []).filter((h) => h.length > 0).map((h) => ({ text: h, kind: "host" as const })),
  ].sort((a, b) => b.text.length - a.text.length);

  // Finds what to replace in `text` as spans of the original text (URLs first, then known
  // strings, then anything that looks like a path), then numbers them from left to right.
  const redact = (text: string): string => {
    const spans: { start: number; end: number; original: string; kind: Placeholder["kind"] }[] = [];
    const free = (start: number, end: number) => spans.every((x) => end <= x.start || start >= x.end);
    for (const m of text.matchAll(URL_RE)) {
      const hostStart = m.index! + "blit://".length;
      spans.push({ start: hostStart, end: hostStart + m[1]!.length, original: m[1]!, kind: "host" });
      const path = m[3];
      if (path && path.length > 1) {
        const pathStart = m.index! + m[0].length - path.length + 1;
        spans.push({ start: pathStart, end: pathStart + path.length - 1, original: path.slice(1), kind: "path" });
      }
      // The rest of the URL (scheme, port) stays; nothing else may match inside it.
      spans.push({ start: m.index!, end: hostStart, original: "", kind: "path" });
    }
    // A quoted path is replaced whole, even when it starts with a known one: its file name is private too.
    for (const m of text.matchAll(QUOTED_RE)) {
      const start = m.index! + 1;
      if (free(start, start + m[1]!.length)) spans.push({ start, end: start + m[1]!.length, original: m[1]!, kind: "path" });
    }
    for (const m of text.matchAll(REMOTE_FS_RE)) {
      const hostEnd = m.index! + m[1]!.length;
      if (!free(m.index!, m.index! + m[0].length)) continue;
      spans.push({ start: m.index!, end: hostEnd, original: m[1]!, kind: "host" });
      if (m[2]!.length > 1) spans.push({ start: hostEnd + 1, end: m.index! + m[0].length, original: m[2]!, kind: "path" });
    }
    for (const k of known) {
      const re = k.kind === "host" ? new RegExp(`(?<![\\w.-])${escapeRe(k.text)}(?![\\w-])`, "g") : new RegExp(escapeRe(k.text), "g");
      for (const m of text.matchAll(re)) {
        if (free(m.index!, m.index! + k.text.length)) spans.push({ start: m.index!, end: m.index! + k.text.length, original: k.text, kind: k.kind });
      }
    }
    for (const re of [WINDOWS_RE, POSIX_RE]) {
      for (const m of text.matchAll(re)) {
        if (free(m.index!, m.index! + m[0].length)) spans.push({ start: m.index!, end: m.index! + m[0].length, original: m[0], kind: "path" });
      }
    }
    let out = "";
    let at = 0;
    for (const span of spans.sort((a, b) => a.start - b.start)) {
      out += text.slice(at, span.start) + (span.original === "" ? text.slice(span.start, span.end) : placeholderFor(span.original, span.kind));
      at = span.end;
    }
    return out + text.slice(at);
  };

  // Assign placeholders in bundle order: id, then label, value, text and named parts of each fact.
  const redacted = evidence.map((e) => ({
    ...e,
    label: redact(e.label),
    value: typeof e.value === "string" ? redact(e.value) : e.value,
    text: redact(e.text),
    ...(e.parts ? { parts: Object.fromEntries(Object.entries(e.parts).map(([k, v]) => [k, typeof v === "string" ? redact(v) : v])) } : {}),
  }));
  const placeholders = [...byOriginal.values()];
  const restore = (text: string) =>
    placeholders.length === 0 ? text : text.replace(/<(path|host)-\d+>/g, (m) => placeholders.find((p) => p.placeholder === m)?.original ?? m);
  return { evidence: redacted, placeholders, restore };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
