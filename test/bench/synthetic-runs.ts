// Synthetic runs for the analytics benchmarks (bench:diagnose, bench:fleet): realistic reports
// drawn from a known ground truth, so that a benchmark can check what the analytics find.
import { randomUUID } from "node:crypto";
import type { FastPath, Route, RunReport } from "../../engine/index.ts";

const DAY = 86_400_000;

// Ground truth the generator draws from: per route and filesystem pair, ms = fixed + per file +
// per byte + per entry, then lognormal noise (σ 0.15), and a few runs with a known cause.
const PAIRS: { route: Route; src: string; dst: string; share: number; fixed: number; file: number; byte: number; entry: number }[] = [
  { route: "local", src: "ext4", dst: "ext4", share: 0.45, fixed: 45, file: 0.035, byte: 2.2e-6, entry: 0.004 },
  { route: "local", src: "ext4", dst: "xfs", share: 0.2, fixed: 50, file: 0.04, byte: 2.8e-6, entry: 0.005 },
  { route: "push", src: "ext4", dst: "ext4", share: 0.2, fixed: 350, file: 0.12, byte: 9e-6, entry: 0.01 },
  { route: "pull", src: "xfs", dst: "ext4", share: 0.15, fixed: 380, file: 0.15, byte: 1.1e-5, entry: 0.012 },
];

function generator(seed: number) {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return { random, normal };
}

/** Runs generated with a known cause of slowness: outside load (3–5×) or a 10 MiB/s --bwlimit. */
export const planted = new Map<string, "load" | "throttle">();

/** `n` runs spread evenly over the 30 days before `now`, recorded under host `host`. */
export function makeRuns(n: number, now: number, host = "bench-host"): RunReport[] {
  const { random, normal } = generator(42);
  const out: RunReport[] = [];
  for (let i = 0; i < n; i++) {
    let pick = random();
    const pair = PAIRS.find((p) => (pick -= p.share) < 0) ?? PAIRS[0]!;
    const files = Math.round(Math.exp(Math.log(10) + random() * Math.log(20_000)));
    const perFile = Math.exp(Math.log(30_000) + normal() * 1.2);
    const bytes = Math.round(files * perFile);
    const dirs = Math.max(1, Math.round(files / (20 + random() * 200)));
    const zeroChange = random() < 0.25;
    const copied = zeroChange ? 0 : files;
    const copiedBytes = zeroChange ? 0 : bytes;
    const workers = [2, 4, 4, 8, 8, 16][Math.floor(random() * 6)]!;
    const throttled = random() < 0.03;
    const bwlimit = throttled ? 10 * 1024 * 1024 : 0;
    const entries = files + dirs;
    let totalMs = (pair.fixed + pair.file * copied + pair.byte * copiedBytes + pair.entry * entries) * Math.exp(0.15 * normal());
    const loaded = random() < 0.02;
    if (loaded) totalMs *= 3 + random() * 2;
    if (throttled) totalMs = Math.max(totalMs, pair.fixed + (copiedBytes / bwlimit) * 1000);
    const enumerateMs = Math.min(totalMs * 0.95, pair.entry * entries * 1.1 + 5);
    const planMs = totalMs * 0.01;
    const transferMs = Math.max(0, totalMs - enumerateMs - planMs);
    const startedAt = new Date(now - 30 * DAY + (i / n) * 30 * DAY);
    const small = Math.round(files * Math.min(1, Math.max(0, 0.5 + 0.3 * normal())));
    const path: FastPath = pair.route === "local" ? "copy_file_range" : "stream";
    const id = randomUUID();
    // A limit only sets the pace when the run moves enough bytes to reach it.
    if (throttled && copiedBytes / bwlimit * 1000 > 2 * (pair.fixed + pair.file * copied + pair.byte * copiedBytes)) planted.set(id, "throttle");
    else if (loaded) planted.set(id, "load");
    out.push({
      id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date(startedAt.getTime() + totalMs).toISOString(),
      host,
      pid: 1000 + i,
      os: "linux 6.8.0",
      blitVersion: "0.1.0",
      command: random() < 0.7 ? "mirror" : "copy",
      route: pair.route,
      source: pair.route === "pull" ? "blit://files.example:9031/data/set" : `/data/set${i % 20}`,
      destination: pair.route === "push" ? "blit://backup.example:9031/sets/set" : `/backup/set${i % 20}`,
      sourceFs: pair.src,
      destinationFs: pair.dst,
      options: { dryRun: false, checksum: false, sizeOnly: false, ignoreTimes: false, exclude: [], workers, bwlimit, maxDelete: -1, force: false, owner: false, group: false, xattrs: false, acls: false },
      workload: { files, bytes, dirs, symlinks: 0, sizeHistogram: { "<4K": Math.round(small / 2), "<64K": small - Math.round(small / 2), "<16M": files - small } },
      plan: { strategy: "mixed-batched", workers, classes: [] },
      phases: { enumerateMs, planMs, transferMs, deleteMs: 0, totalMs },
      counts: {
        planned: copied, plannedBytes: copiedBytes, copied, copiedBytes, skipped: files - copied, skippedBytes: bytes - copiedBytes,
        deleted: 0, deletePlanned: 0, dirsCreated: zeroChange ? 0 : dirs, symlinks: 0,
      },
      bytesByPath: copiedBytes ? { [path]: copiedBytes } : {},
      filesByPath: copied ? { [path]: copied } : {},
      fastPathNotes: pair.route === "local" ? { reflink: "reflink refused: EOPNOTSUPP (operation not supported) on ext4" } : {},
      errors: [],
      errorCount: 0,
      status: "ok",
      exitCode: 0,
      ...(pair.route === "local" ? {} : { transport: { kind: "tcp" as const, negotiateMs: 3, transferMs, completeMs: 2 } }),
    });
  }
  return out;
}

