// strace output: `-f` (pid prefix or [pid N]), `-t`/`-tt` (time of day), `-ttt` (epoch seconds),
// `-r` (seconds since the previous line), `-T` (<seconds> at the end), `-y`/`-yy` (fd paths,
// sockets, devices), `-k` (each call's stack, its first 8 frames kept in fields.stack).
// A call split into `<unfinished ...>` and `<... NAME resumed>` halves becomes one event at the
// time of its first half. Signals (`--- SIGCHLD ... ---`) and exits (`+++ exited with 0 +++`) are
// kept as events of kind "other". File descriptors are followed through open/dup/close so reads
// and writes carry the path they touched.
import { basename } from "node:path";
import { categoryOf, syscallKind, type OpKind, type ParseItem, type TraceEvent } from "./trace-event.ts";
import { excerpt, skip, type ParseState } from "./parse-state.ts";

const PREFIX = /^\s*(?:\[pid\s+(\d+)\]\s*|(\d+)\s+)?(?:(\d\d):(\d\d):(\d\d(?:\.\d+)?)|(\d+\.\d+))?\s*/y;
const NAME = /^[A-Za-z_][\w]*$/;
const STRACE_FRACTION = /\.(\d{6}|\d{9})$/;

interface Pending {
  name: string;
  args: string;
  ts: number;
  line: number;
  /** The line as read, for the report when it never gets its result. */
  text?: string;
}

const PROGRAM_OUTPUT = "not strace's (the traced program's own output)";
const STACK_FRAMES = "strace -k stack frames beyond a call's first 8, or under no call (not kept)";
/** -k frames kept per call, leaf first, in fields.stack (as perf script's). */
const MAX_FRAMES = 8;

/** A -k frame `/lib/x.so(func+0x1) [0x1f]` as perf prints frames: `func+0x1 (/lib/x.so)`. */
function frameSymbol(text: string): string {
  const at = text.lastIndexOf(" [0x");
  const body = at > 0 ? text.slice(0, at) : text;
  const open = body.indexOf("(");
  if (open <= 0 || !body.endsWith(")")) return body;
  const fn = body.slice(open + 1, -1);
  return `${fn || (at > 0 ? text.slice(at + 1) : "?")} (${body.slice(0, open)})`;
}

/** Whether `rest` starts like a call: `name(`. */
function startsWithCall(rest: string): boolean {
  const paren = rest.indexOf("(");
  return paren > 0 && NAME.test(rest.slice(0, paren));
}

/** Whether `rest` (a line after its pid and time) is one strace prints: a call, its resumption, a signal, an exit, a note. */
function straceLine(rest: string): boolean {
  return startsWithCall(rest) || rest.startsWith("<... ") || rest.startsWith("--- ") || rest.startsWith("+++ ") ||
    rest.startsWith("<unfinished ...>") || rest.startsWith("<detached") || rest.startsWith("strace: ");
}

/** File-descriptor tables, per thread group, with a trace-wide fallback for unknown groups. */
class FdTables {
  private readonly byGroup = new Map<number, Map<number, string>>();
  /** Last path seen for an fd number in any process: used when threads were not traced. */
  private readonly anyGroup = new Map<number, string>();
  private readonly groupOf = new Map<number, number>();

  group(tid: number): number {
    return this.groupOf.get(tid) ?? tid;
  }
  joinGroup(child: number, parentTid: number, sameGroup: boolean): void {
    const parent = this.group(parentTid);
    if (sameGroup) this.groupOf.set(child, parent);
    else {
      // fork: a copy of the parent's table
      const table = this.byGroup.get(parent);
      if (table) this.byGroup.set(child, new Map(table));
    }
  }
  get(tid: number, fd: number): string | null {
    return this.byGroup.get(this.group(tid))?.get(fd) ?? this.anyGroup.get(fd) ?? null;
  }
  set(tid: number, fd: number, path: string): void {
    const g = this.group(tid);
    let table = this.byGroup.get(g);
    if (!table) this.byGroup.set(g, (table = new Map()));
    table.set(fd, path);
    this.anyGroup.set(fd, path);
  }
  delete(tid: number, fd: number): void {
    this.byGroup.get(this.group(tid))?.delete(fd);
    this.anyGroup.delete(fd);
  }
}

export function* parseStrace(lines: Iterable<string>, state: ParseState): Generator<ParseItem> {
  const pending = new Map<number, Pending>();
  const fds = new FdTables();
  const names = new Map<number, string>();
  let lineNo = 0;
  let relative = 0;
  let day = 0;
  let lastTod = -1;
  let anyTime = false;
  // strace's own lines all carry a timestamp (-t, -tt, -ttt, -r) or a pid column (-f -o) once one
  // does, and none does when the first call had none: a line that differs is the traced program's
  // output, interleaved when both wrote to one stream
  let timed = false;
  let pidColumn = false;
  let anyCall = false;
  // a call line the program's output broke in two (`write(1, "hi\n", 3hi` then `) = 3`)
  let cut: (Pending & { tid: number; text: string }) | undefined;
  // each event waits for the next line before it goes: -k prints the call's stack after it
  let held: TraceEvent | undefined;
  let heldFrames = 0;
  const hold = (e: TraceEvent): TraceEvent | undefined => {
    const previous = held;
    held = e;
    heldFrames = 0;
    return previous;
  };
  /** A -k frame (`/lib/x.so(func+0x1) [0x...]`) onto the held call's stack; false when not kept. */
  const addFrame = (text: string): boolean => {
    if (!held || heldFrames >= MAX_FRAMES) return false;
    const frame = frameSymbol(text);
    held.fields.stack = heldFrames === 0 ? frame : held.fields.stack + " <- " + frame;
    heldFrames++;
    return true;
  };
  const notStrace = (hasTime: boolean, hasPidColumn: boolean) =>
    (timed ? !hasTime : anyCall && hasTime) || (pidColumn ? !hasPidColumn : anyCall && hasPidColumn);
  for (const raw of lines) {
    lineNo++;
    if (raw.length === 0) continue;
    if (raw.charCodeAt(0) === 32 && raw.charCodeAt(1) === 62 /* > */ && raw.charCodeAt(2) === 32) {
      if (!addFrame(raw.slice(3))) skip(state, STACK_FRAMES); // -k: a stack frame of the call above
      continue;
    }
    let rest: string;
    let tid: number;
    let ts = 0;
    let m: RegExpExecArray | undefined;
    let hasTime: boolean;
    let hasPidColumn: boolean;
    const fast = fastPrefix(raw);
    if (fast > 0) {
      rest = raw.slice(fast);
      tid = fastTid;
      hasTime = hasPidColumn = true;
    } else {
      PREFIX.lastIndex = 0;
      m = PREFIX.exec(raw)!;
      rest = raw.slice(PREFIX.lastIndex);
      // strace prints -r and -ttt times with 6 fraction digits (9 with --timestamps=ns): a line
      // that starts with another number ("3.14 seconds left") is the program's, whatever follows
      if (m[6] !== undefined && !STRACE_FRACTION.test(m[6]) && !startsWithCall(rest)) {
        skip(state, PROGRAM_OUTPUT);
        continue;
      }
      hasTime = m[3] !== undefined || m[6] !== undefined;
      hasPidColumn = m[2] !== undefined;
      if (rest.length === 0) {
        if (raw.trim().length > 0) {
          if (notStrace(hasTime, hasPidColumn)) skip(state, PROGRAM_OUTPUT);
          else yield bad(lineNo, "a pid or timestamp with no call after it", raw);
        }
        continue;
      }
      tid = m[1] !== undefined ? +m[1] : m[2] !== undefined ? +m[2] : 0;
    }
    // (a pid column where the trace has none is judged below, once the line is no call: forms may mix)
    const foreign = (timed ? !hasTime : anyCall && hasTime) || (pidColumn && !hasPidColumn);
    if (cut) {
      // the rest of a broken call line: `) = 3 <0.000010>` after the program's output, or
      // ` <unfinished ...>` when another process's call came first
      const close = rest.lastIndexOf(") = ");
      if (close >= 0 && (foreign || !startsWithCall(rest))) {
        // `, child_tidptr=...) = 77` after strace's own note is strace's whole; `hi) = 3` is the program's up to ") = "
        const tail = rest.charCodeAt(0) === 44 /* , */ || rest.charCodeAt(0) === 41 /* ) */ ? rest : rest.slice(close);
        const event = callEvent(cut.ts, cut.tid, cut.name, cut.args + tail, cut.line, names, fds);
        cut = undefined;
        const previous = event ? hold(event) : undefined;
        if (previous) yield { event: previous };
        continue;
      }
      if (rest.startsWith("<unfinished ...>")) {
        pending.set(cut.tid, cut);
        cut = undefined;
        continue;
      }
      if (foreign) {
        skip(state, PROGRAM_OUTPUT);
        continue;
      }
      yield bad(cut.line, `'${cut.name}' has no ' = result'`, cut.text);
      cut = undefined;
    }
    const c0 = rest.charCodeAt(0);
    // strace's own notes; a lone ` <unfinished ...>` ends a call line the program's output broke
    if (rest.startsWith("strace: ") || (c0 === 60 /* < */ && (rest.startsWith("<detached") || rest.startsWith("<unfinished ...>")))) continue;
    if (foreign) {
      skip(state, PROGRAM_OUTPUT);
      continue;
    }
    if (fast > 0 || m![3] !== undefined) {
      if (state.clock === "unknown") state.clock = "time-of-day";
      const tod = fast > 0 ? fastHours * 3600 + fastMinutes * 60 + +raw.slice(fastSeconds, fastSecondsEnd) : +m![3]! * 3600 + +m![4]! * 60 + +m![5]!;
      // -tt has no date: a jump back of more than 12 hours is the next day
      if (lastTod >= 0 && tod < lastTod - 43200) day++;
      lastTod = tod;
      ts = day * 86400 + tod;
      anyTime = true;
    } else if (m![6] !== undefined) {
      const v = +m![6];
      if (state.clock === "unknown") state.clock = v >= 1e8 ? "epoch" : "relative";
      // -r: a delta from strace's previous line. Program output that starts like one ("3.14
      // seconds left") is no strace line and must not move the clock of the calls after it.
      if (state.clock === "relative") ts = straceLine(rest) ? (relative += v) : relative + v;
      else ts = v;
      anyTime = true;
    } else if (anyTime) {
      ts = state.clock === "relative" ? relative : lastTod >= 0 ? day * 86400 + lastTod : 0;
    }
    if (c0 === 43 /* + */ && rest.startsWith("+++ ")) {
      const body = rest.slice(4, rest.lastIndexOf(" +++") > 0 ? rest.lastIndexOf(" +++") : undefined);
      const exited = /^exited with (-?\d+)/.exec(body);
      const killed = /^killed by (SIG\w+)/.exec(body);
      const previous = hold(makeEvent(ts, tid, names, fds, "exit", "other", null,
        exited ? exited[1]! : killed ? killed[1]! : body,
        exited ? exited[1] !== "0" : killed ? true : null,
        { status: body }, lineNo));
      if (previous) yield { event: previous };
      continue;
    }
    if (c0 === 45 /* - */ && rest.startsWith("--- ")) {
      const sp = rest.indexOf(" ", 4);
      const signal = rest.slice(4, sp > 0 ? sp : undefined);
      const info = sp > 0 ? rest.slice(sp + 1).replace(/ ---$/, "") : "";
      const previous = hold(makeEvent(ts, tid, names, fds, signal, "other", null, null, null, { signal, info }, lineNo));
      if (previous) yield { event: previous };
      continue;
    }
    if (c0 === 62 /* > */ && rest.startsWith("> ")) {
      if (!addFrame(rest.slice(2))) skip(state, STACK_FRAMES);
      continue;
    }
    let startLine = lineNo;
    let name: string;
    let body: string; // args, ") = result", " <dur>"
    if (c0 === 60 /* < */ && rest.startsWith("<... ")) {
      const end = rest.indexOf(" resumed>");
      if (end < 0) {
        yield bad(lineNo, "a '<... ' line with no 'resumed>'", raw);
        continue;
      }
      name = rest.slice(5, end);
      body = rest.slice(end + 9);
      let first = pending.get(tid);
      if (!first && tid === 0) {
        // strace -f on a terminal drops the [pid N] prefix once one process is left: that one's call
        for (const [other, p] of pending) {
          if (p.name === name) {
            first = p;
            tid = other;
            break;
          }
        }
      }
      if (first && first.name === name) {
        pending.delete(tid);
        body = first.args + (first.args && body && !body.startsWith(")") && !body.startsWith(",") ? ", " : "") + body;
        ts = first.ts;
        startLine = first.line;
      }
    } else {
      const paren = rest.indexOf("(");
      name = paren > 0 ? rest.slice(0, paren) : "";
      if (!NAME.test(name)) {
        // with no pid or time to tell, a line that is no call is taken for the program's output
        const strangePid = hasPidColumn && !pidColumn && anyCall;
        if (!strangePid && (hasTime || m?.[1] !== undefined || hasPidColumn)) yield bad(lineNo, "not a system call, signal or exit line", raw);
        else skip(state, PROGRAM_OUTPUT);
        continue;
      }
      body = rest.slice(paren + 1);
      const detach = body.indexOf("strace: Process ");
      if (body.endsWith("<unfinished ...>")) {
        pending.set(tid, { name, args: body.slice(0, -16).trimEnd(), ts, line: lineNo });
        continue;
      }
      if (detach >= 0 && body.endsWith(" attached")) {
        // strace's note on a child it now follows broke the call line (clone, fork): the rest follows
        cut = { name, args: body.slice(0, detach), ts, line: lineNo, tid, text: raw };
        continue;
      }
      if (detach >= 0) {
        // strace let go of the process while this call was running: the call has no result
        const cut = callEvent(ts, tid, name, body.slice(0, detach) + ") = ?", lineNo, names, fds);
        const previous = cut ? hold(cut) : undefined;
        if (previous) yield { event: previous };
        continue;
      }
    }
    if (hasTime) timed = true;
    if (hasPidColumn) pidColumn = true;
    anyCall = true;
    const event = callEvent(ts, tid, name, body, startLine, names, fds);
    if (event) {
      const previous = hold(event);
      if (previous) yield { event: previous };
    }
    // a call with no result yet: the program's output may have broken the line; the next lines tell
    else if (c0 !== 60) cut = { name, args: body, ts, line: lineNo, tid, text: raw };
    else yield bad(lineNo, `'${name}' has no ' = result'`, raw);
  }
  if (held) yield { event: held };
  if (cut) yield bad(cut.line, `'${cut.name}' has no ' = result'`, cut.text);
  for (const [tid, p] of pending) {
    // never resumed: the process ended or strace detached inside the call
    const event = callEvent(p.ts, tid, p.name, p.args + ") = ?", p.line, names, fds);
    if (event) yield { event };
  }
}

let fastTid = 0;
let fastHours = 0;
let fastMinutes = 0;
let fastSeconds = 0;
let fastSecondsEnd = 0;

/**
 * The common prefix `PID HH:MM:SS[.ffffff] ` (strace -f -tt) read without the regex: the index of
 * the call after it, with the fields in the fast* variables, or -1 for any other shape (the regex
 * then reads it, to the same result).
 */
function fastPrefix(raw: string): number {
  let i = 0;
  let tid = 0;
  for (; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 48 || c > 57) break;
    tid = tid * 10 + (c - 48);
  }
  if (i === 0 || i > 9 || raw.charCodeAt(i) !== 32) return -1;
  while (raw.charCodeAt(i) === 32) i++;
  const t = i;
  if (!(digit(raw, t) && digit(raw, t + 1) && raw.charCodeAt(t + 2) === 58 && digit(raw, t + 3) && digit(raw, t + 4) &&
    raw.charCodeAt(t + 5) === 58 && digit(raw, t + 6) && digit(raw, t + 7))) return -1;
  i = t + 8;
  if (raw.charCodeAt(i) === 46 && digit(raw, i + 1)) {
    i += 2;
    while (digit(raw, i)) i++;
  }
  const end = i;
  if (raw.charCodeAt(i) !== 32) return -1;
  while (raw.charCodeAt(i) === 32) i++;
  // a call starts here; anything that \s would also skip goes the slow way
  const c = raw.charCodeAt(i);
  if (!(c > 32 && c < 127)) return -1;
  fastTid = tid;
  fastHours = (raw.charCodeAt(t) - 48) * 10 + (raw.charCodeAt(t + 1) - 48);
  fastMinutes = (raw.charCodeAt(t + 3) - 48) * 10 + (raw.charCodeAt(t + 4) - 48);
  fastSeconds = t + 6;
  fastSecondsEnd = end;
  return i;
}

function digit(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 48 && c <= 57;
}

function bad(line: number, reason: string, text: string): ParseItem {
  return { bad: { line, reason, text: excerpt(text) } };
}

function makeEvent(
  ts: number, tid: number, names: Map<number, string>, fds: FdTables, name: string, kind: OpKind,
  duration: number | null, result: string | null, failed: boolean | null, fields: Record<string, string>, line: number,
): TraceEvent {
  const pid = tid === 0 ? null : fds.group(tid);
  // every field written out, in one shape: a spread of the differences cost more than the parse
  return {
    ts,
    process: pid === null ? "" : (names.get(pid) ?? ""),
    pid,
    tid: tid === 0 ? null : tid,
    kind,
    category: categoryOf(kind, name),
    path: null,
    bytes: null,
    duration,
    result,
    failed,
    name,
    fields,
    line,
  };
}

/** One complete call: `args) = result <dur>` after `name(`. Undefined when there is no result. */
function callEvent(
  ts: number, tid: number, name: string, body: string, line: number, names: Map<number, string>, fds: FdTables,
): TraceEvent | undefined {
  let duration: number | null = null;
  let text = body;
  if (text.endsWith(">")) {
    const lt = text.lastIndexOf(" <");
    if (lt > 0) {
      const d = Number(text.slice(lt + 2, -1));
      if (!Number.isNaN(d)) {
        duration = d;
        text = text.slice(0, lt);
      }
    }
  }
  const eq = text.lastIndexOf(" = ");
  if (eq < 0) return undefined;
  let result = text.slice(eq + 3).trim();
  let args = text.slice(0, eq).trimEnd();
  if (args.endsWith(")")) args = args.slice(0, -1);
  // -y decorates returned fds: "3</tmp/x>"
  let resultPath: string | null = null;
  const lt = result.indexOf("<");
  if (lt > 0 && result.endsWith(">") && /^\d+$/.test(result.slice(0, lt))) {
    resultPath = decoratedPath(result.slice(lt + 1, -1));
    result = result.slice(0, lt);
  }
  const value = parseInt(result, result.startsWith("0x") ? 16 : 10);
  const failed = result === "?" ? null : value === -1 && / E[A-Z0-9]+/.test(result);
  if (failed) {
    const paren = result.indexOf(" (");
    if (paren > 0) result = result.slice(0, paren);
  }
  const kind = syscallKind(name);
  const event = makeEvent(ts, tid, names, fds, name, kind, duration, result, failed, { args }, line);
  const ok = failed === false && !Number.isNaN(value);
  switch (kind) {
    case "read":
    case "write": {
      const outArg = name === "copy_file_range" || name === "splice" ? 2 : 0;
      const parts = outArg === 0 ? [args] : splitArgs(args);
      event.path = fdPath(parts[outArg] ?? "", tid, fds);
      if (outArg !== 0 || name.startsWith("sendfile")) {
        const src = fdPath((outArg === 0 ? splitArgs(args)[1] : parts[0]) ?? "", tid, fds);
        if (src) event.fields.source = src;
      }
      if (ok && value >= 0) event.bytes = value;
      break;
    }
    case "open": {
      const parts = splitArgs(args);
      const at = name === "openat" || name === "openat2" || name === "open_by_handle_at";
      let p = resolveAt(at ? parts[0] : undefined, parts[at ? 1 : 0], tid, fds);
      if (p !== null && p.endsWith("/.")) p = p.slice(0, -2) || "/";
      // an anonymous file (O_TMPFILE) gets a name of its own until linkat gives it its real one
      if (p !== null && args.includes("O_TMPFILE")) p = `${p.endsWith("/") ? p : p + "/"}<tmpfile ${++tmpfiles.n}>`;
      event.path = p ?? resultPath;
      if (ok && value >= 0 && event.path) fds.set(tid, value, event.path);
      break;
    }
    case "close":
      event.path = fdPath(args, tid, fds);
      if (ok) fds.delete(tid, leadingInt(args));
      break;
    case "rename": {
      const parts = splitArgs(args);
      const at = name !== "rename";
      const from = resolveAt(at ? parts[0] : undefined, parts[at ? 1 : 0], tid, fds);
      const to = resolveAt(at ? parts[2] : undefined, parts[at ? 3 : 1], tid, fds);
      event.path = to;
      if (from) event.fields.from = from;
      break;
    }
    case "other":
      if (name === "linkat") {
        // linkat(fd, "", dirfd, "name", AT_EMPTY_PATH) names an anonymous file: a rename for our purposes
        const parts = splitArgs(args);
        const proc = /^"\/proc\/(?:self|\d+)\/fd\/(\d+)"$/.exec(parts[1] ?? "");
        if (parts[1] === '""' || proc) {
          const fdArg = proc ? proc[1]! : parts[0] ?? "";
          const from = fdPath(fdArg, tid, fds);
          const to = resolveAt(parts[2], parts[3], tid, fds);
          event.kind = "rename";
          event.category = "metadata";
          event.path = to;
          if (from) event.fields.from = from;
          if (ok && to) fds.set(tid, leadingInt(fdArg), to);
          break;
        }
      }
      otherCall(event, name, args, value, ok, tid, fds, names);
      break;
    case "exec": {
      const parts = splitArgs(args);
      const at = name === "execveat";
      event.path = resolveAt(at ? parts[0] : undefined, parts[at ? 1 : 0], tid, fds);
      if (ok && event.path && tid !== 0) {
        names.set(fds.group(tid), basename(event.path));
        event.process = basename(event.path);
      }
      break;
    }
    default:
      otherCall(event, name, args, value, ok, tid, fds, names);
  }
  return event;
}

const tmpfiles = { n: 0 };

/** Calls without a kind of their own: the path they name, and what they do to fds and processes. */
function otherCall(
  event: TraceEvent, name: string, args: string, value: number, ok: boolean, tid: number, fds: FdTables, names: Map<number, string>,
): void {
  {
      event.path = pathOfOther(name, args, tid, fds);
      if (ok && value > 0 && tid !== 0 && /^(clone|clone3|fork|vfork)$/.test(name)) {
        const thread = name.startsWith("clone") && args.includes("CLONE_THREAD");
        fds.joinGroup(value, tid, thread);
        const parentName = names.get(fds.group(tid));
        if (!thread && parentName) names.set(value, parentName);
      } else if (ok && value >= 0 && /^(dup|dup2|dup3)$/.test(name)) {
        const from = fdPath(args, tid, fds);
        if (from) fds.set(tid, value, from);
      } else if (ok && value >= 0 && name === "fcntl" && /F_DUPFD/.test(args)) {
        const from = fdPath(args, tid, fds);
        if (from) fds.set(tid, value, from);
      }
  }
}

/** The path a call other than open/read/write/close/rename/exec names, if any. */
function pathOfOther(name: string, args: string, tid: number, fds: FdTables): string | null {
  const c = args.charCodeAt(0);
  if (c === 34 /* " */) return unquote(args, 0);
  if (c >= 48 && c <= 57) {
    // fd first: either an fd call (fstat, fsync, ...) or a dirfd with a relative name (*at)
    const parts = name.endsWith("at") || name === "statx" || name === "faccessat2" ? splitArgs(args) : undefined;
    if (parts && parts[1]?.startsWith('"')) return resolveAt(parts[0], parts[1], tid, fds);
    return fdPath(args, tid, fds);
  }
  if (args.startsWith("AT_FDCWD")) {
    const parts = splitArgs(args);
    return resolveAt(parts[0], parts[1], tid, fds);
  }
  return null;
}

function leadingInt(text: string): number {
  let v = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  return i === 0 ? -1 : v;
}

/**
 * The path behind an fd argument: "3</x/y>" (strace -y), "3</dev/pts/0<char 136:0>>" and
 * "3<TCP:[127.0.0.1:22->127.0.0.1:5000]>" (-yy), or "3" looked up in the fd tables.
 */
function fdPath(arg: string, tid: number, fds: FdTables): string | null {
  const fd = leadingInt(arg);
  if (fd < 0) return null;
  let digits = 1;
  while (digits < arg.length && arg.charCodeAt(digits) >= 48 && arg.charCodeAt(digits) <= 57) digits++;
  if (arg.charCodeAt(digits) === 60 /* < */) {
    const end = decorationEnd(arg, digits);
    if (end > 0) return decoratedPath(arg.slice(digits + 1, end));
  }
  return fds.get(tid, fd);
}

/**
 * The index of the '>' closing the -y/-yy decoration that opens at `open` (a '<'): decorations nest
 * (`<char 136:0>` after a device's path) and a socket's `->` is no close; -1 when unclosed.
 */
function decorationEnd(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 60) depth++;
    else if (c === 62 && text.charCodeAt(i - 1) !== 45 /* - */ && --depth === 0) return i;
  }
  return -1;
}

/** A -y/-yy decoration's path: a device's `<char M:m>` / `<block M:m>` suffix dropped. */
function decoratedPath(inner: string): string {
  if (inner.endsWith(">")) {
    const lt = inner.lastIndexOf("<");
    if (lt > 0 && (inner.startsWith("char ", lt + 1) || inner.startsWith("block ", lt + 1))) return inner.slice(0, lt);
  }
  return inner;
}

/** A path argument relative to a dirfd argument (AT_FDCWD, "5", "5</dir>"). */
function resolveAt(dirArg: string | undefined, pathArg: string | undefined, tid: number, fds: FdTables): string | null {
  if (pathArg === undefined || !pathArg.startsWith('"')) return null;
  const rel = unquote(pathArg, 0);
  if (rel === null) return null;
  if (dirArg === undefined || rel.startsWith("/")) return rel;
  const dir = dirArg.startsWith("AT_FDCWD") ? cwdOf(dirArg) : fdPath(dirArg, tid, fds);
  if (!dir) return rel;
  if (rel === "") return dir; // AT_EMPTY_PATH
  return dir.endsWith("/") ? dir + rel : dir + "/" + rel;
}

/** The working directory newer strace -y prints after AT_FDCWD (`AT_FDCWD</home/u>`), or null. */
function cwdOf(dirArg: string): string | null {
  if (dirArg.charCodeAt(8) !== 60 /* < */) return null;
  const end = decorationEnd(dirArg, 8);
  return end > 0 ? decoratedPath(dirArg.slice(9, end)) : null;
}

/** Top-level comma-separated arguments; quotes, brackets, braces and -y decorations kept whole. */
export function splitArgs(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  let inString = false;
  for (let i = 0; i < args.length; i++) {
    const c = args.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 40 || c === 91 || c === 123) depth++; // ( [ {
    else if (c === 41 || c === 93 || c === 125) depth--;
    else if (c === 60 /* < */ && i > 0 && ((args.charCodeAt(i - 1) >= 48 && args.charCodeAt(i - 1) <= 57) || args.charCodeAt(i - 1) === 68 /* AT_FDCWD<cwd> */)) {
      const end = decorationEnd(args, i);
      if (end > 0) i = end;
    } else if (c === 44 /* , */ && depth === 0) {
      out.push(args.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(args.slice(start).trim());
  return out;
}

/** A C-escaped strace string starting at `from` (the opening quote), decoded as UTF-8. */
export function unquote(text: string, from: number): string | null {
  if (text.charCodeAt(from) !== 34) return null;
  const close = findClose(text, from + 1);
  const inner = text.slice(from + 1, close);
  if (!inner.includes("\\")) return inner;
  const bytes: number[] = [];
  for (let i = 0; i < inner.length; i++) {
    const c = inner.charCodeAt(i);
    if (c !== 92) {
      if (c < 128) bytes.push(c);
      else for (const b of new TextEncoder().encode(inner[i]!)) bytes.push(b);
      continue;
    }
    const n = inner[++i];
    switch (n) {
      case "n": bytes.push(10); break;
      case "t": bytes.push(9); break;
      case "r": bytes.push(13); break;
      case "v": bytes.push(11); break;
      case "f": bytes.push(12); break;
      case "x": {
        bytes.push(parseInt(inner.slice(i + 1, i + 3), 16));
        i += 2;
        break;
      }
      default:
        if (n !== undefined && n >= "0" && n <= "7") {
          let j = i;
          while (j < i + 3 && inner[j]! >= "0" && inner[j]! <= "7") j++;
          bytes.push(parseInt(inner.slice(i, j), 8));
          i = j - 1;
        } else if (n !== undefined) bytes.push(n.charCodeAt(0));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function findClose(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 34) return i;
  }
  return text.length;
}
