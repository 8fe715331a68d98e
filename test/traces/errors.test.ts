// Files that are not traces are refused with a clear error naming the file; unreadable lines in a
// real trace are counted with their line numbers and ingestion goes on.
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ingestTrace, readTrace, traceSummary, TraceError } from "../../traces/index.ts";
import { traceCommand } from "../../tui/trace-command.ts";
import { collect, fakeStream, fixture, withTempDir } from "./helpers.ts";

function refusal(path: string): TraceError {
  try {
    readTrace(path);
  } catch (e) {
    return e as TraceError;
  }
  throw new Error(`${path} was accepted`);
}

describe("not a trace", () => {
  test("random bytes, an empty file and plain text are refused, naming the file", () =>
    withTempDir((dir) => {
      const cases = {
        "random.bin": [randomBytes(4096), "TRACE_NOT_A_TRACE", /binary data, not a trace text/],
        "empty.txt": ["", "TRACE_EMPTY", /the file is empty/],
        "notes.txt": ["Dear diary,\nthe copy was slow today.\nNothing else happened.\n", "TRACE_NOT_A_TRACE", /not a trace this version can read/],
        "blank.txt": ["\n\n  \n", "TRACE_EMPTY", /only blank lines/],
      } as const;
      for (const [name, [content, code, message]] of Object.entries(cases)) {
        const path = join(dir, name);
        writeFileSync(path, content);
        const e = refusal(path);
        expect(e).toBeInstanceOf(TraceError);
        expect(e.code).toBe(code);
        expect(e.message).toContain(path);
        expect(e.message).toMatch(message);
      }
      expect(refusal(join(dir, "missing.txt")).code).toBe("TRACE_NOT_FOUND");
    }));

  test("the CLI exits 2 with the error on stderr and stores nothing", () =>
    withTempDir(async (dir) => {
      const path = join(dir, "random.bin");
      writeFileSync(path, randomBytes(1000));
      const [stdout, stderr] = [fakeStream(), fakeStream()];
      const code = await traceCommand(["ingest", path], { stdout, stderr, env: { BLIT_HOME: join(dir, "home") } });
      expect(code).toBe(2);
      expect(stderr.text()).toContain(`${path}: binary data`);
      const listed = fakeStream();
      await traceCommand(["list"], { stdout: listed, stderr, env: { BLIT_HOME: join(dir, "home") } });
      expect(listed.text()).toContain("no traces ingested yet");
    }));
});

describe("unreadable lines", () => {
  test("are counted and named with their line numbers; the rest is ingested (exit 1); the program's output is skipped, not unparsed", () =>
    withTempDir(async (dir) => {
      const path = join(dir, "mixed.strace");
      writeFileSync(path, [
        '100 12:00:00.000001 openat(AT_FDCWD, "/d/a", O_WRONLY|O_CREAT, 0644) = 3 <0.000010>',
        "100 12:00:00.000002 \u0001\u0002 garbage here",
        '100 12:00:00.000003 write(3, "abc", 3) = 3 <0.000005>',
        "this line is not strace at all",
        "100 12:00:00.000004 close(3) = 0 <0.000001>",
      ].join("\n") + "\n");
      const { events, bad, state } = collect(path);
      expect(events.map((e) => e.kind)).toEqual(["open", "write", "close"]);
      // line 4 has no pid and time as strace's lines here do: the traced program printed it
      expect(bad.map((b) => b.line)).toEqual([2]);
      expect(state.skipped).toEqual({ "not strace's (the traced program's own output)": 1 });
      const [stdout, stderr] = [fakeStream(), fakeStream()];
      const code = await traceCommand(["ingest", path], { stdout, stderr, env: { BLIT_HOME: join(dir, "home") } });
      expect(code).toBe(1);
      expect(stdout.text()).toContain("3 events, 1 unparsed lines, 1 line skipped (not strace's (the traced program's own output))");
      expect(stderr.text()).toContain(`${path}:2: not a system call`);
      expect(stderr.text()).not.toContain(`${path}:4: `);
    }));

  test("xperf 'Error:' lines between records are reported, the records kept", () =>
    withTempDir((dir) => {
      const path = join(dir, "x.txt");
      const lines = Bun.file(fixture("etw/xperf-dumper-oppat-excerpt.txt"));
      return lines.text().then((text) => {
        const withError = text.replace(" SysCallExit", "Error: Could not find the process for this event\n SysCallExit");
        writeFileSync(path, withError);
        const r = collect(path);
        expect(r.events.length).toBe(collect(fixture("etw/xperf-dumper-oppat-excerpt.txt")).events.length);
        expect(r.bad).toEqual([{ line: 13, reason: "xperf reported an error", text: "Error: Could not find the process for this event" }]);
      });
    }));
});

describe("tracerpt CSV", () => {
  // No public tracerpt sample exists; this one follows the documented header, in UTF-16 with a BOM.
  const header = "Event Name, Type, Event ID, Version, Channel, Level, Opcode, Task, Keyword, PID, TID, Processor Number, Instance ID, Parent Instance ID, Activity ID, Related Activity ID, Clock-Time, Kernel(ms), User(ms), User Data";
  const rows = [
    // FileIo_ReadWrite: Offset, IrpPtr, FileObject, FileKey, TTID, IoSize, IoFlags
    "FileIo, Write, 0, 2, 0, 0, 68, 0, 0x0, 0x00000F00, 0x00000A10, 1, , , {00000000-0000-0000-0000-000000000000}, , 133500000000000000, 0, 0, 0x0, 0xFFFF1, 0xFFFF2, 0xFFFF3, 2576, 65536, 0x0",
    "FileIo, Create, 0, 2, 0, 0, 64, 0, 0x0, 0x00000F00, 0x00000A10, 1, , , {00000000-0000-0000-0000-000000000000}, , 133500000000010000, 0, 0, 0xFFFF1, 0xFFFF3, 2576, 0x0, 0x80, 0x7, \"C:\\dst\\a, b.txt\"",
    "DiskIo, Read, 0, 2, 0, 0, 10, 0, 0x0, 0x00000BC8, 0x00000A10, 1, , , {00000000-0000-0000-0000-000000000000}, , 133500000000020000, 0, 0, 0, 0x60043, 4096, 0, 0x1000, 0xFFFF3, 0xFFFF4, 1234",
  ];
  test("UTF-16 with BOM: FILETIME to epoch seconds, the User Data tail by MOF position", () =>
    withTempDir((dir) => {
      const path = join(dir, "t.csv");
      const text = [header, ...rows].join("\r\n") + "\r\n";
      writeFileSync(path, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]));
      for (const chunkSize of [undefined, 7]) {
        const { format, events, bad } = collect(path, { chunkSize });
        expect(format).toBe("tracerpt");
        expect(bad).toEqual([]);
        expect(events.map((e) => [e.kind, e.pid, e.tid, e.bytes, e.path])).toEqual([
          ["write", 0xf00, 0xa10, 65536, null],
          ["open", 0xf00, 0xa10, null, "C:\\dst\\a, b.txt"],
          ["disk_read", 0xbc8, 0xa10, 4096, null],
        ]);
        expect(events[0]!.ts).toBeCloseTo(133500000000000000 / 1e7 - 11644473600, 3);
        expect(events[1]!.ts - events[0]!.ts).toBeCloseTo(0.001, 6);
      }
    }));
});

describe("an empty WPA export", () => {
  test("ingests as a trace with no events", () =>
    withTempDir(async (dir) => {
      const r = await ingestTrace(fixture("etw/wpaexporter-Disk_Usage_Utilization_by_Disk_Empty.csv"), { storePath: join(dir, "t.duckdb") });
      expect(r.events).toBe(0);
      expect(r.unparsedLines).toBe(0);
      expect(r.summary.byKind).toEqual([]);
      expect((await traceSummary(r.traceId, { path: join(dir, "t.duckdb") }))?.events).toBe(0);
    }));
});
