// run_context and run_timeline (migration 5): written with their run, in the same transaction,
// by every path that stores runs (record, recordMany, the spool's merge), and read back through
// loadHistory and runTimeline. A malformed context from a spool file never loses its run.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadHistory, loadRunRecord, record, recordMany, runRecordFromReport, runTimeline, withStore } from "../../analytics/index.ts";
import type { RunContext, RunReport, TimelineSample } from "../../engine/index.ts";
import { makeReport } from "./make-report.ts";
import { makeTempStore, type TempStore } from "./temp-store.ts";

let store: TempStore;
beforeEach(() => {
  store = makeTempStore();
});
afterEach(() => {
  store.remove();
});

const context: RunContext = {
  cpuCount: 2,
  self: { userMs: 812.5, systemMs: 301.25, voluntaryCtxSwitches: 4100, involuntaryCtxSwitches: 77, majorFaults: 3, readBytes: 5_368_709_120, writeBytes: 4096 },
  load: { start: 1.25, end: 3.5 },
  pressure: { cpuSome: 0.42, ioSome: 0.1, ioFull: 0.05, memorySome: 0 },
  othersCpuShare: 0.61,
  devices: [
    { role: "source", path: "/data/src", mountPoint: "/data", fsType: "ext4", device: "sda1", mountOptions: ["rw", "relatime"], deviceClass: "rotational", sync: false,
      disk: { readIos: 10, writeIos: 0, readBytes: 40960, writeBytes: 0, busyMs: 120, utilisation: 0.03, readAwaitMs: 4.5, writeAwaitMs: null, othersReadShare: 0.25, othersWriteShare: null } },
    { role: "destination", path: "/mnt/sync/dst", mountPoint: "/mnt/sync", fsType: "ext4", device: "loop3", mountOptions: ["rw", "sync"], deviceClass: "loop", sync: true },
  ],
  tracer: { pid: 999, name: "strace" },
  sourceCached: 0.9,
  openers: [{ pid: 321, name: "clamd", files: 2 }],
};

const timeline: TimelineSample[] = [
  { tMs: 250, bytes: 1_000_000, files: 10, selfCpuMs: 80, othersCpuShare: 0.5, cpuSome: 0.4, ioSome: 0.1 },
  { tMs: 500, bytes: 2_000_000, files: 20, selfCpuMs: 90 },
  { tMs: 612, bytes: 5, files: 1 },
];

const withContext = (over: Partial<RunReport> = {}) => makeReport({ context, timeline, errors: [], errorCount: 0, ...over });

async function readBack(id: string) {
  return withStore(store.path, async ({ conn }) => ({ history: await loadHistory(conn), one: await loadRunRecord(conn, id), timeline: await runTimeline(conn, id) }));
}

describe("run_context and run_timeline", () => {
  test("record() stores a run's context and timeline; loadHistory and runTimeline give them back as recorded", async () => {
    const r = withContext();
    expect(await record(r, { path: store.path })).toEqual({ stored: "db" });
    const got = await readBack(r.id);
    expect(got.history.map((h) => h.context)).toEqual([context]);
    expect(got.one!.context).toEqual(context);
    expect(got.timeline).toEqual(timeline);
    // One read model: the stored run, context included, reads as the report in memory does.
    expect(JSON.parse(JSON.stringify(got.one))).toEqual(JSON.parse(JSON.stringify(runRecordFromReport(r))));
    // The scalars a query filters on are columns.
    const row = await withStore(store.path, async ({ conn }) =>
      (await conn.runAndReadAll("SELECT cpu_count, psi_io_full, others_cpu_share, tracer_name, source_cached, json_array_length(devices) AS devices FROM run_context")).getRowObjects());
    expect(row).toEqual([{ cpu_count: 2, psi_io_full: 0.05, others_cpu_share: 0.61, tracer_name: "strace", source_cached: 0.9, devices: 2n }]);
  });

  test("a run recorded before contexts (none in its report) has no context and an empty timeline", async () => {
    const r = makeReport({ errors: [], errorCount: 0 });
    await record(r, { path: store.path });
    const got = await readBack(r.id);
    expect(got.history[0]!.context).toBeUndefined();
    expect(got.timeline).toEqual([]);
  });

  test("recording the same run twice keeps one context row and one timeline", async () => {
    const r = withContext({ errors: [{ path: "a", side: "destination", code: "EACCES", message: "a: permission denied" }], errorCount: 1 });
    await record(r, { path: store.path });
    await record(r, { path: store.path });
    const counts = await withStore(store.path, async ({ conn }) =>
      (await conn.runAndReadAll("SELECT (SELECT count(*) FROM run_context)::INT AS ctx, (SELECT count(*) FROM run_timeline)::INT AS tl, (SELECT count(*) FROM run_errors)::INT AS err")).getRowObjects()[0]);
    expect(counts).toEqual({ ctx: 1, tl: 3, err: 1 });
  });

  test("recordMany stores many runs with their contexts in one go", async () => {
    const runs = Array.from({ length: 50 }, (_, i) => withContext({ startedAt: new Date(Date.UTC(2025, 0, 1, 0, i)).toISOString() }));
    runs.push(makeReport({ errors: [], errorCount: 0 }));
    expect((await recordMany(runs, { path: store.path })).added).toBe(51);
    const got = await readBack(runs[0]!.id);
    expect(got.history.filter((h) => h.context).length).toBe(50);
    expect(got.timeline).toEqual(timeline);
  });

  test("a spooled report with a malformed context and timeline is merged: the run is kept, bad values become NULL", async () => {
    const bad = withContext({
      context: { cpuCount: "two", self: null, load: { start: "x" }, devices: "sda", tracer: { pid: 1 } } as unknown as RunContext,
      timeline: [{ tMs: "soon", bytes: 1, files: 1 }, { tMs: 250, bytes: "many", files: 2, cpuSome: Number.NaN }, null] as unknown as TimelineSample[],
    });
    mkdirSync(store.spool, { recursive: true });
    writeFileSync(join(store.spool, `${bad.id}.json`), JSON.stringify(bad));
    const got = await readBack(bad.id);
    expect(got.one!.id).toBe(bad.id);
    expect(got.one!.context).toMatchObject({ cpuCount: 0, devices: [] });
    expect(got.timeline).toEqual([{ tMs: 250, bytes: 0, files: 2 }]);
  });
});
