// `tracerpt trace.etl -of CSV` output (UTF-8, or UTF-16 with a byte-order mark: the line reader
// decodes both). The header names the fixed columns (`Event Name, Type, ..., PID, TID, ...,
// Clock-Time, Kernel(ms), User(ms), User Data`); every field past the last fixed column is the
// event's User Data, whose layout depends on the event. Clock-Time is a FILETIME (100 ns since
// 1601), so these traces carry wall time. File and disk fields are read at their positions in
// the kernel's MOF classes (FileIo_ReadWrite: IoSize 6th; FileIo_Create: OpenPath 7th;
// DiskIo_TypeGroup1: TransferSize 3rd); anything else is kept as raw fields.
import { categoryOf, type OpKind, type ParseItem } from "./trace-event.ts";
import { excerpt, type ParseState } from "./parse-state.ts";
import { parseIntField, splitCsv } from "./csv-line.ts";

const FILETIME_EPOCH_OFFSET_S = 11644473600;

const KINDS: Record<string, OpKind> = {
  "fileio read": "read", "fileio write": "write", "fileio create": "open", "fileio close": "close",
  "fileio cleanup": "close", "fileio queryinfo": "stat", "fileio direnum": "stat", "fileio setinfo": "stat",
  "fileio rename": "rename", "fileio delete": "unlink", "fileio flush": "fsync",
  "diskio read": "disk_read", "diskio write": "disk_write", "diskio flushbuffers": "fsync",
  "thread cswitch": "context_switch", "process start": "exec",
};

export function* parseTracerptCsv(lines: Iterable<string>, state: ParseState): Generator<ParseItem> {
  state.clock = "epoch";
  let columns: string[] | undefined;
  let lineNo = 0;
  for (const line of lines) {
    lineNo++;
    if (line.trim().length === 0) continue;
    const fields = splitCsv(line);
    if (!columns) {
      if (fields[0] !== "Event Name") {
        yield { bad: { line: lineNo, reason: "expected the tracerpt header line (Event Name, Type, ...)", text: excerpt(line) } };
        continue;
      }
      columns = fields;
      continue;
    }
    const at = (name: string) => {
      const i = columns!.indexOf(name);
      return i >= 0 ? fields[i] : undefined;
    };
    const fixed = columns.indexOf("User Data");
    const userData = fixed >= 0 ? fields.slice(fixed) : [];
    const clock = at("Clock-Time");
    const ticks = clock !== undefined && /^\d+$/.test(clock) ? BigInt(clock) : null;
    if (ticks === null) {
      yield { bad: { line: lineNo, reason: "Clock-Time is not a FILETIME number", text: excerpt(line) } };
      continue;
    }
    const ts = Number(ticks / 10n - BigInt(FILETIME_EPOCH_OFFSET_S) * 1_000_000n) / 1e6;
    const eventName = at("Event Name") ?? "";
    const type = at("Type") ?? "";
    const key = `${eventName} ${type}`.toLowerCase();
    const kind = KINDS[key] ?? "other";
    let bytes: number | null = null;
    let path: string | null = null;
    if (kind === "read" || kind === "write") bytes = parseIntField(userData[5]);
    else if (kind === "disk_read" || kind === "disk_write") bytes = parseIntField(userData[2]);
    if (kind === "open") path = userData[6] || null;
    else path = userData.find((v) => /^([A-Za-z]:\\|\\Device\\|\\\\)/.test(v)) ?? null;
    const record: Record<string, string> = {};
    for (let i = 0; i < Math.min(columns.length, fields.length); i++) if (i !== fixed) record[columns[i]!] = fields[i]!;
    if (userData.length > 0) record["User Data"] = userData.join(", ");
    yield {
      event: {
        ts, process: "", pid: parseIntField(at("PID")), tid: parseIntField(at("TID")),
        kind, category: categoryOf(kind, type), path, bytes, duration: null, result: null, failed: null,
        name: type ? `${eventName}/${type}` : eventName, fields: record, line: lineNo,
      },
    };
  }
}
