// Builds a complete RunReport (every field filled) for tests; override what a test is about.
import { randomUUID } from "node:crypto";
import type { RunReport } from "../../engine/index.ts";

export function makeReport(overrides: Partial<RunReport> = {}): RunReport {
  const startedAt = overrides.startedAt ?? "2025-03-01T10:00:00.000Z";
  const started = Date.parse(startedAt);
  return {
    id: randomUUID(),
    startedAt,
    finishedAt: new Date(started + 4_250).toISOString(),
    host: "test-host",
    pid: 4242,
    os: "linux 6.8.0",
    blitVersion: "0.1.0",
    command: "mirror",
    route: "local",
    source: "/data/src",
    destination: "/data/dst",
    sourceFs: "ext4",
    destinationFs: "xfs",
    options: {
      dryRun: false,
      checksum: false,
      sizeOnly: false,
      ignoreTimes: false,
      exclude: ["*.tmp", ".git/"],
      workers: 8,
      bwlimit: 0,
      maxDelete: -1,
      force: false,
      owner: false,
      group: false,
      xattrs: false,
      acls: false,
    },
    workload: {
      files: 1200,
      bytes: 5_368_709_120, // beyond 32 bits on purpose
      dirs: 40,
      symlinks: 3,
      sizeHistogram: { "<4K": 900, "<64K": 250, "<1M": 45, ">=1G": 5 },
    },
    plan: {
      strategy: "batched-small",
      workers: 6,
      classes: [
        { name: "small", minBytes: 0, files: 1150, bytes: 20_000_000, strategy: "batched", concurrency: 4 },
        { name: "large", minBytes: 8_388_608, files: 50, bytes: 5_348_709_120, strategy: "chunked", concurrency: 2 },
      ],
    },
    phases: { enumerateMs: 120.5, planMs: 8.25, transferMs: 4000, deleteMs: 11, totalMs: 4250 },
    counts: {
      planned: 300,
      plannedBytes: 1_000_000_000,
      copied: 298,
      copiedBytes: 999_000_000,
      skipped: 900,
      skippedBytes: 4_368_709_120,
      deleted: 2,
      deletePlanned: 2,
      dirsCreated: 5,
      symlinks: 3,
    },
    bytesByPath: { copy_file_range: 900_000_000, stream: 99_000_000 },
    filesByPath: { copy_file_range: 200, stream: 98 },
    fastPathNotes: { reflink: "EOPNOTSUPP: filesystem ext4 has no reflink" },
    errors: [
      { path: "a/locked.txt", side: "source", code: "EACCES", message: "permission denied" },
      { path: "b/full.bin", side: "destination", code: "ENOSPC", message: "no space left on device" },
    ],
    errorCount: 2,
    status: "partial",
    exitCode: 23,
    transport: { kind: "tcp", negotiateMs: 3.5, transferMs: 3900, completeMs: 2 },
    ...overrides,
  };
}
