// Shared helpers for the diagnose suites: temp trees, real runs recorded in a temp store,
// realistic synthetic reports for volume, and a fake io that captures what a person would see.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomUUID } from "node:crypto";
import { normalizeOptions, run, type RunOptions, type RunReport } from "../../engine/index.ts";
import { record } from "../../analytics/index.ts";

export const PROJECT_ROOT = resolve(import.meta.dir, "../..");

/** A fresh `blit-test-*` directory; call remove() in a finally or afterAll. */
export function tempDir(): { dir: string; store: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "blit-test-"));
  return { dir, store: join(dir, "home", "telemetry.duckdb"), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `files` files of `size` bytes spread over `dirs` directories; returns the root. */
export function makeTree(root: string, files: number, size: number, dirs = Math.max(1, Math.ceil(files / 100))): string {
  for (let d = 0; d < dirs; d++) mkdirSync(join(root, `d${d}`), { recursive: true });
  const buf = Buffer.alloc(size);
  for (let i = 0; i < files; i++) {
    buf.writeUInt32LE(i, 0); // distinct content per file
    writeFileSync(join(root, `d${i % dirs}`, `f${i}.dat`), buf);
  }
  return root;
}

/** A real mirror through the engine, recorded in the store; returns its report. */
export async function realRun(src: string, dst: string, store: string, options: Partial<RunOptions> = {}): Promise<RunReport> {
  const { report } = await run({ command: "mirror", source: src, destination: dst, options: normalizeOptions(options) });
  const stored = await record(report, { path: store });
  if (stored.stored !== "db") throw new Error(`run not stored: ${stored.warning}`);
  return report;
}

/** The real CLI in a child process, with BLIT_HOME pointing at the store's directory. */
export async function cli(args: string[], blitHome: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string | undefined> = { ...process.env, BLIT_HOME: blitHome };
  delete env.BLIT_WORKERS; // the run takes blit's default, whatever the caller's shell says
  delete env.BLIT_TELEMETRY;
  const proc = Bun.spawn([process.execPath, join(PROJECT_ROOT, "tui/blit.ts"), ...args], {
    cwd: PROJECT_ROOT,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Captures stdout and stderr as text. */
export function fakeIo(env: Record<string, string | undefined>) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env },
    stdout: () => out.join(""),
    stderr: () => err.join(""),
  };
}

/** Deterministic pseudo-random numbers (mulberry32), so synthetic histories are the same every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticShape {
  files: number;
  bytes: number;
  dirs?: number;
  /** Files transferred (default all), the rest unchanged. */
  copied?: number;
  totalMs: number;
  /** Phase shares of totalMs; default 0.15 enumerate, 0.01 plan, the rest transfer. */
  enumerateShare?: number;
  deleteShare?: number;
  deleted?: number;
  workers?: number;
  bwlimit?: number;
  startedAt: Date;
  sourceFs?: string;
  destinationFs?: string;
  bytesByPath?: RunReport["bytesByPath"];
  fastPathNotes?: Record<string, string>;
  smallShare?: number;
}

/** A complete, consistent RunReport of a local mirror, as the engine would write it. */
export function syntheticReport(s: SyntheticShape): RunReport {
  const dirs = s.dirs ?? Math.max(1, Math.ceil(s.files / 100));
  const copied = s.copied ?? s.files;
  const copiedBytes = s.files > 0 ? Math.round((s.bytes * copied) / s.files) : 0;
  const enumerateMs = s.totalMs * (s.enumerateShare ?? 0.15);
  const deleteMs = s.totalMs * (s.deleteShare ?? 0);
  const planMs = s.totalMs * 0.01;
  const transferMs = s.totalMs - enumerateMs - planMs - deleteMs;
  const workers = s.workers ?? 4;
  const small = Math.round(s.files * (s.smallShare ?? 0.9));
  return {
    id: randomUUID(),
    startedAt: s.startedAt.toISOString(),
    finishedAt: new Date(s.startedAt.getTime() + s.totalMs).toISOString(),
    host: "synthetic-host",
    pid: 4242,
    os: "linux 6.8.0",
    blitVersion: "0.1.0",
    command: "mirror",
    route: "local",
    source: "/data/src",
    destination: "/backup/dst",
    sourceFs: s.sourceFs ?? "ext4",
    destinationFs: s.destinationFs ?? "ext4",
    options: { ...normalizeOptions({ workers, bwlimit: s.bwlimit ?? 0 }) },
    workload: { files: s.files, bytes: s.bytes, dirs, symlinks: 0, sizeHistogram: { "<4K": small, "<1M": s.files - small } },
    plan: {
      strategy: "batched",
      workers,
      classes: [{ name: "small", minBytes: 0, files: copied, bytes: copiedBytes, strategy: "batched", concurrency: workers }],
    },
    phases: { enumerateMs, planMs, transferMs, deleteMs, totalMs: s.totalMs },
    counts: {
      planned: copied, plannedBytes: copiedBytes, copied, copiedBytes, skipped: s.files - copied,
      skippedBytes: s.bytes - copiedBytes, deleted: s.deleted ?? 0, deletePlanned: s.deleted ?? 0, dirsCreated: dirs, symlinks: 0,
    },
    bytesByPath: s.bytesByPath ?? { copy_file_range: copiedBytes },
    filesByPath: { copy_file_range: copied },
    fastPathNotes: s.fastPathNotes ?? { reflink: "reflink refused: EOPNOTSUPP (operation not supported) on ext4" },
    errors: [],
    errorCount: 0,
    status: "ok",
    exitCode: 0,
  };
}

/** Duration of a local run on this kind of machine: 40 ms + 0.03 ms/file + 2.5 ns/byte, ±noise. */
export function realisticMs(files: number, bytes: number, noise: number): number {
  return (40 + 0.03 * files + 2.5e-6 * bytes) * noise;
}
