// `perf script` text, as every perf since 3.x prints it: one header line per sample or tracepoint
// (`COMM PID[/TID] [CPU] TIME: [PERIOD] EVENT[:] PAYLOAD`, where the time, CPU and period fields
// are each optional, `-F` picks them), optional stack lines after it (indented
// `ADDR SYMBOL+OFF (MODULE)`), a blank line between records, and `#` header lines
// (`perf script --header`). Commands may contain spaces, slashes and digits; the pid is found from
// the timestamp backwards (or, without a time field, from the event name ending in ':').
// Tracepoints are normalized: block_rq_issue joined to its block_rq_complete (disk reads and
// writes with their service time), sys_enter_X joined to sys_exit_X (the call with its duration
// and result), sched_process_exec, sched_switch. CPU samples (cpu-clock, task-clock, cycles, ...)
// are named by their event alone (`cycles` for `cycles:u`, the printed name in fields.event); the
// summary reads the function each caught running from its leaf frame (the first of fields.stack)
// or, with no chain, from the symbol on the sample line (fields.payload): in DuckDB, once, rather
// than per line here.
import { categoryOf, syscallKind, type OpKind, type ParseItem, type TraceEvent } from "./trace-event.ts";
import { excerpt, type ParseState } from "./parse-state.ts";

const HEADER = /^(.*?)\s+(\d+)(?:\/(\d+))?\s+(?:\[(\d+)\]\s+)?(\d+\.\d+):\s*(.*)$/;
/**
 * A header printed without the time field (`perf script -F comm,pid,event,...`): tried only on
 * lines HEADER refused, so traces with times pay nothing for it. What tells it from a stack line
 * is the CPU field (`[001]`) after the pid, or else the ':' after the event name.
 */
const HEADER_NO_TIME = /^(.*?)\s+(\d+)(?:\/(\d+))?\s+(?:\[(\d+)\]\s+(?:\d+\s+)?([A-Za-z_]\S*(?:\s.*)?)|(?:\d+\s+)?([A-Za-z_][\w\-.,=/]*(?::[\w\-.,=/]+)*:(?:\s.*)?))$/;
const STACK = /^\s+\S/;
const SAMPLE_TIME = /\s\d+\.\d+:(\s|$)/;
/** In-flight block requests and syscalls kept for joining; beyond this the oldest go out alone. */
const MAX_IN_FLIGHT = 100_000;
const MAX_FRAMES = 8;
/** Sampling events whose samples say where the CPU was (`cycles:u`, `cpu_core/cycles/` read as cycles). */
export const CPU_SAMPLE_EVENTS: ReadonlySet<string> = new Set([
  "cpu-clock", "task-clock", "cycles", "cpu-cycles", "ref-cycles", "instructions", "cpu_clock", "cpu_cycles",
]);

export function* parsePerfScript(lines: Iterable<string>, state: ParseState): Generator<ParseItem> {
  let lineNo = 0;
  let inRecord = false;
  let current: TraceEvent | undefined;
  let frames: string[] = [];
  const disk = new Map<string, TraceEvent>();
  const calls = new Map<number, TraceEvent>();
  let timeless = false;
  const flush = (): TraceEvent | undefined => {
    const e = current;
    if (e && frames.length > 0) e.fields.stack = frames.join(" <- ");
    current = undefined;
    frames = [];
    return e;
  };
  for (const line of lines) {
    lineNo++;
    if (line.length === 0) {
      inRecord = false;
      const e = flush();
      if (e) yield { event: e };
      continue;
    }
    if (line.charCodeAt(0) === 35 /* # */) {
      const captured = /^# captured on\s*:\s*(.+)$/.exec(line);
      if (captured) state.notes.push(`captured on ${captured[1]!.trim()}`);
      continue;
    }
    if (inRecord && STACK.test(line) && !SAMPLE_TIME.test(line) && !(timeless && HEADER_NO_TIME.test(line))) {
      if (current && frames.length < MAX_FRAMES) frames.push(stackSymbol(line));
      continue;
    }
    let m = HEADER.exec(line);
    if (!m) {
      const t = HEADER_NO_TIME.exec(line);
      if (t) {
        // the same groups as HEADER, with no time: ts 0, in file order
        m = t;
        m[6] = t[5] ?? t[6]!;
        m[5] = "0";
        if (!timeless) state.notes.push("perf script without the time field: every event is at ts 0, in file order");
        timeless = true;
      }
    }
    if (!m) {
      if (inRecord && /^\s/.test(line)) continue; // a stack line of another shape
      const e = flush();
      if (e) yield { event: e };
      yield { bad: { line: lineNo, reason: "not a perf script sample line (COMM PID TIME: EVENT:)", text: excerpt(line) } };
      continue;
    }
    inRecord = true;
    const previous = flush();
    if (previous) yield { event: previous };
    const ts = +m[5]!;
    if (state.clock === "unknown" && !timeless) state.clock = ts >= 1e8 ? "epoch" : "boot";
    const pid = +m[2]!;
    const tid = m[3] !== undefined ? +m[3] : pid;
    let rest = m[6]!;
    let period: string | undefined;
    let end = firstSpace(rest);
    if (end > 0 && allDigits(rest, end)) {
      period = rest.slice(0, end);
      rest = rest.slice(end).trimStart();
      end = firstSpace(rest);
    }
    // the event name is one word, with or without its ':' (perf versions differ)
    const token = end < 0 ? rest : rest.slice(0, end);
    const printed = token.charCodeAt(token.length - 1) === 58 /* : */ ? token.slice(0, -1) : token;
    const payload = end < 0 ? "" : rest.slice(end).trim();
    const sampled = cpuSampleEvent(printed);
    const name = sampled ?? printed;
    const fields: Record<string, string> = {};
    if (m[4] !== undefined) fields.cpu = m[4];
    if (period !== undefined) fields.period = period;
    if (payload) fields.payload = payload;
    if (sampled !== undefined && sampled !== printed) fields.event = printed;
    const event: TraceEvent = {
      ts, process: m[1]!.trim(), pid, tid, kind: "other", category: "other", path: null, bytes: null,
      duration: null, result: null, failed: null, name, fields, line: lineNo,
    };
    const emitted = tracepoint(event, payload, disk, calls);
    if (emitted === "held") continue;
    if (emitted) {
      yield { event: emitted };
      continue;
    }
    current = event;
  }
  const last = flush();
  if (last) yield { event: last };
  for (const e of disk.values()) yield { event: e };
  for (const e of calls.values()) yield { event: e };
}

/** Normalizes known tracepoints. "held" when the event waits for its other half. */
function tracepoint(
  e: TraceEvent, payload: string, disk: Map<string, TraceEvent>, calls: Map<number, TraceEvent>,
): TraceEvent | "held" | undefined {
  const name = e.name;
  const short = name.slice(name.indexOf(":") + 1);
  if (short === "block_rq_issue" || short === "block_rq_insert") {
    // "259,76 R 4096 () 57622160 + 8 [fio]": dev, rwbs, bytes, (cmd), sector + count, [comm]
    const p = /^(\d+,\d+)\s+(\S+)\s+(\d+)\s+\(.*?\)\s+(\d+)\s+\+\s+(\d+)/.exec(payload);
    if (!p) return undefined;
    e.kind = diskKind(p[2]!);
    e.category = categoryOf(e.kind, short);
    e.bytes = +p[3]!;
    e.fields.device = p[1]!;
    e.fields.sector = p[4]!;
    if (short === "block_rq_insert") return undefined;
    const key = `${p[1]} ${p[4]}`;
    disk.set(key, e);
    if (disk.size > MAX_IN_FLIGHT) return takeOldest(disk);
    return "held";
  }
  if (short === "block_rq_complete") {
    const p = /^(\d+,\d+)\s+(\S+)\s+\(.*?\)\s+(\d+)\s+\+\s+(\d+)(?:\s+\[(-?\d+)\])?/.exec(payload);
    if (!p) return undefined;
    const key = `${p[1]} ${p[3]}`;
    const issue = disk.get(key);
    if (issue) {
      disk.delete(key);
      issue.duration = e.ts - issue.ts;
      issue.result = p[5] ?? "0";
      issue.failed = p[5] !== undefined && p[5] !== "0";
      issue.fields.completedBy = `${e.process} ${e.pid}`;
      return issue;
    }
    e.kind = diskKind(p[2]!);
    e.category = categoryOf(e.kind, short);
    e.bytes = +p[4]! * 512;
    e.result = p[5] ?? null;
    e.fields.device = p[1]!;
    e.fields.sector = p[3]!;
    return e;
  }
  if (short === "sched_process_exec") {
    e.kind = "exec";
    e.category = "other";
    e.path = /filename=(\S+)/.exec(payload)?.[1] ?? null;
    return e;
  }
  if (short === "sched_switch") {
    e.kind = "context_switch";
    e.category = "other";
    return e;
  }
  if (short.startsWith("sys_enter_")) {
    const call = short.slice(10);
    e.name = call;
    e.kind = syscallKind(call);
    e.category = categoryOf(e.kind, call);
    const held = calls.get(e.tid ?? 0);
    calls.set(e.tid ?? 0, e);
    if (calls.size > MAX_IN_FLIGHT) return takeOldest(calls);
    return held ?? "held";
  }
  if (short.startsWith("sys_exit_")) {
    const call = short.slice(9);
    const enter = calls.get(e.tid ?? 0);
    const value = parseReturn(payload);
    if (enter && enter.name === call) {
      calls.delete(e.tid ?? 0);
      enter.duration = e.ts - enter.ts;
      enter.result = String(value);
      enter.failed = value < 0;
      if ((enter.kind === "read" || enter.kind === "write") && value >= 0) enter.bytes = value;
      return enter;
    }
    e.name = call;
    e.kind = syscallKind(call);
    e.category = categoryOf(e.kind, call);
    e.result = String(value);
    e.failed = value < 0;
    return e;
  }
  return undefined;
}

function diskKind(rwbs: string): OpKind {
  if (rwbs.includes("W")) return "disk_write";
  if (rwbs.includes("R")) return "disk_read";
  return rwbs.includes("F") ? "fsync" : "other";
}

/** "0x3", "0xfffffffffffffffe" (-2), "3", "-2". */
function parseReturn(text: string): number {
  const t = text.trim();
  if (t.startsWith("0x")) {
    const v = BigInt.asIntN(64, BigInt(t.split(/\s/)[0]!));
    return Number(v);
  }
  return parseInt(t, 10);
}

function takeOldest<K>(map: Map<K, TraceEvent>): TraceEvent {
  const [key, value] = map.entries().next().value as [K, TraceEvent];
  map.delete(key);
  return value;
}

/** Index of the first space or tab in `text`, or -1. */
function firstSpace(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9) return i;
  }
  return -1;
}

function allDigits(text: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return end > 0;
}

/**
 * The CPU sampling event a printed event name stands for ("cycles" for `cycles:ppp`, `cycles:u`,
 * `cpu_core/cycles/`, `cpu/cycles,period=1000/`), or undefined for any other event.
 */
export function cpuSampleEvent(printed: string): string | undefined {
  // most events in a big trace are tracepoints (`syscalls:...`, `block:...`): no sample event
  // starts with their letter and they name no PMU, so they go without a lookup
  const c = printed.charCodeAt(0);
  if (c !== 99 /* c */ && c !== 116 /* t */ && c !== 114 /* r */ && c !== 105 /* i */ && printed.indexOf("/") < 0) return undefined;
  if (CPU_SAMPLE_EVENTS.has(printed)) return printed;
  let base = printed;
  const slash = base.indexOf("/");
  if (slash >= 0) {
    // a PMU event: `pmu/event,term=value/` with optional modifiers after it
    const close = base.indexOf("/", slash + 1);
    base = base.slice(slash + 1, close < 0 ? undefined : close);
    const comma = base.indexOf(",");
    if (comma >= 0) base = base.slice(0, comma);
    if (base.startsWith("event=")) return undefined;
  }
  const colon = base.indexOf(":");
  if (colon >= 0) base = base.slice(0, colon);
  return CPU_SAMPLE_EVENTS.has(base) ? base : undefined;
}

function stackSymbol(line: string): string {
  const t = line.trim();
  const sp = t.indexOf(" ");
  return sp > 0 ? t.slice(sp + 1) : t;
}
