import { describe, expect, test } from "bun:test";
import {
  countOf, formatBytes, formatBytesPerSec, formatCount, formatDuration, formatIsoTime, formatRate, formatRunsTable, formatTime, type RunRecord,
} from "../../analytics/index.ts";

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
    transferMs: 2000,
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
  test("shows one aligned line per run under a header, led by the id blit diagnose takes, rate over the transfer phase; a dry run says so", () => {
    const text = formatRunsTable(
      [
        summary({ id: "0a1b2c3d-0000-4000-8000-000000000001" }),
        summary({ id: "9f8e7d6c-0000-4000-8000-000000000002", route: "push", command: "copy", status: "failed", copied: 0, copiedBytes: 0, transferMs: 0, totalMs: 850, workers: 12, mainFastPath: undefined, destination: "blit://host:9031/mod/dst" }),
        summary({ id: "55aa55aa-0000-4000-8000-000000000003", dryRun: true, copied: 0, copiedBytes: 0, mainFastPath: undefined }),
      ],
      { utc: true },
    );
    expect(text).toBe(
      [
        "ID        STARTED               COMMAND    STATUS        FILES    BYTES  DURATION       RATE  WORKERS  FAST PATH        SOURCE -> DESTINATION",
        "0a1b2c3d  2025-03-01 10:05 UTC  mirror     ok            1,234  1.4 GiB    3.00 s  715 MiB/s        6  copy_file_range  /data/src -> /backup/dst",
        "9f8e7d6c  2025-03-01 10:05 UTC  copy/push  failed            0      0 B    850 ms          -       12  -                /data/src -> blit://host:9031/mod/dst",
        "55aa55aa  2025-03-01 10:05 UTC  mirror     ok (dry run)      0      0 B    3.00 s          -        6  -                /data/src -> /backup/dst",
      ].join("\n"),
    );
  });

  test("start times are local with their offset unless utc is asked for", () => {
    const line = formatRunsTable([summary()]).split("\n")[1]!.replace(/^run-1 +/, "");
    expect(line.startsWith(formatTime("2025-03-01T10:05:00.000Z", { seconds: false }))).toBe(true);
    expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d (UTC|[+-]\d\d:\d\d) /);
  });

  test("an empty history says so", () => {
    expect(formatRunsTable([])).toBe("No runs recorded yet.");
  });
});

describe("human units: one voice for every command and the TUI", () => {
  test.each([
    [0, "0 B"],
    [999, "999 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [143_360, "140 KiB"],
    [10 * 1024 * 1024, "10.0 MiB"],
    [2_000_000_000, "1.9 GiB"],
    [5 * 1024 ** 4, "5.0 TiB"],
    [-1, "-"],
    [Number.NaN, "-"],
  ])("formatBytes(%p) is %p (IEC, as --bwlimit reads sizes)", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  test.each([
    [0, "0 ms"],
    [360, "360 ms"],
    [999.4, "999 ms"],
    [1000, "1.00 s"],
    [2480, "2.48 s"],
    [12_340, "12.3 s"],
    [59_940, "59.9 s"],
    [59_960, "1 min 00 s"],
    [245_000, "4 min 05 s"],
    [3_599_600, "1 h 00 min"],
    [3_720_000, "1 h 02 min"],
    [-5, "-"],
  ])("formatDuration(%p) is %p", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test("formatRate is IEC bytes per second over the given (transfer) time, '-' when nothing moved", () => {
    expect(formatRate(100 * 1024 * 1024, 2000)).toBe("50.0 MiB/s");
    expect(formatRate(143_360, 4)).toBe("34.2 MiB/s");
    expect(formatRate(0, 2000)).toBe("-");
    expect(formatRate(100, 0)).toBe("-");
    expect(formatBytesPerSec(512)).toBe("512 B/s");
  });

  test("counts group thousands and plurals agree with the number", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(countOf(1, "file")).toBe("1 file");
    expect(countOf(0, "file")).toBe("0 files");
    expect(countOf(2500, "worker")).toBe("2,500 workers");
    expect(countOf(1, "entry", "entries")).toBe("1 entry");
    expect(countOf(3, "entry", "entries")).toBe("3 entries");
  });

  test("times carry their zone: UTC by name, another zone by its offset", () => {
    expect(formatTime("2026-11-30T08:46:14.500Z", { utc: true })).toBe("2026-11-30 08:46:14 UTC");
    expect(formatTime(Date.UTC(2026, 10, 30, 8, 46), { utc: true, seconds: false })).toBe("2026-11-30 08:46 UTC");
    expect(formatTime("not a time")).toBe("-");
    const local = formatTime("2026-11-30T08:46:14Z");
    const offset = -new Date("2026-11-30T08:46:14Z").getTimezoneOffset();
    if (offset === 0) expect(local).toBe("2026-11-30 08:46:14 UTC");
    else expect(local).toMatch(/^2026-11-\d\d \d\d:\d\d:14 [+-]\d\d:\d\d$/);
  });

  test("log stamps are ISO 8601 with milliseconds and the numeric offset, '+00:00' in UTC", () => {
    expect(formatIsoTime("2026-11-30T08:46:14.042Z", { utc: true })).toBe("2026-11-30T08:46:14.042+00:00");
    expect(formatIsoTime(Date.UTC(2026, 0, 1, 0, 0, 0, 7), { utc: true })).toBe("2026-01-01T00:00:00.007+00:00");
    expect(formatIsoTime("not a time")).toBe("-");
    const local = formatIsoTime("2026-11-30T08:46:14.042Z");
    expect(local).toMatch(/^2026-11-\d\dT\d\d:\d\d:14\.042[+-]\d\d:\d\d$/);
    expect(Date.parse(local)).toBe(Date.parse("2026-11-30T08:46:14.042Z"));
  });

  test("log stamps in zones east and west of UTC, half hours included", () => {
    const stamp = (tz: string) => Bun.spawnSync([process.execPath, "-e", `import { formatIsoTime } from "./analytics/index.ts"; console.log(formatIsoTime("2026-11-30T23:46:14.500Z"))`], {
      env: { ...process.env, TZ: tz },
      cwd: `${import.meta.dir}/../..`,
    }).stdout.toString().trim();
    expect(stamp("Asia/Kolkata")).toBe("2026-12-01T05:16:14.500+05:30");
    expect(stamp("America/St_Johns")).toBe("2026-11-30T20:16:14.500-03:30");
    expect(stamp("UTC")).toBe("2026-11-30T23:46:14.500+00:00");
  });

  test("a zone with an offset prints it (run under TZ=Asia/Kolkata)", () => {
    const r = Bun.spawnSync([process.execPath, "-e", `import { formatTime } from "./analytics/index.ts"; console.log(formatTime("2026-11-30T08:46:14Z"))`], {
      env: { ...process.env, TZ: "Asia/Kolkata" },
      cwd: `${import.meta.dir}/../..`,
    });
    expect(r.stdout.toString().trim()).toBe("2026-11-30 14:16:14 +05:30");
  });
});
