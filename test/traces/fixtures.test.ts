// Every public sample parses, with counts checked against what this test counts in the raw file,
// and tiny read chunks give the very same events.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { collect, FIXTURES, fixture, rawLines } from "./helpers.ts";

const ALL = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => readdirSync(join(FIXTURES, d.name)).map((f) => `${d.name}/${String(f)}`));

const EXPECTED_FORMAT: Record<string, string> = { etw: "", "perf-script": "perf-script", strace: "strace" };

describe("every fixture", () => {
  test("there are fixtures to read", () => {
    expect(ALL.length).toBeGreaterThanOrEqual(16);
  });
  for (const rel of ALL) {
    test(`${rel} parses with no unreadable lines, and the same with 7- and 64-byte chunks`, () => {
      const whole = collect(fixture(rel));
      const expected = EXPECTED_FORMAT[rel.split("/")[0]!];
      if (expected) expect(String(whole.format)).toBe(expected);
      expect(whole.bad).toEqual([]);
      for (const chunkSize of [7, 64]) {
        const chunked = collect(fixture(rel), { chunkSize });
        expect(chunked.events).toEqual(whole.events);
        expect(chunked.bad).toEqual(whole.bad);
      }
    });
  }
});

describe("strace -r -T", () => {
  test("ls: one event per call line, with relative times summed and -T durations", () => {
    const path = fixture("strace/perfview-ls-r-T.strace");
    const calls = rawLines(path).filter((l) => /^\s*\d+\.\d+ (\w+\(|\+\+\+)/.test(l));
    const { events, state } = collect(path);
    expect(state.clock).toBe("relative");
    expect(events.length).toBe(calls.length);
    const deltas = calls.map((l) => Number(/^\s*(\d+\.\d+)/.exec(l)![1]));
    expect(events.at(-1)!.ts).toBeCloseTo(deltas.reduce((a, b) => a + b, 0), 6);
    const opens = events.filter((e) => e.kind === "open");
    expect(opens.length).toBe(calls.filter((l) => /\d (open|openat)\(/.test(l)).length);
    expect(opens[0]).toMatchObject({ path: "/etc/ld.so.cache", result: "3", duration: 0.000382 });
    // reads on fd 3 carry the path the preceding openat returned
    const read = events.find((e) => e.kind === "read")!;
    expect(read.path).toBe("/lib/x86_64-linux-gnu/libselinux.so.1");
    expect(read.bytes).toBe(832);
    expect(events.find((e) => e.name === "access")).toMatchObject({ failed: true, result: "-1 ENOENT" });
    expect(events.at(-1)).toMatchObject({ name: "exit", result: "0", failed: false });
  });

  test("perf: 'Process N attached', '<detached ...>' and a call cut by the detach", () => {
    const path = fixture("strace/perfview-perf-r-T.strace");
    const lines = rawLines(path).filter((l) => l.trim() !== "");
    const notes = lines.filter((l) => l.startsWith("strace: ") || l.trim() === "<detached ...>");
    const { events } = collect(path);
    expect(notes.length).toBe(2);
    expect(events.length).toBe(lines.length - notes.length);
    const writes = lines.filter((l) => /\d write\(/.test(l));
    expect(events.filter((e) => e.name === "write").length).toBe(writes.length);
    const written = writes.reduce((sum, l) => sum + Number(/= (\d+) </.exec(l)![1]), 0);
    expect(events.filter((e) => e.kind === "write").reduce((s, e) => s + (e.bytes ?? 0), 0)).toBe(written);
    const cut = events.at(-1)!;
    expect(cut).toMatchObject({ name: "poll", result: "?" });
  });
});

describe("perf script", () => {
  const samples = (path: string) => rawLines(path).filter((l) => !l.startsWith("#") && /\s\d+\.\d+:(\s|$)/.test(l));

  for (const rel of ["speedscope-simple-with-header.txt", "speedscope-system-wide.txt", "speedscope-forks.txt", "flamegraph-iperf-stacks-pidtid-01.txt", "flamegraph-dd-stacks-01.txt"]) {
    test(`${rel}: one event per sample line, stacks attached`, () => {
      const path = fixture(`perf-script/${rel}`);
      const { events } = collect(path);
      expect(events.length).toBe(samples(path).length);
      expect(events.every((e) => e.name === "cpu-clock")).toBe(true);
      expect(events.filter((e) => e.fields.stack).length).toBeGreaterThan(events.length * 0.9);
    });
  }

  test("--header, [cpu] and pid/tid forms are read", () => {
    expect(collect(fixture("perf-script/speedscope-simple-with-header.txt")).state.notes.join()).toContain("captured on Wed Aug 15 16:01:24 2018");
    expect(collect(fixture("perf-script/speedscope-system-wide.txt")).events[1]).toMatchObject({ process: "swapper", pid: 0, fields: { cpu: "001" } });
    expect(collect(fixture("perf-script/flamegraph-iperf-stacks-pidtid-01.txt")).events[0]).toMatchObject({ process: "iperf", pid: 27409, tid: 28744 });
  });

  test("block_rq_issue is joined with its block_rq_complete", () => {
    const path = fixture("perf-script/perfview-disk_io_no_stacks.txt");
    const { events } = collect(path);
    const lines = samples(path);
    expect(lines.filter((l) => l.includes("block_rq_issue")).length).toBe(events.length);
    expect(events.map((e) => [e.kind, e.process, e.pid, e.bytes])).toEqual([["disk_read", "fio", 236193, 4096], ["disk_read", "fio", 236193, 4096]]);
    expect(events[0]!.duration).toBeCloseTo(1.791615 - 1.791544, 9);
  });

  test("sched_process_exec, commands with spaces and odd process names", () => {
    expect(collect(fixture("perf-script/perfview-exec_process.txt")).events[0]).toMatchObject({ kind: "exec", path: "/lib/udev/probe-bcache", process: "probe-bcache", pid: 286053 });
    expect(collect(fixture("perf-script/perfview-space_sep_command.txt")).events[0]).toMatchObject({
      process: "comm and3 another part to the command line5 part3 part1", pid: 0,
    });
    const odd = collect(fixture("perf-script/perfview-corner_case_process_names.txt")).events;
    expect(odd.map((e) => [e.process, e.pid])).toEqual([["6", 0], ["77", 1], ["", 2], ["k/2", 3], ["k/[2]", 4], ["k:2", 5]]);
  });
});

describe("xperf dumper", () => {
  test("oppat excerpt: columns from the header lines, FileIo joined to OpEnd, quoted file names", () => {
    const path = fixture("etw/xperf-dumper-oppat-excerpt.txt");
    const lines = rawLines(path);
    const begin = lines.indexOf("BeginHeader");
    const end = lines.indexOf("EndHeader");
    const data = lines.filter((l, i) => (i < begin || i > end) && l.trim() !== "");
    const opEnds = data.filter((l) => l.trim().startsWith("FileIoOpEnd"));
    const { events } = collect(path);
    expect(events.length).toBe(data.length - opEnds.length);
    const writes = events.filter((e) => e.kind === "write");
    expect(writes.map((w) => [w.process, w.pid, w.tid, w.bytes, w.result, w.path])).toEqual([
      ["spin.exe", 11060, 11224, 0x41, "0xc01c0004", "C:\\data\\ppat\\oppat_data\\win\\spin10_pcm\\phase.tsv"],
      ["spin.exe", 11060, 11224, 0x41, "0x00000000", "C:\\data\\ppat\\oppat_data\\win\\spin10_pcm\\phase.tsv"],
    ]);
    expect(writes.map((w) => w.failed)).toEqual([true, false]);
    expect(writes[1]!.duration).toBeCloseTo(8e-6, 12);
    expect(writes[1]!.fields.ParsedFlags).toBe("write_operation | defer_io_completion | 17 | 18");
    expect(events.find((e) => e.kind === "disk_read")).toMatchObject({ process: "xperf.exe", pid: 3984, bytes: 0x1000, path: "C:\\$Mft" });
    expect(events.find((e) => e.name === "SysCallEnter")).toMatchObject({ process: "spin.exe", pid: 11060, tid: 11224 });
  });

  test("UIforETW excerpt: header lines without BeginHeader, CSwitch with MsMpEng.exe", () => {
    const path = fixture("etw/xperf-dumper-uiforetw-cswitch-excerpt.txt");
    const data = rawLines(path).filter((l) => l.trim() !== "" && !/^\s*\w+,\s+TimeStamp,/.test(l));
    const { events } = collect(path);
    expect(events.length).toBe(data.length);
    const switches = events.filter((e) => e.kind === "context_switch");
    expect(switches.length).toBe(data.filter((l) => l.trim().startsWith("CSwitch")).length);
    expect(switches.find((e) => e.process === "MsMpEng.exe")).toMatchObject({ pid: 3016, tid: 13212 });
    expect(switches[0]!.fields["Old Process Name ( PID)"]).toBe("tracelog.exe (5200)");
  });
});

describe("wpaexporter CSV", () => {
  test("EN: one event per row, units from the column names", () => {
    const path = fixture("etw/wpaexporter-Disk_Usage_Utilization_by_Disk.csv");
    const rows = rawLines(path).slice(1).filter((l) => l.trim() !== "");
    const { events } = collect(path);
    expect(events.length).toBe(rows.length);
    // the test's own CSV reading: quoted fields may hold commas
    const cells = (r: string) => [...r.matchAll(/("[^"]*"|[^,]*)(?:,|$)/g)].map((m) => m[1]!.replace(/^"|"$/g, ""));
    const byType = (t: string) => rows.filter((r) => cells(r)[4] === t).length;
    expect(events.filter((e) => e.kind === "disk_write").length).toBe(byType("Write"));
    expect(events.filter((e) => e.kind === "disk_read").length).toBe(byType("Read"));
    expect(events.filter((e) => e.kind === "fsync").length).toBe(byType("Flush"));
    const bytes = rows.reduce((s, r) => s + Number(cells(r)[8]!.replace(/,/g, "")), 0); // "16,384": en-US thousands
    expect(events.reduce((s, e) => s + (e.bytes ?? 0), 0)).toBe(bytes);
  });

  test("DE (decimal commas) gives the same numbers as EN where they overlap", () => {
    const en = collect(fixture("etw/wpaexporter-Disk_Usage_Utilization_by_Disk.csv")).events;
    const de = collect(fixture("etw/wpaexporter-Disk_Usage_Utilization_by_Disk_DE.csv")).events;
    expect(de.length).toBe(1);
    const pick = (e: (typeof en)[number]) => ({ ts: e.ts, duration: e.duration, bytes: e.bytes, process: e.process, pid: e.pid, tid: e.tid, kind: e.kind });
    expect(pick(de[0]!)).toEqual(pick(en[0]!));
    expect(de[0]!.ts).toBeCloseTo(1.176567818 - 5.909e-6, 12);
  });

  test("a header-only export is a trace with no events, not an error", () => {
    const r = collect(fixture("etw/wpaexporter-Disk_Usage_Utilization_by_Disk_Empty.csv"));
    expect(r.format).toBe("wpa-csv");
    expect(r.events).toEqual([]);
    expect(r.bad).toEqual([]);
  });
});
