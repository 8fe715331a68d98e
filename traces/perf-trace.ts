// `perf trace` text: `  0.321 ( 0.014 ms): cat/17640 openat(dfd: CWD, filename: "/etc/x", flags: RDONLY) = 4`.
// Times are milliseconds since the trace started; the duration part may be missing or blank.
// A call perf interrupted ends in ` ...` and is finished later by `... [continued]: NAME()) = R`:
// the halves are joined. fd arguments decorated as `4</path>` give the path; otherwise the path an
// earlier open returned for that fd.
import { categoryOf, syscallKind, type ParseItem, type TraceEvent } from "./trace-event.ts";
import { excerpt, type ParseState } from "./parse-state.ts";
import { splitArgs, unquote } from "./strace-text.ts";

const LINE = /^\s*(\?|\d+(?:\.\d+)?)\s+(?:\(\s*(\d+(?:\.\d+)?)?\s*(?:ms)?\s*\):\s+)?(\S.*?)\/(\d+)\s+(.*)$/;

export function* parsePerfTrace(lines: Iterable<string>, state: ParseState): Generator<ParseItem> {
  state.clock = "relative";
  let lineNo = 0;
  let lastTs = 0;
  const pending = new Map<number, TraceEvent>();
  const fds = new Map<string, string>();
  for (const line of lines) {
    lineNo++;
    if (line.trim().length === 0) continue;
    const m = LINE.exec(line);
    if (!m) {
      yield { bad: { line: lineNo, reason: "not a perf trace line (TIME (DUR ms): COMM/TID CALL(...) = RESULT)", text: excerpt(line) } };
      continue;
    }
    const ts = m[1] === "?" ? lastTs : +m[1]! / 1000;
    lastTs = ts;
    const tid = +m[4]!;
    let rest = m[5]!.trim();
    const duration = m[2] !== undefined ? +m[2] / 1000 : null;
    let continued: TraceEvent | undefined;
    if (rest.startsWith("... [continued]: ")) {
      rest = rest.slice(17);
      continued = pending.get(tid);
    }
    const paren = rest.indexOf("(");
    const name = paren > 0 ? rest.slice(0, paren) : rest.split(/\s/)[0]!;
    if (continued && continued.name === name) pending.delete(tid);
    else continued = undefined;
    const eq = rest.lastIndexOf(" = ");
    const unfinished = eq < 0 && rest.endsWith(" ...");
    let args = paren > 0 ? rest.slice(paren + 1, eq >= 0 ? eq : unfinished ? -4 : undefined).trimEnd() : "";
    if (args.endsWith(")")) args = args.slice(0, -1);
    const result = eq >= 0 ? rest.slice(eq + 3).trim() : null;
    const kind = syscallKind(name);
    const event: TraceEvent = continued ?? {
      ts, process: m[3]!, pid: tid, tid, kind, category: categoryOf(kind, name), path: null, bytes: null,
      duration: null, result: null, failed: null, name, fields: { args }, line: lineNo,
    };
    if (continued) event.duration = duration ?? ts - continued.ts;
    else event.duration = duration;
    if (unfinished) {
      const held = pending.get(tid);
      if (held) yield { event: held };
      pending.set(tid, event);
      continue;
    }
    if (eq < 0 && !continued && paren < 0) {
      // a non-syscall event line (e.g. a page fault or tracepoint): keep it as it stands
      event.kind = "other";
      event.category = "other";
      event.fields = { text: rest };
      yield { event };
      continue;
    }
    if (result !== null) {
      const value = parseInt(result, result.startsWith("0x") ? 16 : 10);
      event.result = result.replace(/ \(.*\)$/, "");
      event.failed = value < 0;
      if (event.path === null) event.path = pathOf(event.fields.args ?? "", tid, fds);
      if (!event.failed && (event.kind === "read" || event.kind === "write")) event.bytes = value;
      if (!event.failed && event.kind === "open" && event.path) fds.set(`${tid} ${value}`, event.path);
      if (!event.failed && event.kind === "close") fds.delete(`${tid} ${fdNumber(event.fields.args ?? "")}`);
    }
    yield { event };
  }
  for (const e of pending.values()) yield { event: e };
}

function fdNumber(args: string): string {
  return /fd: (\d+)/.exec(args)?.[1] ?? "";
}

/** `filename: "/x"` / `pathname: "/x"` / `newname: "/x"`, else `fd: 4</x>`, else the open that made fd 4. */
function pathOf(args: string, tid: number, fds: Map<string, string>): string | null {
  let fallback: string | null = null;
  for (const part of splitArgs(args)) {
    const colon = part.indexOf(": ");
    if (colon < 0) continue;
    const key = part.slice(0, colon);
    const value = part.slice(colon + 2);
    if ((key === "filename" || key === "pathname" || key === "newname") && value.startsWith('"')) return unquote(value, 0);
    if ((key === "fd" || key === "out_fd" || key === "fd_out" || key === "dfd") && fallback === null) {
      const d = /^(\d+)<(.*)>$/.exec(value);
      if (d) fallback = d[2]!;
      else if (/^\d+$/.test(value) && key !== "dfd") fallback = fds.get(`${tid} ${value}`) ?? null;
    }
  }
  return fallback;
}
