// What ingestion stores is exactly what the parser produced: every column of every event, for
// every fixture and for strings that are hard to carry through a text file (tabs, line ends,
// quotes, backslashes, control characters, non-ASCII), whatever the batch size. Batch files are
// removed, and a failed ingest stores nothing.
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { ingestTrace, type TraceEvent } from "../../traces/index.ts";
import { collect, FIXTURES, fixture, withTempDir } from "./helpers.ts";

const ALL = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => readdirSync(join(FIXTURES, d.name)).map((f) => `${d.name}/${String(f)}`));

/** trace_events rows of one trace, in event order, as plain values. */
async function storedRows(store: string, traceId: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(store);
  try {
    const conn = await instance.connect();
    try {
      const rows = await conn.runAndReadAll(
        `SELECT seq, line, ts, process, pid, tid, kind, category, path, bytes, duration, result, failed, event_name, fields
         FROM trace_events WHERE trace_id = $1 ORDER BY seq`,
        [traceId],
      );
      return rows.getRowObjects().map((r) => ({ ...r, seq: Number(r.seq), line: Number(r.line), bytes: r.bytes == null ? null : Number(r.bytes) }));
    } finally {
      conn.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** The row the parser's event should become (ts and duration scaled as ingestion does). */
function expectedRow(e: TraceEvent, seq: number, rescale: number): Record<string, unknown> {
  return {
    seq, line: e.line, ts: e.ts * rescale, process: e.process, pid: e.pid, tid: e.tid, kind: e.kind, category: e.category,
    path: e.path, bytes: e.bytes === null ? null : Math.trunc(e.bytes), duration: e.duration === null ? null : e.duration * rescale,
    result: e.result, failed: e.failed, event_name: e.name, fields: JSON.stringify(e.fields),
  };
}

async function expectStoredAsParsed(path: string, batchEvents?: number): Promise<void> {
  await withTempDir(async (dir) => {
    const store = join(dir, "t.duckdb");
    const batches = join(dir, "batches");
    mkdirSync(batches);
    const parsed = collect(path);
    const r = await ingestTrace(path, { storePath: store, batchEvents, tempDir: batches });
    expect(r.events).toBe(parsed.events.length);
    const rows = await storedRows(store, r.traceId);
    expect(rows).toEqual(parsed.events.map((e, i) => expectedRow(e, i, parsed.state.rescale)));
    expect(readdirSync(batches)).toEqual([]);
  });
}

describe("stored events", () => {
  for (const rel of ALL) {
    test(`${rel}: every column of every event as parsed`, () => expectStoredAsParsed(fixture(rel)));
  }

  test("batches of 7 events store the same rows as one batch", () => expectStoredAsParsed(fixture("strace/perfview-ls-r-T.strace"), 7));

  test("tabs, line ends, quotes, backslashes, control characters and non-ASCII text are stored as parsed", () =>
    withTempDir(async (dir) => {
      const path = join(dir, "nasty.strace");
      const calls = [
        'openat(AT_FDCWD, "/d/tab\\there", O_WRONLY|O_CREAT, 0644) = 3',
        'write(3, "a\\tb\\nc\\\\d\\"e", 9) = 9',
        'openat(AT_FDCWD, "/d/nl\\nq\\"uote\\\\back\\rcr", O_RDONLY) = 4',
        'openat(AT_FDCWD, "/d/\\303\\251t\\303\\251 \\360\\237\\230\\200 \\377bad", O_RDONLY) = 5',
        'openat(AT_FDCWD, "/d/stx\\2x\\1\\0nul\\r\\n", O_RDONLY) = 6',
        'openat(AT_FDCWD, "", O_RDONLY) = -1 ENOENT (No such file or directory)',
        'openat(AT_FDCWD, "\\\\N", O_RDONLY) = 7',
        'openat(AT_FDCWD, "NULL", O_RDONLY) = 8',
        'openat(AT_FDCWD, "/d/ünï\tcødé 日本", O_RDONLY) = 9',
        'execve("/usr/bin/caf\\303\\251\\tx", ["x"], 0x7ffd /* 1 var */) = 0',
        'renameat(AT_FDCWD, "/d/\\2.tmp", AT_FDCWD, "/d/\\2 final", 0) = 0',
        'weird_call("\\x02\\x09") = 0',
      ];
      writeFileSync(path, calls.map((c, i) => `100 12:00:00.${String(i + 1).padStart(6, "0")} ${c} <0.00000${i % 10}>`).join("\n") + "\n");
      const parsed = collect(path);
      expect(parsed.bad).toEqual([]);
      // the parser does produce the hard cases this test is about
      const paths = parsed.events.map((e) => e.path);
      for (const s of ["\t", "\n", "\r", '"', "\\", "\x02", "\0", "é", "😀", "\uFFFD", "日本"]) expect(paths.join("|")).toContain(s);
      expect(paths).toContain("");
      expect(paths).toContain("\\N");
      for (const batchEvents of [undefined, 1, 5]) await expectStoredAsParsed(path, batchEvents);
    }));
});

describe("long lines", () => {
  test("a 6 MB call line is stored whole, between ordinary ones", () =>
    withTempDir(async (dir) => {
      const path = join(dir, "long.strace");
      const big = "\\x41".repeat(1_500_000);
      writeFileSync(path, [
        '100 12:00:00.000001 openat(AT_FDCWD, "/d/a", O_WRONLY|O_CREAT, 0644) = 3 <0.000010>',
        `100 12:00:00.000002 write(3, "${big}", 1500000) = 1500000 <0.000500>`,
        "100 12:00:00.000003 close(3) = 0 <0.000001>",
      ].join("\n") + "\n");
      const parsed = collect(path);
      expect(parsed.events[1]!.fields.args!.length).toBeGreaterThan(6_000_000);
      await expectStoredAsParsed(path);
      await expectStoredAsParsed(path, 1);
    }));
});

describe("strace prefixes", () => {
  test("pid and -tt time read the same however they are spaced (the common form has a fast path)", () =>
    withTempDir((dir) => {
      const prefixes = ["100 13:04:05.000321 ", "100  13:04:05.000321   ", "100\t13:04:05.000321 ", "  100 13:04:05.000321 ", "[pid   100] 13:04:05.000321 ", "100 13:04:05.000321\t", "0100 13:04:05.000321 "];
      const got = prefixes.map((prefix, i) => {
        const path = join(dir, `p${i}.strace`);
        writeFileSync(path, `${prefix}close(3) = 0 <0.000002>\n100 13:04:06 close(4) = 0\n`);
        const { events, bad } = collect(path);
        expect(bad).toEqual([]);
        return events.map((e) => [e.tid, e.ts, e.duration]);
      });
      for (const g of got) expect(g).toEqual([[100, 13 * 3600 + 4 * 60 + 5.000321, 0.000002], [100, 13 * 3600 + 4 * 60 + 6, null]]);
    }));
});

describe("a failed ingest", () => {
  test("stores nothing and leaves no batch files", () =>
    withTempDir(async (dir) => {
      const store = join(dir, "t.duckdb");
      const batches = join(dir, "batches");
      mkdirSync(batches);
      const path = fixture("strace/perfview-ls-r-T.strace");
      let calls = 0;
      const failing = ingestTrace(path, {
        storePath: store, batchEvents: 5, tempDir: batches,
        onProgress: () => {
          if (++calls === 3) throw new Error("stop here");
        },
      });
      await expect(failing).rejects.toThrow("stop here");
      expect(readdirSync(batches)).toEqual([]);
      const instance = await DuckDBInstance.create(store);
      try {
        const conn = await instance.connect();
        for (const table of ["traces", "trace_events", "trace_summaries"]) {
          const n = (await conn.runAndReadAll(`SELECT count(*) AS n FROM ${table}`)).getRowObjects()[0]!.n;
          expect(`${table}: ${Number(n)}`).toBe(`${table}: 0`);
        }
        conn.closeSync();
      } finally {
        instance.closeSync();
      }
    }));
});
