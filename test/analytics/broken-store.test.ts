import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listRuns, record, TelemetryError, telemetryPath } from "../../analytics/index.ts";
import { makeReport } from "./make-report.ts";
import { makeTempStore, type TempStore } from "./temp-store.ts";

let store: TempStore;
beforeEach(() => {
  store = makeTempStore();
});
afterEach(() => {
  store.remove();
});

describe("record never throws", () => {
  test("a corrupt store file: the run is spooled with a warning, and the file is left alone", async () => {
    const garbage = Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919) % 256));
    writeFileSync(store.path, garbage);
    const report = makeReport();

    const result = await record(report, { path: store.path });

    expect(result.stored).toBe("spooled");
    expect(result.warning).toContain(store.path);
    expect(result.warning).toContain("not a valid DuckDB database file");
    expect(JSON.parse(readFileSync(join(store.spool, `${report.id}.json`), "utf8"))).toEqual(report);
    expect(readFileSync(store.path)).toEqual(garbage);
  });

  test("reading a corrupt store fails with TELEMETRY_UNAVAILABLE", async () => {
    writeFileSync(store.path, "this is not a database");
    const error = await listRuns({ path: store.path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TelemetryError);
    expect((error as TelemetryError).code).toBe("TELEMETRY_UNAVAILABLE");
    expect((error as TelemetryError).message).toContain(store.path);
  });

  test("an unusable directory (BLIT_HOME under a regular file): no store, no spool, one warning", async () => {
    const file = join(store.dir, "plain-file");
    writeFileSync(file, "not a directory");
    const path = telemetryPath({ BLIT_HOME: join(file, "blit-home") });

    const result = await record(makeReport(), { path });

    expect(result.stored).toBe("none");
    expect(result.warning).toContain(path);
    expect(result.warning).toContain("ENOTDIR");
    expect(result.warning?.split("\n")).toHaveLength(1);
  });

  test("a report that cannot be serialized still gets an answer, not an exception", async () => {
    const report = makeReport() as unknown as Record<string, unknown>;
    report.self = report; // a cycle: JSON.stringify throws
    const result = await record(report as never, { path: store.path });
    expect(result.stored).toBe("none");
    expect(result.warning).toContain("telemetry");
    expect(existsSync(store.spool) ? readdirSync(store.spool).filter((n) => n.endsWith(".json")) : []).toEqual([]);
  });

  test("a report missing optional parts is stored with NULLs where it has no value", async () => {
    const report = makeReport({ transport: undefined, finishedAt: undefined as never, host: undefined as never });
    expect(await record(report, { path: store.path })).toEqual({ stored: "db" });
    const [run] = await listRuns({ path: store.path });
    expect(run?.id).toBe(report.id);
    expect(run?.finishedAt).toBeUndefined();
  });
});
