// `xperf -i trace.etl -o trace.txt -a dumper` text. Each event type's columns come from its own
// header line (`FileIoRead, TimeStamp, Process Name ( PID), ...`), found between BeginHeader and
// EndHeader or anywhere a line's second field is `TimeStamp`. Data lines are read by those columns;
// event types with no header line keep their fields by position (TimeStamp second, the process
// third, as xperf writes them). FileIo operations are joined to their FileIoOpEnd (same IrpPtr) to
// get their duration and status. `Error:` lines are counted as unparsed and reported.
//
// Units: xperf documents TimeStamp in milliseconds, but traces with microsecond stamps are common.
// Events are yielded assuming microseconds; when the trace states its length (a `Trace Length`
// line) and the stamps' span fits milliseconds instead, `state.rescale` says so and ingestion
// rescales the stored times.
import { categoryOf, type OpKind, type ParseItem, type TraceEvent } from "./trace-event.ts";
import { excerpt, type ParseState } from "./parse-state.ts";
import { parseIntField, splitCsv, splitProcess } from "./csv-line.ts";

const MAX_IN_FLIGHT = 100_000;
const FILEIO_KINDS: Record<string, OpKind> = {
  FileIoRead: "read", FileIoWrite: "write", FileIoCreate: "open", FileIoCreateNew: "open",
  FileIoClose: "close", FileIoCleanup: "close", FileIoQueryInfo: "stat", FileIoDirEnum: "stat",
  FileIoDirNotify: "stat", FileIoSetInfo: "stat", FileIoFSCTL: "other", FileIoRename: "rename",
  FileIoDelete: "unlink", FileIoFlush: "fsync",
  DiskRead: "disk_read", DiskWrite: "disk_write", DiskFlush: "fsync", CSwitch: "context_switch",
  "P-Start": "exec", "P-DCStart": "other",
};

export function* parseXperfDumper(lines: Iterable<string>, state: ParseState): Generator<ParseItem> {
  const headers = new Map<string, string[]>();
  const inFlight = new Map<string, TraceEvent>();
  let inHeader = false;
  let lineNo = 0;
  let traceLength: number | null = null;
  let minRaw = Infinity;
  let maxRaw = -Infinity;
  state.clock = "relative";
  for (const line of lines) {
    lineNo++;
    const t = line.trim();
    if (t.length === 0) continue;
    if (t === "BeginHeader") { inHeader = true; continue; }
    if (t === "EndHeader") { inHeader = false; continue; }
    if (t.startsWith("Error:") || t.startsWith("Error :")) {
      yield { bad: { line: lineNo, reason: "xperf reported an error", text: excerpt(t) } };
      continue;
    }
    const length = /^Trace\s*Length\s*[:,=]?\s*([\d.]+)\s*(ms|us|µs|s|sec|seconds)?/i.exec(t);
    if (length) {
      const unit = (length[2] ?? "s").toLowerCase();
      traceLength = +length[1]! * (unit === "ms" ? 1e-3 : unit === "us" || unit === "µs" ? 1e-6 : 1);
      state.notes.push(`trace length ${traceLength} s (stated)`);
      continue;
    }
    const fields = splitCsv(line);
    const type = fields[0]!;
    if (inHeader || fields[1] === "TimeStamp") {
      if (fields.length >= 2) headers.set(type, fields.slice(1));
      continue;
    }
    const raw = parseIntField(fields[1]) ?? Number(fields[1]);
    if (!/^[A-Za-z][\w\-/ ]*$/.test(type) || fields.length < 2 || !Number.isFinite(raw)) {
      yield { bad: { line: lineNo, reason: "not an xperf dumper event line (Type, TimeStamp, ...)", text: excerpt(t) } };
      continue;
    }
    if (raw < minRaw) minRaw = raw;
    if (raw > maxRaw) maxRaw = raw;
    const columns = headers.get(type);
    const record: Record<string, string> = {};
    if (columns) {
      for (let i = 0; i < columns.length; i++) {
        const name = columns[i]!;
        let value = fields[i + 1];
        // more fields than columns: the surplus belongs to the last column
        if (i === columns.length - 1 && fields.length > columns.length + 1) value = fields.slice(i + 1).join(", ");
        if (value !== undefined) record[name] = value;
      }
    } else {
      for (let i = 1; i < fields.length; i++) record[i === 1 ? "TimeStamp" : `field${i}`] = fields[i]!;
    }
    const event = toEvent(type, raw, record, columns !== undefined, lineNo);
    if (type.startsWith("FileIo") && type !== "FileIoOpEnd" && record.IrpPtr) {
      const held = inFlight.get(record.IrpPtr);
      inFlight.set(record.IrpPtr, event);
      if (held) yield { event: held };
      if (inFlight.size > MAX_IN_FLIGHT) {
        const [k, v] = inFlight.entries().next().value as [string, TraceEvent];
        inFlight.delete(k);
        yield { event: v };
      }
      continue;
    }
    if (type === "FileIoOpEnd") {
      const op = record.IrpPtr ? inFlight.get(record.IrpPtr) : undefined;
      const status = record.Status ?? null;
      const elapsed = parseIntField(record.ElapsedTime);
      if (op) {
        inFlight.delete(record.IrpPtr!);
        op.duration = elapsed === null ? null : elapsed * 1e-6;
        op.result = status;
        op.failed = ntFailed(status);
        if (op.bytes === null && (op.kind === "read" || op.kind === "write")) op.bytes = parseIntField(record.ExtraInfo);
        yield { event: op };
        continue;
      }
      // the operation began before the trace: the end alone, as the operation it ends
      const opType = record.Type ?? "";
      event.kind = FILEIO_KINDS[opType] ?? "other";
      event.category = categoryOf(event.kind, opType);
      event.duration = elapsed === null ? null : elapsed * 1e-6;
      event.result = status;
      event.failed = ntFailed(status);
      if (event.kind === "read" || event.kind === "write") event.bytes = parseIntField(record.ExtraInfo);
    }
    yield { event };
  }
  for (const e of inFlight.values()) yield { event: e };
  if (traceLength !== null && maxRaw > minRaw) {
    const span = maxRaw - minRaw;
    // which unit makes the stamps' span closest to the stated length
    const asMs = Math.abs(Math.log((span * 1e-3) / traceLength));
    const asUs = Math.abs(Math.log((span * 1e-6) / traceLength));
    if (asMs < asUs) {
      state.rescale = 1000;
      state.notes.push("TimeStamp is in milliseconds (checked against the stated trace length)");
    } else state.notes.push("TimeStamp is in microseconds (checked against the stated trace length)");
  } else state.notes.push("TimeStamp taken as microseconds (no trace length stated to check against)");
}

function ntFailed(status: string | null): boolean | null {
  const v = parseIntField(status ?? undefined);
  return v === null ? null : v >= 0x80000000;
}

function toEvent(type: string, raw: number, record: Record<string, string>, described: boolean, line: number): TraceEvent {
  const kind = FILEIO_KINDS[type] ?? "other";
  const procText = record["Process Name ( PID)"] ?? record["New Process Name ( PID)"] ?? (described ? undefined : record.field2);
  const { process, pid } = procText ? splitProcess(procText) : { process: "", pid: null };
  const tid = parseIntField(record.ThreadID ?? record["New TID"] ?? (described ? undefined : record.field3));
  let bytes: number | null = null;
  let duration: number | null = null;
  if (kind === "read" || kind === "write") bytes = parseIntField(record.Size ?? record.IoSize);
  if (kind === "disk_read" || kind === "disk_write") {
    bytes = parseIntField(record.IOSize ?? record.Size);
    const elapsed = parseIntField(record.ElapsedTime);
    duration = elapsed === null ? null : elapsed * 1e-6;
  }
  return {
    ts: raw * 1e-6,
    process,
    pid: procText && pid === null ? null : pid,
    tid,
    kind,
    category: categoryOf(kind, type),
    path: record.FileName || null,
    bytes,
    duration,
    result: null,
    failed: null,
    name: type,
    fields: record,
    line,
  };
}
