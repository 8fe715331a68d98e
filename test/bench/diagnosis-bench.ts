#!/usr/bin/env bun
// The labelled diagnosis benchmark (issue 13): real mirrors on this machine, some slowed on purpose
// by a known cause, each slowed run right after an ordinary run of the same tree (its control),
// then `blit diagnose RUN --format json` of every run. It scores the kind of the first cause
// against the cause that was induced (the confusion table), the flags and causes on ordinary runs,
// and `blit predict` on shapes absent from the history. Follows ../shared/BENCHMARKING.md (beside
// the repository): every destination fresh (nothing deleted between runs), `sync` after each run,
// the workspace, loop devices and background loads removed in `finally` and on SIGINT/SIGTERM.
//
//   bun test/bench/diagnosis-bench.ts [--runs-per-cause N] [--ordinary N] [--only causes] [--scale F] [--keep-going]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { makeSmallTree } from "./gen.ts";
import { median, run, stopAll, sync } from "./measure.ts";
import {
  dropCaches, inducerMissing, loadTools, makeCloneMount, makeSyncMount, startCpuLoad, startIoLoad, startReader, stopInduced, TRACER_PREFIX,
  type InducedCause, type Load, type SyncMount,
} from "./induce.ts";

const HELP = `Usage: bun test/bench/diagnosis-bench.ts [--runs-per-cause N] [--ordinary N] [--only causes] [--scale F] [--keep-going]

Builds a tree of mixed sizes (about 20,000 files, 300 MB at --scale 1) in a workspace under the OS
temp dir with its own BLIT_HOME, runs --ordinary ordinary mirrors (>= 20, default 20) after one
warm-up, then for each cause --runs-per-cause (>= 3, default 3) slowed mirrors, each right after an
ordinary mirror of the same tree. After each run it reads \`blit diagnose RUN --format json\`: the
kind of the first cause (explanation.causes[0].kind) of slowed runs, the flags and causes of
ordinary ones. A slowed run counts only if it took >= 1.5x its control. At the end it makes five
tree shapes absent from the history and compares \`blit predict\` with the real run.

Causes (--only takes a comma-separated list of these names):
  bwlimit      --bwlimit at a third of the control run's rate        expects bwlimit
  workers      --workers 1 on a tree of small files                  expects workers
  cpu          stress-ng --cpu N (or N busy yes loops), N = cores    expects cpu-contention
  io           fio (or dd oflag=direct) writing on the same disk     expects io-contention
  sync-device  destination on a loop device mounted -o sync          expects slow-device
               (on the mixed tree's 2,700 x 32 KiB part only)
  cold-cache   sync; echo 3 > /proc/sys/vm/drop_caches before        expects cold-cache or enumeration
  tracer       the run under strace -f -o /dev/null                  expects tracer
  scanner      find DST -type f -exec cat {} + loops (one per core)  expects scanner
  fast-path    16 x 64 MiB on an XFS loop device (reflink=1): the     expects fast-path
               control mirrors within the XFS (clones), the slowed
               run to the workspace's disk (every byte written)
A cause whose tools are missing is skipped with how to get them (apt-get install stress-ng fio strace xfsprogs).
--scale multiplies every tree's file count (0.05 for a quick check of the harness).
--keep-going: a run or diagnosis that fails is reported and left out instead of stopping the benchmark.
Needs about 300 MB x (ordinary runs + 2 x slowed runs) of free space in the temp dir at --scale 1.`;

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: {
    "runs-per-cause": { type: "string" },
    ordinary: { type: "string" },
    only: { type: "string" },
    scale: { type: "string" },
    "keep-going": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}

interface CauseSpec {
  name: InducedCause;
  /** Kinds that count as naming this cause first. */
  expect: string[];
  /**
   * The tree the cause and its control run on ("medium": the mixed tree's 32 KiB part; "clone":
   * large files on an XFS loop device with reflink, whose control mirrors within that XFS).
   */
  tree: "mixed" | "small" | "medium" | "clone";
}

const CAUSES: CauseSpec[] = [
  { name: "bwlimit", expect: ["bwlimit"], tree: "mixed" },
  { name: "workers", expect: ["workers"], tree: "small" },
  { name: "cpu", expect: ["cpu-contention"], tree: "mixed" },
  { name: "io", expect: ["io-contention"], tree: "mixed" },
  // Every write waits for the device: 20,000 files would take minutes a run, so 2,700 files.
  { name: "sync-device", expect: ["slow-device"], tree: "medium" },
  // The issue names "a cold page cache / enumeration-bound run" as one cause with two kinds.
  { name: "cold-cache", expect: ["cold-cache", "enumeration"], tree: "mixed" },
  { name: "tracer", expect: ["tracer"], tree: "mixed" },
  { name: "scanner", expect: ["scanner"], tree: "mixed" },
  // Mirrored within its XFS the tree is cloned; mirrored to the workspace's disk every byte is written.
  { name: "fast-path", expect: ["fast-path"], tree: "clone" },
];

const wholeAtLeast = (name: string, text: string | undefined, fallback: number, min: number): number => {
  const n = Number(text ?? fallback);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} needs a whole number of at least ${min}, got '${text}'`);
  return n;
};
const runsPerCause = wholeAtLeast("runs-per-cause", flags["runs-per-cause"], 3, 3);
const ordinaryRuns = wholeAtLeast("ordinary", flags.ordinary, 20, 20);
const scale = Number(flags.scale ?? 1);
if (!(scale > 0)) throw new RangeError(`--scale needs a positive number, got '${flags.scale}'`);
const keepGoing = flags["keep-going"] ?? false;
const only = flags.only ? flags.only.split(",").map((s) => s.trim()).filter(Boolean) : CAUSES.map((c) => c.name);
for (const name of only) {
  if (!CAUSES.some((c) => c.name === name)) throw new RangeError(`--only: unknown cause '${name}' (known: ${CAUSES.map((c) => c.name).join(", ")})`);
}
const SLOWED = 1.5;

const repo = fileURLToPath(new URL("../../", import.meta.url));
const bun = process.execPath;
const ws = mkdtempSync(join(tmpdir(), "blit-bench-diagnosis-"));
const home = join(ws, "home");
const env: Record<string, string | undefined> = { ...process.env, BLIT_HOME: home };
delete env.BLIT_WORKERS; // the runs take blit's default, whatever the caller's shell says
delete env.BLIT_TELEMETRY; // every run is recorded: that is the history diagnose learns from

let cleaned = false;
function cleanupAll(): void {
  if (cleaned) return;
  cleaned = true;
  stopInduced();
  rmSync(ws, { recursive: true, force: true });
}
const onSignal = (code: number) => () => {
  process.stderr.write("\ninterrupted: stopping loads, unmounting, removing the workspace\n");
  void stopAll().finally(() => (cleanupAll(), process.exit(code)));
};
process.on("SIGINT", onSignal(130));
process.on("SIGTERM", onSignal(143));

const log = (s: string) => process.stderr.write(`${s}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

// ---- trees ----

interface TreeInfo {
  root: string;
  files: number;
  bytes: number;
  /** Where its ordinary runs write (default: the workspace's dst/). */
  dstBase?: string;
}

const scaled = (n: number, min = 1) => Math.max(min, Math.round(n * scale));

/** Size classes of the main tree: 17,000 x 4 KiB, 2,700 x 32 KiB, 300 x 512 KiB (about 300 MB). */
async function makeMixedTree(root: string): Promise<TreeInfo & { parts: Record<string, TreeInfo> }> {
  const parts = [
    { sub: "small", files: scaled(17_000, 20), size: 4096, dirs: scaled(170, 2) },
    { sub: "medium", files: scaled(2_700, 5), size: 32 << 10, dirs: scaled(27, 1) },
    { sub: "large", files: scaled(300, 2), size: 512 << 10, dirs: scaled(6, 1) },
  ];
  let files = 0;
  let bytes = 0;
  const made: Record<string, TreeInfo> = {};
  for (const p of parts) {
    const t = await makeSmallTree(root, p);
    files += t.files;
    bytes += t.bytes;
    made[p.sub] = { root: join(root, p.sub), files: t.files, bytes: t.bytes };
  }
  return { root, files, bytes, parts: made };
}

/** Small files only, where one worker cannot keep the disk and the CPUs busy. */
async function makeSmallFilesTree(root: string): Promise<TreeInfo> {
  const t = await makeSmallTree(root, { files: scaled(20_000, 50), size: 2048, dirs: scaled(200, 2) });
  return { root, files: t.files, bytes: t.bytes };
}

/**
 * 16 files of 64 MiB (1 GiB, whatever --scale: a clone saves too little of a smaller tree to
 * matter) on a fresh XFS loop device with reflink=1; its ordinary runs mirror within that XFS.
 */
async function makeCloneTree(dir: string): Promise<TreeInfo> {
  const files = 16;
  const size = 64 << 20;
  const mount = makeCloneMount(dir, files * size * 2 + (256 << 20));
  const t = await makeSmallTree(join(mount.path, "src"), { files, size, dirs: 1 });
  return { root: join(mount.path, "src"), files: t.files, bytes: t.bytes, dstBase: join(mount.path, "dst") };
}

/** `files` files of `size` bytes, 5 per directory, in one chain of nested directories. */
async function makeDeepTree(root: string, files: number, size: number): Promise<TreeInfo & { dirs: number; nested: true }> {
  let dir = root;
  let made = 0;
  let dirs = 0;
  for (let d = 0; made < files; d++) {
    dir = join(dir, `n${d % 10}`);
    const t = await makeSmallTree(dir, { files: Math.min(5, files - made), size, dirs: 1 });
    made += t.files;
    dirs += 2; // dir and its d000
  }
  return { root, files: made, bytes: made * size, dirs, nested: true };
}

// ---- runs ----

interface RunOutcome {
  id: string;
  /** The engine's own duration (report.phases.totalMs): what diagnose and predict speak of. */
  totalMs: number;
  wallMs: number;
}

interface Diagnosis {
  topKind: string;
  causeKinds: string[];
  flagKinds: string[];
}

let dstSerial = 0;
/** A destination path never used before in this workspace. */
function freshDst(under = join(ws, "dst")): string {
  return join(under, `d${String(++dstSerial).padStart(4, "0")}`);
}

function blitCmd(args: string[]): string[] {
  return [bun, join(repo, "tui/blit.ts"), ...args];
}

/** Waits (at most 30 s) until the disks did no I/O for a second; returns the milliseconds waited. */
async function settle(): Promise<number> {
  const t0 = performance.now();
  const busy = () => readFileSync("/proc/diskstats", "utf8").split("\n").reduce((a, l) => a + (Number(l.trim().split(/\s+/)[12]) || 0), 0);
  let before = busy();
  while (performance.now() - t0 < 30_000) {
    await Bun.sleep(1000);
    const now = busy();
    if (now - before < 20) break; // under 2% of the second busy
    before = now;
  }
  return performance.now() - t0;
}

/** Reads every file under `root` once (into the page cache). */
function readAll(root: string): void {
  Bun.spawnSync(["sh", "-c", 'find "$1" -type f -exec cat {} + > /dev/null', "sh", root]);
}

/** One `blit mirror SRC DST --json` (optionally under a command prefix such as strace), then sync. */
async function mirror(src: string, dst: string, extra: string[] = [], prefix: string[] = []): Promise<RunOutcome> {
  const t0 = performance.now();
  const r = await run([...prefix, ...blitCmd(["mirror", src, dst, "--json", "--no-progress", ...extra])], env);
  const wallMs = performance.now() - t0;
  await sync();
  if (r.exitCode !== 0) throw new Error(`blit mirror ${extra.join(" ")} exited ${r.exitCode}: ${r.stderr.trim().slice(-400)}`);
  const report = JSON.parse(r.stdout) as { id: string; phases: { totalMs: number }; status: string };
  return { id: report.id, totalMs: report.phases.totalMs, wallMs };
}

/** `blit diagnose ID --format json`: the first cause's kind and every cause and flag kind. */
async function diagnose(id: string): Promise<Diagnosis> {
  const r = await run(blitCmd(["diagnose", id, "--format", "json"]), env);
  if (r.exitCode !== 0) throw new Error(`blit diagnose ${id} exited ${r.exitCode}: ${r.stderr.trim().slice(-400)}`);
  const d = JSON.parse(r.stdout) as { flags?: { kind?: string }[]; explanation?: { causes?: { kind?: string }[] } };
  const causes = d.explanation?.causes ?? [];
  const kindOf = (x: { kind?: string }) => (typeof x.kind === "string" && x.kind ? x.kind : "(no kind)");
  return {
    topKind: causes.length ? kindOf(causes[0]!) : "(no cause)",
    causeKinds: causes.map(kindOf),
    flagKinds: (d.flags ?? []).map(kindOf),
  };
}

/** Runs `step`; with --keep-going a failure is printed and yields undefined instead of ending the benchmark. */
async function attempt<T>(what: string, step: () => Promise<T>): Promise<T | undefined> {
  try {
    return await step();
  } catch (e) {
    if (!keepGoing) throw e;
    log(`  FAILED ${what}: ${(e as Error).message} (left out; --keep-going)`);
    return undefined;
  }
}

// ---- the causes ----

interface Slowed {
  cause: InducedCause;
  round: number;
  controlMs: number;
  slowedMs: number;
  ratio: number;
  topKind: string;
  right: boolean;
}

interface Ordinary {
  id: string;
  totalMs: number;
  flagKinds: string[];
  causeKinds: string[];
  role: "ordinary" | "control";
}

let syncMount: SyncMount | undefined;

/** Runs one slowed mirror of `src` for `cause` into a fresh destination; `control` is the run before it. */
async function slowedRun(cause: CauseSpec, tree: TreeInfo, control: RunOutcome): Promise<RunOutcome> {
  const dst = freshDst();
  const under = async (load: Load, settleMs: number, step: () => Promise<RunOutcome>) => {
    try {
      await Bun.sleep(settleMs); // let the load reach its pace before blit starts
      return await step();
    } finally {
      await load.stop();
    }
  };
  switch (cause.name) {
    case "bwlimit": {
      // A third of the rate the control run reached: the cap, not the disk, sets the pace.
      const rate = Math.max(64 << 10, Math.floor(tree.bytes / (control.totalMs / 1000) / 3));
      return mirror(tree.root, dst, ["--bwlimit", String(rate)]);
    }
    case "workers":
      return mirror(tree.root, dst, ["--workers", "1"]);
    case "cpu":
      return under(startCpuLoad(availableParallelism()), 300, () => mirror(tree.root, dst));
    case "io":
      return under(startIoLoad(join(ws, "io-load")), 1000, () => mirror(tree.root, dst));
    case "sync-device": {
      syncMount ??= makeSyncMount(join(ws, "sync-device"), Math.ceil(tree.bytes * runsPerCause * 1.4) + (64 << 20) + tree.files * runsPerCause * 4096, Math.ceil(tree.files * runsPerCause * 1.2) + 1000);
      return mirror(tree.root, freshDst(syncMount.path));
    }
    case "cold-cache":
      dropCaches();
      return mirror(tree.root, dst);
    case "tracer":
      return mirror(tree.root, dst, [], TRACER_PREFIX);
    case "scanner":
      return under(startReader(dst), 100, () => mirror(tree.root, dst));
    case "fast-path":
      // the workspace's disk: another filesystem than the tree's XFS
      return mirror(tree.root, dst);
  }
}

// ---- prediction on new shapes ----

interface PredictCheck {
  shape: string;
  predictedMs: number;
  lowMs: number;
  highMs: number;
  actualMs: number;
  error: number;
  inBand: boolean;
}

/** Shapes absent from the history (file counts at --scale 1; the label printed is what was made). */
const PREDICT_SHAPES: ((root: string) => Promise<TreeInfo & { dirs: number; nested?: boolean }>)[] = [
  (r) => makeSmallTree(r, { files: scaled(5_000, 20), size: 16 << 10, dirs: scaled(50, 1) }),
  (r) => makeSmallTree(r, { files: scaled(40_000, 50), size: 1024, dirs: scaled(400, 2) }),
  (r) => makeSmallTree(r, { files: scaled(60, 3), size: 4 << 20, dirs: 1 }),
  (r) => makeDeepTree(r, scaled(8_000, 20), 8192),
  (r) => makeSmallTree(r, { files: scaled(1_500, 5), size: 128 << 10, dirs: scaled(15, 1) }),
];

function shapeLabel(t: { files: number; bytes: number; dirs: number; nested?: boolean }): string {
  const size = t.bytes / t.files;
  const each = size >= 1 << 20 ? `${size / (1 << 20)} MiB` : `${size / 1024} KiB`;
  return `${t.files.toLocaleString("en-US")} x ${each}${t.nested ? `, 5 per dir, ${t.dirs} nested dirs` : ` in ${t.dirs} dir${t.dirs === 1 ? "" : "s"}`}`;
}

async function predictThenRun(label: string, tree: TreeInfo): Promise<PredictCheck> {
  const dst = freshDst();
  const r = await run(blitCmd(["predict", tree.root, dst, "--format", "json"]), env);
  if (r.exitCode !== 0) throw new Error(`blit predict exited ${r.exitCode}: ${r.stderr.trim().slice(-400)}`);
  const p = (JSON.parse(r.stdout) as { prediction: { durationMs: number; lowMs: number; highMs: number } }).prediction;
  const actual = await mirror(tree.root, dst);
  return {
    shape: label,
    predictedMs: p.durationMs,
    lowMs: p.lowMs,
    highMs: p.highMs,
    actualMs: actual.totalMs,
    error: Math.abs(p.durationMs - actual.totalMs) / actual.totalMs,
    inBand: p.lowMs <= actual.totalMs && actual.totalMs <= p.highMs,
  };
}

// ---- report ----

function confusionTable(slowed: Slowed[], causes: CauseSpec[]): string[] {
  const kinds = [...new Set(slowed.map((s) => s.topKind))].sort();
  const w = Math.max(12, ...kinds.map((k) => k.length + 1));
  const first = Math.max(22, ...causes.map((c) => c.name.length + c.expect[0]!.length + 4));
  const lines = [`  ${"induced \\ named first".padEnd(first)}${kinds.map((k) => k.padStart(w)).join("")}${"right".padStart(8)}`];
  for (const c of causes) {
    const rows = slowed.filter((s) => s.cause === c.name);
    if (!rows.length) continue;
    const cells = kinds.map((k) => String(rows.filter((s) => s.topKind === k).length || ".").padStart(w)).join("");
    lines.push(`  ${`${c.name} (${c.expect[0]})`.padEnd(first)}${cells}${`${rows.filter((s) => s.right).length}/${rows.length}`.padStart(8)}`);
  }
  return lines;
}

// ---- main ----

const selected = CAUSES.filter((c) => only.includes(c.name));
const skipped: { cause: string; why: string }[] = [];
const causes = selected.filter((c) => {
  const why = inducerMissing(c.name);
  if (why) skipped.push({ cause: c.name, why });
  return !why;
});
const tools = loadTools();

try {
  // Nothing is deleted between runs (BENCHMARKING.md), so every run's output stays until the end.
  const mixedBytes = 17_000 * 4096 + 2_700 * (32 << 10) + 300 * (512 << 10);
  const runsOnMixed = 1 + ordinaryRuns + 2 * runsPerCause * causes.filter((c) => c.tree === "mixed").length;
  const cloneBytes = causes.some((c) => c.tree === "clone") ? (1 << 30) * (runsPerCause + 2.5) : 0;
  const needed = scale * (mixedBytes * (runsOnMixed + 1) * 1.15 + 40e6 * 2 * runsPerCause + 350e6 * 2) + cloneBytes;
  const fs = statfsSync(tmpdir());
  const free = fs.bavail * fs.bsize;
  if (free < needed) {
    throw new Error(`about ${(needed / 1e9).toFixed(1)} GB are needed in ${tmpdir()} and ${(free / 1e9).toFixed(1)} GB are free: use a smaller --scale, fewer --ordinary or --runs-per-cause, or TMPDIR=another disk`);
  }
  log(`workspace ${ws} (about ${(needed / 1e9).toFixed(1)} GB at the end), ${availableParallelism()} cores`);
  for (const s of skipped) log(`skipped cause ${s.cause}: ${s.why}`);
  for (const n of tools.notes) log(n);

  log("generating the trees...");
  const mixed = await makeMixedTree(join(ws, "src-mixed"));
  const small = causes.some((c) => c.tree === "small") ? await makeSmallFilesTree(join(ws, "src-small")) : undefined;
  const clone = causes.some((c) => c.tree === "clone") ? await makeCloneTree(join(ws, "clone-device")) : undefined;
  await sync();
  log(`  mixed: ${mixed.files} files, ${(mixed.bytes / 1e6).toFixed(0)} MB${small ? `; small: ${small.files} files, ${(small.bytes / 1e6).toFixed(0)} MB` : ""}`);
  // The disk may still be busy with what the trees' writing set off (journal, writeback): the
  // history should start on an idle machine, as an ordinary run would.
  log(`  disk idle after ${((await settle()) / 1000).toFixed(1)} s`);
  const treeOf = (c: CauseSpec) => (c.tree === "small" ? small! : c.tree === "medium" ? mixed.parts.medium! : c.tree === "clone" ? clone! : mixed);

  const ordinary: Ordinary[] = [];
  const slowed: Slowed[] = [];
  const notSlowed: { cause: string; round: number; controlMs: number; slowedMs: number; ratio: number; topKind: string }[] = [];

  /** An ordinary run of `tree` into a fresh destination, diagnosed; recorded as ordinary or control. */
  async function ordinaryRun(tree: TreeInfo, role: Ordinary["role"], label: string): Promise<RunOutcome | undefined> {
    return attempt(label, async () => {
      const r = await mirror(tree.root, freshDst(tree.dstBase));
      const d = await diagnose(r.id);
      ordinary.push({ id: r.id, totalMs: r.totalMs, flagKinds: d.flagKinds, causeKinds: d.causeKinds, role });
      const marks = [...d.flagKinds.map((k) => `flag ${k}`), ...d.causeKinds.map((k) => `cause ${k}`)];
      log(`  ${label}: ${sec(r.totalMs)}${marks.length ? `  [${marks.join(", ")}]` : ""}`);
      return r;
    });
  }

  log("warm-up (recorded, not scored)");
  await mirror(mixed.root, freshDst());
  log(`${ordinaryRuns} ordinary runs`);
  for (let i = 1; i <= ordinaryRuns; i++) await ordinaryRun(mixed, "ordinary", `ordinary ${i}`);

  // Rounds interleave the causes, so that each cause meets a history grown by all the others.
  for (let round = 1; round <= runsPerCause; round++) {
    log(`round ${round} of ${runsPerCause}`);
    for (const cause of causes) {
      const tree = treeOf(cause);
      const control = await ordinaryRun(tree, "control", `${cause.name} control`);
      if (!control) continue;
      await attempt(`${cause.name} slowed run`, async () => {
        const r = await slowedRun(cause, tree, control);
        const d = await diagnose(r.id);
        const ratio = r.totalMs / control.totalMs;
        const row = { cause: cause.name, round, controlMs: control.totalMs, slowedMs: r.totalMs, ratio, topKind: d.topKind };
        if (ratio < SLOWED) notSlowed.push(row);
        else slowed.push({ ...row, right: cause.expect.includes(d.topKind) });
        log(`  ${cause.name} slowed: ${sec(r.totalMs)} = ${ratio.toFixed(2)}x control; first cause: ${d.topKind}${ratio < SLOWED ? "  (not slowed 1.5x: left out)" : cause.expect.includes(d.topKind) ? "  RIGHT" : "  miss"}`);
      });
      // The page-cache drop left every tree cold: read them back, so the next control is the
      // ordinary warm run it stands for.
      if (cause.name === "cold-cache") for (const t of [mixed, small]) if (t) readAll(t.root);
    }
  }

  log("prediction on new shapes: predict, then run");
  const predicted: PredictCheck[] = [];
  for (const [i, make] of PREDICT_SHAPES.entries()) {
    await attempt(`predict shape ${i + 1}`, async () => {
      const tree = await make(join(ws, `src-new${i}`));
      await sync();
      const p = await predictThenRun(shapeLabel(tree), tree);
      predicted.push(p);
      log(`  ${p.shape}: predicted ${sec(p.predictedMs)} (80% band ${sec(p.lowMs)}-${sec(p.highMs)}), actual ${sec(p.actualMs)}, error ${pct(p.error)}${p.inBand ? "" : "  (outside the band)"}`);
    });
  }

  // ---- report ----
  const right = slowed.filter((s) => s.right).length;
  const rightShare = slowed.length ? right / slowed.length : 0;
  const flaggedOrdinary = ordinary.filter((o) => o.flagKinds.length || o.causeKinds.length);
  const flaggedShare = ordinary.length ? flaggedOrdinary.length / ordinary.length : 0;
  const mdErr = predicted.length ? median(predicted.map((p) => p.error)) : NaN;
  const inBand = predicted.filter((p) => p.inBand).length;
  const ordMs = ordinary.map((o) => o.totalMs);

  const out: string[] = [];
  out.push(`\ndiagnosis benchmark (scale ${scale}; mixed tree ${mixed.files} files, ${(mixed.bytes / 1e6).toFixed(0)} MB, on ${tmpdir()}; ${availableParallelism()} cores; CPU load ${tools.cpu}, I/O load ${tools.io})`);
  out.push(`ordinary runs: ${ordinary.length} (${ordinary.filter((o) => o.role === "ordinary").length} in a row, ${ordinary.filter((o) => o.role === "control").length} controls), median ${ordMs.length ? sec(median(ordMs)) : "?"}, min ${ordMs.length ? sec(Math.min(...ordMs)) : "?"}, max ${ordMs.length ? sec(Math.max(...ordMs)) : "?"}`);
  out.push(`\nconfusion table (slowed >= ${SLOWED}x their control; columns: kind of the first cause in diagnose --format json)`);
  out.push(...confusionTable(slowed, causes));
  if (notSlowed.length) {
    out.push(`\nleft out, not slowed ${SLOWED}x by their cause:`);
    for (const n of notSlowed) out.push(`  ${n.cause} round ${n.round}: ${sec(n.slowedMs)} vs control ${sec(n.controlMs)} = ${n.ratio.toFixed(2)}x (first cause: ${n.topKind})`);
  }
  for (const s of skipped) out.push(`skipped cause ${s.cause}: ${s.why}`);
  out.push(`\nright first cause: ${right} of ${slowed.length} slowed runs = ${pct(rightShare)}   target >= 90%  ${slowed.length && rightShare >= 0.9 ? "PASS" : "MISS"}`);
  out.push(`ordinary runs with a flag or cause: ${flaggedOrdinary.length} of ${ordinary.length} = ${pct(flaggedShare)}   target <= 5%  ${ordinary.length && flaggedShare <= 0.05 ? "PASS" : "MISS"}`);
  const flagCounts = new Map<string, number>();
  for (const o of flaggedOrdinary) for (const k of new Set([...o.flagKinds.map((x) => `flag ${x}`), ...o.causeKinds.map((x) => `cause ${x}`)])) flagCounts.set(k, (flagCounts.get(k) ?? 0) + 1);
  if (flagCounts.size) out.push(`  on ordinary runs: ${[...flagCounts].map(([k, n]) => `${k} x${n}`).join(", ")}`);
  out.push(`\nblit predict on ${predicted.length} shapes absent from the history:`);
  for (const p of predicted) out.push(`  ${p.shape.padEnd(40)} predicted ${sec(p.predictedMs).padStart(8)}  band ${sec(p.lowMs)}-${sec(p.highMs)}  actual ${sec(p.actualMs).padStart(8)}  error ${pct(p.error).padStart(5)}${p.inBand ? "" : "  outside band"}`);
  out.push(`  median error ${Number.isNaN(mdErr) ? "?" : pct(mdErr)}   target <= 20% (moonshot 10%)  ${mdErr <= 0.2 ? "PASS" : "MISS"}`);
  out.push(`  80% band held the actual for ${inBand} of ${predicted.length}   target >= 4 of 5  ${inBand >= 4 ? "PASS" : "MISS"}`);
  console.log(out.join("\n"));
  console.log(JSON.stringify({
    scale, runsPerCause, cores: availableParallelism(), tools: { cpu: tools.cpu, io: tools.io },
    tree: { files: mixed.files, bytes: mixed.bytes },
    slowed, notSlowed, skipped,
    rightShare, ordinaryRuns: ordinary.length, ordinaryFlagged: flaggedOrdinary.length, ordinaryFlaggedShare: flaggedShare,
    ordinaryMedianMs: ordMs.length ? median(ordMs) : null,
    predict: { checks: predicted, medianError: Number.isNaN(mdErr) ? null : mdErr, inBand },
  }));
} finally {
  cleanupAll();
}
process.exit(0);
