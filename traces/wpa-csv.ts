// wpaexporter CSV: the columns depend on the WPA profile, so each is recognized by its name, and
// its unit is read from the name (`IO Time (µs)`, `Size (B)`, `Complete Time (s)`). Numbers follow
// the exporting machine's locale: `1.5`, `"1,5"` (decimal comma, quoted), `1,234.5`, `1.234,5`.
// A file with only the header line is a valid trace with no events.
import { categoryOf, type OpKind, type ParseItem, type TraceEvent } from "./trace-event.ts";
import { excerpt, type ParseState } from "./parse-state.ts";
import { splitCsv, splitProcess } from "./csv-line.ts";

const TYPE_KINDS: Record<string, OpKind> = {
  read: "read", write: "write", flush: "fsync", create: "open", close: "close", cleanup: "close",
  delete: "unlink", rename: "rename", setinfo: "stat", queryinfo: "stat", direnum: "stat", cswitch: "context_switch",
};

interface Layout {
  sep: string;
  names: string[];
  process?: number;
  tid?: number;
  path?: number;
  type?: number;
  size?: number;
  sizeScale: number;
  duration?: number;
  durationScale: number;
  start?: number;
  startScale: number;
  end?: number;
  endScale: number;
  disk: boolean;
}

export function* parseWpaCsv(lines: Iterable<string>, state: ParseState): Generator<ParseItem> {
  state.clock = "relative";
  let layout: Layout | undefined;
  let lineNo = 0;
  const locale = { decimalComma: null as boolean | null };
  for (const line of lines) {
    lineNo++;
    if (line.trim().length === 0) continue;
    if (!layout) {
      layout = readHeader(line);
      state.notes.push(`columns: ${layout.names.join(" | ")}`);
      continue;
    }
    const fields = splitCsv(line, layout.sep);
    if (fields.length < layout.names.length) {
      yield { bad: { line: lineNo, reason: `${fields.length} fields where the header has ${layout.names.length}`, text: excerpt(line) } };
      continue;
    }
    const num = (i: number | undefined, scale: number) => (i === undefined ? null : numberOf(fields[i]!, locale, scale));
    const duration = num(layout.duration, layout.durationScale);
    let ts = num(layout.start, layout.startScale);
    if (ts === null) {
      const end = num(layout.end, layout.endScale);
      ts = end === null ? null : end - (duration ?? 0);
    }
    if (ts === null) {
      yield { bad: { line: lineNo, reason: "no readable time in this row", text: excerpt(line) } };
      continue;
    }
    const typeText = layout.type !== undefined ? fields[layout.type]! : "";
    let kind: OpKind = TYPE_KINDS[typeText.toLowerCase().replace(/\s+/g, "")] ?? "other";
    if (layout.disk && kind === "read") kind = "disk_read";
    if (layout.disk && kind === "write") kind = "disk_write";
    const { process, pid } = layout.process !== undefined ? splitProcess(fields[layout.process]!) : { process: "", pid: null };
    const record: Record<string, string> = {};
    layout.names.forEach((n, i) => (record[n] = fields[i]!));
    const event: TraceEvent = {
      ts, process, pid,
      tid: layout.tid !== undefined ? num(layout.tid, 1) : null,
      kind, category: categoryOf(kind, typeText),
      path: layout.path !== undefined ? fields[layout.path] || null : null,
      bytes: num(layout.size, layout.sizeScale),
      duration, result: null, failed: null,
      name: typeText || "row", fields: record, line: lineNo,
    };
    yield { event };
  }
}

function readHeader(line: string): Layout {
  const sep = [",", ";", "\t"].map((s) => [s, line.split(s).length] as const).sort((a, b) => b[1] - a[1])[0]![0];
  const names = splitCsv(line, sep);
  const layout: Layout = { sep, names, sizeScale: 1, durationScale: 1, startScale: 1, endScale: 1, disk: false };
  names.forEach((name, i) => {
    const lower = name.toLowerCase();
    const unit = /\(([^)]+)\)\s*$/.exec(name)?.[1];
    const base = lower.replace(/\s*\([^)]*\)\s*$/, "").trim();
    if (base === "disk") layout.disk = true;
    if (base === "process" || base === "process name") layout.process ??= i;
    else if (base === "thread id" || base === "threadid" || base === "tid") layout.tid ??= i;
    else if (base === "path name" || base === "file name" || base === "filename" || base === "path") layout.path ??= i;
    else if (base === "io type" || base === "type" || base === "event type" || base === "operation") layout.type ??= i;
    else if (base === "size" || base === "io size" || base === "bytes" || base === "transfer size") {
      layout.size ??= i;
      layout.sizeScale = sizeScale(unit);
    } else if (base === "io time" || base === "duration" || base === "elapsed time") {
      layout.duration ??= i;
      layout.durationScale = timeScale(unit);
    } else if (base === "disk service time" && layout.duration === undefined) {
      layout.duration = i;
      layout.durationScale = timeScale(unit);
    } else if (base === "init time" || base === "start time" || base === "time" || base === "timestamp") {
      layout.start ??= i;
      layout.startScale = timeScale(unit);
    } else if (base === "complete time" || base === "end time") {
      layout.end ??= i;
      layout.endScale = timeScale(unit);
    }
  });
  // prefer the IO time over the disk service time when both are there
  const io = names.findIndex((n) => /^io time/i.test(n));
  if (io >= 0) {
    layout.duration = io;
    layout.durationScale = timeScale(/\(([^)]+)\)/.exec(names[io]!)?.[1]);
  }
  return layout;
}

function timeScale(unit: string | undefined): number {
  switch (unit?.toLowerCase()) {
    case "ns": return 1e-9;
    case "µs": case "us": case "μs": return 1e-6;
    case "ms": return 1e-3;
    case "min": return 60;
    default: return 1; // (s) or no unit: seconds
  }
}

function sizeScale(unit: string | undefined): number {
  switch (unit?.toLowerCase()) {
    case "kb": case "kib": return 1024;
    case "mb": case "mib": return 1024 * 1024;
    case "gb": case "gib": return 1024 ** 3;
    default: return 1;
  }
}

/**
 * A number in either locale. Unambiguous forms decide the file's locale for the ambiguous ones
 * ("1,234" is a thousand in en-US and 1.234 in de-DE).
 */
export function numberOf(text: string, locale: { decimalComma: boolean | null }, scale: number): number | null {
  const t = text.trim().replace(/[\s\u00a0\u202f']/g, "");
  if (t === "") return null;
  let normalized: string;
  const dot = t.indexOf(".");
  const comma = t.indexOf(",");
  if (comma < 0) {
    if (dot >= 0 && locale.decimalComma === true && /^-?\d{1,3}(\.\d{3})+$/.test(t)) normalized = t.replace(/\./g, "");
    else {
      if (dot >= 0 && locale.decimalComma === null && !/^-?\d{1,3}\.\d{3}$/.test(t)) locale.decimalComma = false;
      normalized = t;
    }
  } else if (dot < 0) {
    const thousands = /^-?\d{1,3}(,\d{3})+$/.test(t);
    if (!thousands || locale.decimalComma === true) {
      if (!thousands) locale.decimalComma = true;
      normalized = t.replace(",", ".");
    } else normalized = locale.decimalComma === false ? t.replace(/,/g, "") : t.replace(",", ".");
  } else if (dot < comma) {
    locale.decimalComma = true;
    normalized = t.replace(/\./g, "").replace(",", ".");
  } else {
    locale.decimalComma = false;
    normalized = t.replace(/,/g, "");
  }
  const v = Number(normalized);
  return Number.isFinite(v) ? v * scale : null;
}
