import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import {
  getRun,
  listRuns,
  MIGRATIONS,
  record,
  runRecordFromReport,
  SCHEMA_VERSION,
  withStore,
  type OpenStore,
} from "../../analytics/index.ts";
import { makeReport } from "./make-report.ts";
import { makeTempStore, type TempStore } from "./temp-store.ts";

let store: TempStore;
beforeEach(() => {
  store = makeTempStore();
});
afterEach(() => {
  store.remove();
});

async function rows(conn: OpenStore["conn"], sql: string, params: (string | number)[] = []) {
  return (await conn.runAndReadAll(sql, params)).getRowObjectsJS();
}

describe("record and read back", () => {
  test("a recorded run round-trips through listRuns and getRun", async () => {
    const report = makeReport();
    expect(await record(report, { path: store.path })).toEqual({ stored: "db" });

    const runs = await listRuns({ path: store.path });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      id: report.id,
      startedAt: report.startedAt,
      finishedAt: report.finishedAt,
      command: "mirror",
      route: "local",
      status: "partial",
      exitCode: 23,
      source: "/data/src",
      destination: "/data/dst",
      sourceFs: "ext4",
      destinationFs: "xfs",
      files: 1200,
      bytes: 5_368_709_120,
      copied: 298,
      copiedBytes: 999_000_000,
      transferMs: 4000,
      totalMs: 4250,
      workers: 6,
      strategy: "batched-small",
      errorCount: 2,
      dryRun: false,
      mainFastPath: "copy_file_range",
    });
    // One read model: the stored run reads back exactly as the report in memory reads.
    expect({ ...runs[0] }).toEqual({ ...runRecordFromReport(report) });
    expect(await getRun(report.id, { path: store.path })).toEqual(report);
  });

  test("getRun of an unknown id is undefined", async () => {
    await record(makeReport(), { path: store.path });
    expect(await getRun("no-such-run", { path: store.path })).toBeUndefined();
  });

  test("a report without transport round-trips too", async () => {
    const report = makeReport({ transport: undefined });
    await record(report, { path: store.path });
    expect(await getRun(report.id, { path: store.path })).toEqual(report);
  });

  test("listRuns is newest first and honours limit", async () => {
    const times = ["2025-03-02T08:00:00.000Z", "2025-03-03T08:00:00.000Z", "2025-03-01T08:00:00.000Z"];
    for (const startedAt of times) await record(makeReport({ startedAt }), { path: store.path });
    const all = await listRuns({ path: store.path });
    expect(all.map((r) => r.startedAt)).toEqual([times[1], times[0], times[2]]);
    const two = await listRuns({ path: store.path, limit: 2 });
    expect(two.map((r) => r.startedAt)).toEqual([times[1], times[0]]);
  });

  test("a UTC offset in startedAt is honoured", async () => {
    await record(makeReport({ startedAt: "2025-03-01T12:00:00.000+02:00" }), { path: store.path });
    const [run] = await listRuns({ path: store.path });
    expect(run?.startedAt).toBe("2025-03-01T10:00:00.000Z");
  });

  test("recording the same run twice stores it once, with its errors once", async () => {
    const report = makeReport();
    await record(report, { path: store.path });
    expect(await record(report, { path: store.path })).toEqual({ stored: "db" });
    await withStore(store.path, async ({ conn }) => {
      expect(await rows(conn, "SELECT count(*)::INT AS n FROM runs")).toEqual([{ n: 1 }]);
      expect(await rows(conn, "SELECT count(*)::INT AS n FROM run_errors")).toEqual([{ n: 2 }]);
    });
  });

  test("errors are stored as rows in order, and values are bound, not spliced", async () => {
    const report = makeReport({
      errors: [
        { path: "it's; DROP TABLE runs; --", side: "source", code: "EACCES", message: 'quote " and \\' },
        { path: "second", side: "run", code: "DELETE_GUARD", message: "guard" },
      ],
    });
    await record(report, { path: store.path });
    await withStore(store.path, async ({ conn }) => {
      expect(await rows(conn, "SELECT seq, path, side, code, message FROM run_errors WHERE run_id = $1 ORDER BY seq", [report.id])).toEqual([
        { seq: 0, path: "it's; DROP TABLE runs; --", side: "source", code: "EACCES", message: 'quote " and \\' },
        { seq: 1, path: "second", side: "run", code: "DELETE_GUARD", message: "guard" },
      ]);
    });
  });

  test("the fields analytics fits on are typed columns with the report's values", async () => {
    const report = makeReport();
    await record(report, { path: store.path });
    await withStore(store.path, async ({ conn }) => {
      const types = await rows(
        conn,
        "SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_name = 'runs'",
      );
      const typeOf = Object.fromEntries(types.map((t) => [t.name, t.type]));
      expect(typeOf).toMatchObject({
        id: "VARCHAR",
        started_at: "TIMESTAMP",
        files: "BIGINT",
        bytes: "BIGINT",
        dirs: "BIGINT",
        total_ms: "DOUBLE",
        route: "VARCHAR",
        source_fs: "VARCHAR",
        destination_fs: "VARCHAR",
        workers: "INTEGER",
        report: "JSON",
        options: "JSON",
      });
      const [row] = await rows(
        conn,
        `SELECT files::DOUBLE AS files, bytes::DOUBLE AS bytes, dirs::DOUBLE AS dirs, total_ms, route,
                source_fs, destination_fs, workers, requested_workers, transport,
                json_extract(options, '$.workers')::INT AS options_workers,
                json_extract(bytes_by_path, '$.copy_file_range')::DOUBLE AS cfr_bytes
         FROM runs`,
      );
      expect(row).toEqual({
        files: 1200,
        bytes: 5_368_709_120,
        dirs: 40,
        total_ms: 4250,
        route: "local",
        source_fs: "ext4",
        destination_fs: "xfs",
        workers: 6,
        requested_workers: 8,
        transport: "tcp",
        options_workers: 8,
        cfr_bytes: 900_000_000,
      });
    });
  });
});

describe("durability", () => {
  test("many records keep the write-ahead log small, and every run survives re-opening", async () => {
    const reports = Array.from({ length: 15 }, () => makeReport());
    for (const report of reports) expect(await record(report, { path: store.path })).toEqual({ stored: "db" });
    const wal = `${store.path}.wal`;
    expect(existsSync(wal) ? statSync(wal).size : 0).toBeLessThan(64 * 1024);
    const runs = await listRuns({ path: store.path, limit: 100 });
    expect(runs.map((r) => r.id).sort()).toEqual(reports.map((r) => r.id).sort());
  });
});

describe("migrations", () => {
  test("a new store is migrated from empty to the latest version, and re-opening is a no-op", async () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    const first = await withStore(store.path, async (s) => s.migrated);
    expect(first).toEqual(MIGRATIONS.map((m) => m.version));
    const second = await withStore(store.path, async (s) => s.migrated);
    expect(second).toEqual([]);
  });

  test("schema_version records each applied version once", async () => {
    await withStore(store.path, async () => {});
    await withStore(store.path, async () => {});
    await withStore(store.path, async ({ conn }) => {
      const versions = await rows(conn, "SELECT version, applied_at IS NOT NULL AS stamped FROM schema_version ORDER BY version");
      expect(versions).toEqual(MIGRATIONS.map((m) => ({ version: m.version, stamped: true })));
      expect(versions.at(-1)?.version).toBe(SCHEMA_VERSION);
    });
  });

  test("migration 6 fills the new run columns of older runs as a new run's are written", async () => {
    const report = makeReport({
      options: { ...makeReport().options, bwlimit: 5_000_000, dryRun: true, checksum: true },
      bytesByPath: { copy_file_range: 700, reflink: 900, sendfile: 900 },
    });
    const plain = makeReport({ bytesByPath: {}, filesByPath: { copy_file_range: 3 } });
    await record(report, { path: store.path });
    await record(plain, { path: store.path });
    // Take the store back to version 5, as a store written before migration 6 is.
    await withStore(store.path, async ({ conn }) => {
      for (const column of ["small_files", "bwlimit", "dry_run", "checksum", "main_fast_path"]) await conn.run(`ALTER TABLE runs DROP COLUMN ${column}`);
      await conn.run("DELETE FROM schema_version WHERE version = 6");
    });
    expect(await withStore(store.path, async (s) => s.migrated)).toEqual([6]);
    const runs = await listRuns({ path: store.path });
    const byId = new Map(runs.map((r) => [r.id, r]));
    expect({ ...byId.get(report.id) }).toEqual({ ...runRecordFromReport(report) });
    expect({ ...byId.get(plain.id) }).toEqual({ ...runRecordFromReport(plain) });
    expect(byId.get(report.id)).toMatchObject({ bwlimit: 5_000_000, dryRun: true, checksum: true, smallFiles: 1150, mainFastPath: "reflink" });
    expect(byId.get(plain.id)!.mainFastPath).toBe("copy_file_range");
  });

  test("runs recorded before a re-open are still there", async () => {
    const report = makeReport();
    await record(report, { path: store.path });
    await withStore(store.path, async () => {});
    expect((await listRuns({ path: store.path })).map((r) => r.id)).toEqual([report.id]);
  });
});

describe("file modes", () => {
  test("the store, its WAL and a directory made for it are owner-only under umask 022; an older 0644 store is fixed on its next use", async () => {
    const { chmodSync } = await import("node:fs");
    const { join } = await import("node:path");
    const path = join(store.dir, "sub", "telemetry.duckdb");
    const old = process.umask(0o022);
    try {
      expect(await record(makeReport(), { path })).toEqual({ stored: "db" });
    } finally {
      process.umask(old);
    }
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(path)).toBe(0o600);
    expect(existsSync(`${path}.wal`)).toBe(true); // a small WAL is kept for the next open
    expect(mode(`${path}.wal`)).toBe(0o600);
    expect(mode(join(store.dir, "sub"))).toBe(0o700);
    chmodSync(path, 0o644);
    await listRuns({ path });
    expect(mode(path)).toBe(0o600);
  });
});
