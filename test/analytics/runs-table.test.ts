import { describe, expect, test } from "bun:test";
import { formatBytes, formatDuration, formatRate, formatRunsTable, type RunRecord } from "../../analytics/index.ts";

function summary(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    id: "run-1",
    startedAt: "2025-03-01T10:05:00.000Z",
    startedMs: Date.parse("2025-03-01T10:05:00.000Z"),
    finishedAt: "2025-03-01T10:05:04.250Z",
    command: "mirror",
    route: "local",
    status: "ok",
    exitCode: 0,
    source: "/data/src",
    destination: "/backup/dst",
    sourceFs: "ext4",
    destinationFs: "xfs",
    transport: "",
    files: 1200,
    bytes: 5_000_000_000,
    dirs: 40,
    symlinks: 0,
    smallFiles: 1000,
    planned: 1234,
    plannedBytes: 1_500_000_000,
    copied: 1234,
    copiedBytes: 1_500_000_000,
    skipped: 0,
    deleted: 0,
    errorCount: 0,
    enumerateMs: 100,
    planMs: 10,
    transferMs: 2800,
    deleteMs: 0,
    totalMs: 3000,
    workers: 6,
    requestedWorkers: 6,
    strategy: "batched-small",
    bwlimit: 0,
    dryRun: false,
    checksum: false,
    mainFastPath: "copy_file_range",
    ...overrides,
  };
}

describe("formatRunsTable", () => {
  test("shows one aligned line per run under a header, led by the id blit diagnose takes; a dry run says so", () => {
    const text = formatRunsTable(
      [
        summary({ id: "0a1b2c3d-0000-4000-8000-000000000001" }),
        summary({ id: "9f8e7d6c-0000-4000-8000-000000000002", route: "push", command: "copy", status: "failed", copied: 0, copiedBytes: 0, totalMs: 850, workers: 12, mainFastPath: undefined, destination: "blit://host:9031/mod/dst" }),
        summary({ id: "55aa55aa-0000-4000-8000-000000000003", dryRun: true, copied: 0, copiedBytes: 0, mainFastPath: undefined }),
      ],
      { utc: true },
    );
    expect(text).toBe(
      [
        "ID        STARTED           COMMAND    STATUS        FILES   BYTES  DURATION        RATE  WORKERS  FAST PATH        SOURCE -> DESTINATION",
        "0a1b2c3d  2025-03-01 10:05  mirror     ok            1,234  1.5 GB      3.0s  500.0 MB/s        6  copy_file_range  /data/src -> /backup/dst",
        "9f8e7d6c  2025-03-01 10:05  copy/push  failed            0     0 B     850ms           -       12  -                /data/src -> blit://host:9031/mod/dst",
        "55aa55aa  2025-03-01 10:05  mirror     ok (dry run)      0     0 B      3.0s           -        6  -                /data/src -> /backup/dst",
      ].join("\n"),
    );
  });

  test("start times are local unless utc is asked for", () => {
    const started = new Date("2025-03-01T10:05:00.000Z");
    const local = `${started.getFullYear()}-${String(started.getMonth() + 1).padStart(2, "0")}-${String(started.getDate()).padStart(2, "0")} ${String(started.getHours()).padStart(2, "0")}:${String(started.getMinutes()).padStart(2, "0")}`;
    expect(formatRunsTable([summary()]).split("\n")[1]).toStartWith(`run-1  ${local}`);
  });

  test("an empty history says so", () => {
    expect(formatRunsTable([])).toBe("No runs recorded yet.");
  });
});

describe("human units", () => {
  test.each([
    [0, "0 B"],
    [999, "999 B"],
    [1536, "1.5 kB"],
    [2_000_000_000, "2.0 GB"],
    [-1, "-"],
  ])("formatBytes(%p) is %p", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  test.each([
    [850, "850ms"],
    [12_340, "12.3s"],
    [245_000, "4m05s"],
    [3_720_000, "1h02m"],
  ])("formatDuration(%p) is %p", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test("formatRate is MB/s over the given time, '-' when nothing moved", () => {
    expect(formatRate(100_000_000, 2000)).toBe("50.0 MB/s");
    expect(formatRate(0, 2000)).toBe("-");
    expect(formatRate(100, 0)).toBe("-");
  });
});
