import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listRuns, record, TelemetryError, withStore, type RunRecord } from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { makeReport } from "./make-report.ts";
import { holdStore, makeTempStore, PROJECT_ROOT, type TempStore } from "./temp-store.ts";

let store: TempStore;
beforeEach(() => {
  store = makeTempStore();
});
afterEach(() => {
  store.remove();
});

const ids = (runs: RunRecord[]) => runs.map((r) => r.id).sort();
const spoolJson = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".json")) : []);

// Runs record() in a separate process and resolves with its result.
async function recordInChild(report: RunReport, path: string): Promise<unknown> {
  const script = `
    import { record } from ${JSON.stringify(join(PROJECT_ROOT, "analytics/index.ts"))};
    const result = await record(JSON.parse(process.env.BLIT_TEST_REPORT), { path: ${JSON.stringify(path)} });
    console.log(JSON.stringify(result));
  `;
  const proc = Bun.spawn([process.execPath, "-e", script], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, BLIT_TEST_REPORT: JSON.stringify(report) },
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (code !== 0) throw new Error(`child record() exited ${code}: ${err}`);
    return JSON.parse(out.trim());
  } finally {
    if (proc.exitCode === null) proc.kill("SIGKILL");
    await proc.exited;
  }
}

describe("a store held by another process", () => {
  test("record spools, and the next open merges the spool", async () => {
    const first = makeReport({ startedAt: "2025-03-01T10:00:00.000Z" });
    const second = makeReport({ startedAt: "2025-03-01T11:00:00.000Z" });
    expect(await record(first, { path: store.path })).toEqual({ stored: "db" });

    const holder = await holdStore(store.path);
    try {
      expect(await record(second, { path: store.path })).toEqual({ stored: "spooled" });
      expect(spoolJson(store.spool)).toEqual([`${second.id}.json`]);
    } finally {
      await holder.kill();
    }

    const runs = await listRuns({ path: store.path });
    expect(runs.map((r) => r.id)).toEqual([second.id, first.id]);
    expect(readdirSync(store.spool)).toEqual([]);
  });

  test("reads wait for a busy store, then fail with TELEMETRY_BUSY", async () => {
    await record(makeReport(), { path: store.path });
    const holder = await holdStore(store.path);
    try {
      const started = Date.now();
      const error = await listRuns({ path: store.path, busyTimeoutMs: 300 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TelemetryError);
      expect((error as TelemetryError).code).toBe("TELEMETRY_BUSY");
      expect((error as TelemetryError).message).toContain(store.path);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await holder.kill();
    }
  });

  test("a read that starts while the store is busy succeeds once it is released", async () => {
    const report = makeReport();
    await record(report, { path: store.path });
    const holder = await holdStore(store.path);
    let reading: Promise<RunRecord[]> | undefined;
    try {
      reading = listRuns({ path: store.path, busyTimeoutMs: 10_000 });
      await Bun.sleep(200);
    } finally {
      await holder.kill();
    }
    expect(ids(await reading!)).toEqual([report.id]);
  });

  test("several runs spooling at once, in this process and in others, all arrive", async () => {
    const reports = [makeReport(), makeReport(), makeReport(), makeReport()];
    const holder = await holdStore(store.path);
    try {
      const results: unknown[] = await Promise.all([
        record(reports[0]!, { path: store.path }),
        record(reports[1]!, { path: store.path }),
        recordInChild(reports[2]!, store.path),
        recordInChild(reports[3]!, store.path),
      ]);
      expect(results).toEqual(reports.map(() => ({ stored: "spooled" })));
      expect(spoolJson(store.spool).sort()).toEqual(reports.map((r) => `${r.id}.json`).sort());
    } finally {
      await holder.kill();
    }
    expect(ids(await listRuns({ path: store.path }))).toEqual(reports.map((r) => r.id).sort());
    expect(readdirSync(store.spool)).toEqual([]);
  });
});

describe("merging the spool", () => {
  test("a spool file whose run is already stored is removed without a duplicate", async () => {
    const report = makeReport();
    await record(report, { path: store.path });
    mkdirSync(store.spool, { recursive: true });
    writeFileSync(join(store.spool, `${report.id}.json`), JSON.stringify(report));

    expect(ids(await listRuns({ path: store.path }))).toEqual([report.id]);
    expect(readdirSync(store.spool)).toEqual([]);
    await withStore(store.path, async ({ conn }) => {
      const count = await conn.runAndReadAll("SELECT count(*)::INT AS n FROM run_errors");
      expect(count.getRowObjectsJS()).toEqual([{ n: 2 }]);
    });
  });

  test("malformed spool files are moved to spool/bad, and good ones still merge", async () => {
    const good = makeReport();
    mkdirSync(store.spool, { recursive: true });
    writeFileSync(join(store.spool, "truncated.json"), '{"id": "abc", "startedAt": "2025-');
    writeFileSync(join(store.spool, "not-a-run.json"), JSON.stringify({ id: "x", hello: "world" }));
    writeFileSync(join(store.spool, "array.json"), "[]");
    writeFileSync(join(store.spool, `${good.id}.json`), JSON.stringify(good));

    const opened = await withStore(store.path, async (s) => s.spool);
    expect(opened).toEqual({ merged: 1, bad: 3, failed: 0 });
    expect(readdirSync(join(store.spool, "bad")).sort()).toEqual(["array.json", "not-a-run.json", "truncated.json"]);
    expect(spoolJson(store.spool)).toEqual([]);
    expect(ids(await listRuns({ path: store.path }))).toEqual([good.id]);
  });

  test("a half-written (temporary) spool file is left for its writer, not merged", async () => {
    const report = makeReport();
    mkdirSync(store.spool, { recursive: true });
    const temp = join(store.spool, `.${report.id}.json.999.abcd.tmp`);
    writeFileSync(temp, JSON.stringify(report).slice(0, 50));

    expect(await listRuns({ path: store.path })).toEqual([]);
    expect(existsSync(temp)).toBe(true);
    expect(existsSync(join(store.spool, "bad"))).toBe(false);
  });
});
