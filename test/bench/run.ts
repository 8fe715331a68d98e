#!/usr/bin/env bun
// `npm run bench`: blit against `cp -a` and `rsync -a` on local disk, following
// ../shared/BENCHMARKING.md (beside the repository): fresh destinations (nothing is deleted between runs), one warm-up
// run per tool thrown away, tools interleaved, `sync` after every run, medians of >= 3 runs with
// min/max, the workspace removed at the end (also on failure, SIGINT and SIGTERM).
// See docs/benchmarks.md.
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatScenario, fmtTarget, type ScenarioResult, type Target, type ToolStats } from "./format.ts";
import { makeRandomFile, makeSmallTree, rewriteFile, type SmallTree, type Tree } from "./gen.ts";
import { median, run, stopAll, sync, timed, type Timed } from "./measure.ts";

const SCENARIOS = ["small-fresh", "small-0change", "small-deep-change", "large-1g", "mixed"] as const;
type ScenarioName = (typeof SCENARIOS)[number];

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const USAGE = `Usage: bun test/bench/run.ts [flags]      (npm run bench -- [flags])

Compares 'blit mirror' with 'cp -a' and 'rsync -a' on the disk that holds the temp dir.
Takes several minutes at full scale and needs rsync, GNU time (/usr/bin/time) and diff.

Flags:
  --only NAME      run only this scenario (repeatable, or comma-separated):
                   ${SCENARIOS.join(", ")}
  --scale F        multiply file counts (small files) and file sizes (large files) by F (default 1);
                   --scale 0.05 is a quick smoke run. Targets are meant for --scale 1.
  --runs N         measured runs per tool, at least 3 (default 3); one more warm-up run is discarded
  --workers N      pass --workers N to blit (default: blit's own default)
  --blit-arg ARG   pass ARG to blit too (repeatable), e.g. --blit-arg=-H --blit-arg=-X to
                   measure what keeping hard links or extended attributes costs
  --out FILE       also write the JSON summary to FILE
  -h, --help       this text

Output: progress on stderr; on stdout the table, then the JSON summary as the last line.`;

// ---------------------------------------------------------------------------------------------
// Arguments

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: {
    only: { type: "string", multiple: true },
    scale: { type: "string" },
    runs: { type: "string" },
    workers: { type: "string" },
    "blit-arg": { type: "string", multiple: true },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
function usageError(msg: string): never {
  console.error(`bench: ${msg}\n\n${USAGE}`);
  process.exit(2);
}
const scale = flags.scale === undefined ? 1 : Number(flags.scale);
if (!Number.isFinite(scale) || scale <= 0) usageError(`--scale needs a positive number, got '${flags.scale}'`);
const runs = flags.runs === undefined ? 3 : Number(flags.runs);
if (!Number.isInteger(runs) || runs < 3) usageError(`--runs needs a whole number of at least 3 (BENCHMARKING.md), got '${flags.runs}'`);
if (flags.workers !== undefined && !/^\d+$/.test(flags.workers)) usageError(`--workers needs a whole number, got '${flags.workers}'`);
const only = new Set<ScenarioName>();
for (const o of (flags.only ?? []).flatMap((s) => s.split(","))) {
  const name = o.trim();
  if (!(SCENARIOS as readonly string[]).includes(name)) usageError(`unknown scenario '${name}'`);
  only.add(name as ScenarioName);
}
const selected = SCENARIOS.filter((s) => only.size === 0 || only.has(s));

// ---------------------------------------------------------------------------------------------
// Workspace and cleanup

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const blitEntry = join(repoRoot, "tui", "blit.ts");
const bunBin = process.execPath;
const ws = mkdtempSync(join(tmpdir(), "blit-bench-"));
const blitHome = join(ws, "blit-home");
const timeDir = join(ws, "time");
mkdirSync(blitHome);
mkdirSync(timeDir);

const blitEnv: Record<string, string | undefined> = { ...process.env, BLIT_HOME: blitHome };
delete blitEnv.BLIT_TELEMETRY; // telemetry on (the default) unless a run passes --no-telemetry

const say = (s = "") => process.stdout.write(s + "\n");
const note = (s: string) => process.stderr.write(`bench: ${s}\n`);

let removed = false;
function removeWorkspace(): void {
  if (removed) return;
  removed = true;
  if (!basename(ws).startsWith("blit-bench-") || !existsSync(ws)) return;
  note(`removing workspace ${ws} (large trees take a while)...`);
  const t0 = performance.now();
  // In its own session so that a Ctrl-C at the terminal does not cut the removal short.
  Bun.spawnSync(["setsid", "-w", "rm", "-rf", "--one-file-system", ws], { stdout: "inherit", stderr: "inherit" });
  if (existsSync(ws)) rmSync(ws, { recursive: true, force: true });
  note(`workspace removed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

let interrupted: NodeJS.Signals | null = null;
async function onSignal(sig: NodeJS.Signals) {
  if (interrupted) return;
  interrupted = sig;
  note(`${sig}: stopping the running command`);
  await stopAll();
  removeWorkspace();
  process.exit(sig === "SIGINT" ? 130 : 143);
}
process.on("SIGINT", () => void onSignal("SIGINT"));
process.on("SIGTERM", () => void onSignal("SIGTERM"));

// ---------------------------------------------------------------------------------------------
// Running tools

interface Tool {
  /** Key in the results: blit, cp, rsync, blitNoTelemetry. */
  id: string;
  label: string;
  /** Command for a round (round 0 is the warm-up). */
  cmd: (round: number) => string[];
  isBlit: boolean;
}

const workerArgs = [...(flags.workers !== undefined ? ["--workers", flags.workers] : []), ...(flags["blit-arg"] ?? [])];
const blitCmd = (src: string, dst: string, extra: string[] = []) => [bunBin, blitEntry, "mirror", src, dst, "--json", ...workerArgs, ...extra];
const cpCmd = (src: string, dst: string) => ["cp", "-a", src, dst];
const rsyncCmd = (src: string, dst: string) => ["rsync", "-a", `${src}/`, `${dst}/`];
const show = (cmd: string[]) => cmd.map((a) => (a === bunBin ? "bun" : a.startsWith(ws) ? a.replace(ws, "$WS") : a.startsWith(repoRoot) ? a.slice(repoRoot.length) : a)).join(" ");

// Minimal view of the blit run report (engine/report.ts) that the bench reads.
interface BlitReport {
  status: string;
  exitCode: number;
  plan?: { workers?: number };
  phases?: { totalMs?: number };
  counts?: { copied?: number; deleted?: number };
  bytesByPath?: Record<string, number>;
  errors?: { path: string; code: string; message: string }[];
}

let timeFileCounter = 0;
async function runOne(tool: Tool, round: number): Promise<{ t: Timed; report?: BlitReport }> {
  const cmd = tool.cmd(round);
  const t = await timed(cmd, { timeFile: join(timeDir, `${++timeFileCounter}`), env: tool.isBlit ? blitEnv : undefined });
  const tail = (s: string) => s.trim().split("\n").slice(-15).join("\n");
  if (!tool.isBlit) {
    if (t.exitCode !== 0) throw new Error(`${show(cmd)} exited ${t.exitCode}:\n${tail(t.stderr)}`);
    return { t };
  }
  let report: BlitReport | undefined;
  try {
    report = JSON.parse(t.stdout.trim().split("\n").pop() ?? "") as BlitReport;
  } catch {
    /* handled below */
  }
  if (t.exitCode !== 0 || !report || report.status !== "ok") {
    const errs = report?.errors?.slice(0, 5).map((e) => `  ${e.path}: ${e.message} [${e.code}]`).join("\n") ?? "";
    const detail = [errs, tail(t.stderr), report ? "" : tail(t.stdout)].filter((x) => x !== "").join("\n");
    throw new Error(`blit failed: ${show(cmd)} exited ${t.exitCode}, status ${report?.status ?? "(no JSON report on stdout)"}\n${detail}`);
  }
  return { t, report };
}

interface Measured {
  stats: Record<string, ToolStats>;
  raw: Record<string, Timed[]>;
  blitReports: BlitReport[];
}

/** Round 0 is the warm-up (discarded), then `runs` measured rounds; tools interleaved; sync after each run. */
async function measureRounds(scenario: string, tools: Tool[], beforeRound?: (round: number) => Promise<void>): Promise<Measured> {
  const raw: Record<string, Timed[]> = {};
  const warm: Record<string, number> = {};
  const blitReports: BlitReport[] = [];
  for (const tool of tools) raw[tool.id] = [];
  for (let round = 0; round <= runs; round++) {
    await beforeRound?.(round);
    for (const tool of tools) {
      const { t, report } = await runOne(tool, round);
      await sync();
      note(`[${scenario}] ${round === 0 ? "warm-up" : `run ${round}/${runs}`} ${tool.label.padEnd(20)} ${(t.ms / 1000).toFixed(3)} s${t.peakKiB !== null ? `, peak ${(t.peakKiB / 1024).toFixed(0)} MiB` : ""}`);
      if (round === 0) warm[tool.id] = t.ms;
      else {
        raw[tool.id]!.push(t);
        if (report && tool.id === "blit") blitReports.push(report);
      }
    }
  }
  const stats: Record<string, ToolStats> = {};
  for (const tool of tools) {
    const ts = raw[tool.id]!;
    const ms = ts.map((t) => t.ms);
    const peaks = ts.map((t) => (t.peakKiB === null ? null : t.peakKiB / 1024));
    const known = peaks.filter((p): p is number => p !== null);
    const min = Math.min(...ms);
    const max = Math.max(...ms);
    stats[tool.id] = {
      label: tool.label,
      command: show(tool.cmd(1)),
      warmupMs: warm[tool.id]!,
      runsMs: ms,
      medianMs: median(ms),
      minMs: min,
      maxMs: max,
      spread: max / min,
      peakMiB: peaks,
      maxPeakMiB: known.length ? Math.max(...known) : null,
    };
  }
  return { stats, raw, blitReports };
}

async function verify(src: string, dst: string): Promise<void> {
  const r = await run(["diff", "-r", src, dst]);
  if (r.exitCode !== 0 || r.stdout.trim() !== "") {
    const out = (r.stdout + r.stderr).trim().split("\n").slice(0, 20).join("\n");
    throw new Error(`CORRECTNESS FAILURE: diff -r ${src} ${dst} is not empty (exit ${r.exitCode}):\n${out}`);
  }
}

function ratiosOf(stats: Record<string, ToolStats>): Record<string, number> {
  const out: Record<string, number> = {};
  const b = stats.blit!.medianMs;
  for (const id of ["cp", "rsync"]) if (stats[id]) out[`blit/${id}`] = b / stats[id]!.medianMs;
  return out;
}

function target(scenario: string, name: string, value: number, op: "<=" | "<", limit: number, unit: Target["unit"]): Target {
  return { scenario, name, value, op, limit, unit, pass: op === "<=" ? value <= limit : value < limit };
}

function result(name: string, description: string, tree: Tree, m: Measured, extra: Partial<ScenarioResult> = {}): ScenarioResult {
  const last = m.blitReports[m.blitReports.length - 1];
  const engineMs = m.blitReports.map((r) => r.phases?.totalMs).filter((x): x is number => typeof x === "number");
  return {
    name,
    description,
    files: tree.files,
    bytes: tree.bytes,
    tools: m.stats,
    ratios: ratiosOf(m.stats),
    noisy: Object.values(m.stats).some((s) => s.spread > 1.5),
    verified: false,
    blit: {
      workers: last?.plan?.workers ?? null,
      bytesByPath: last?.bytesByPath ?? {},
      reportedTotalMsMedian: engineMs.length ? median(engineMs) : null,
    },
    targets: [],
    warnings: [],
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const scaled = (n: number) => Math.max(1, Math.round(n * scale));
/** Sizes of large files scale too, rounded to whole 4 KiB pages. */
const scaledBytes = (n: number) => Math.max(4 * KiB, Math.round((n * scale) / (4 * KiB)) * 4 * KiB);

const smallSpec = () => ({ files: scaled(100_000), dirs: scaled(200), size: 4 * KiB });
let smallTree: SmallTree | undefined;
async function getSmallTree(): Promise<SmallTree> {
  if (smallTree) return smallTree;
  const s = smallSpec();
  note(`generating ${s.files} files of 4 KiB in ${s.dirs} directories (+ d000/a/b/c/d/deep.dat)...`);
  const t0 = performance.now();
  smallTree = await makeSmallTree(join(ws, "small-src"), { ...s, deep: true });
  await sync();
  note(`generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return smallTree;
}
const smallDesc = (t: Tree) => `${t.files.toLocaleString("en")} files × 4 KiB in ${smallSpec().dirs} directories (one of them deep in d000/a/b/c/d/)`;

/** Destinations that are up to date, made by the tool itself (untimed). */
async function prepareSynced(dir: string, src: string): Promise<{ blitDst: string; rsyncDst: string }> {
  const blitDst = join(dir, "blit");
  const rsyncDst = join(dir, "rsync");
  note(`[${basename(dir)}] preparing up-to-date destinations (blit mirror, rsync -a), untimed...`);
  await runOne({ id: "blit", label: "blit", isBlit: true, cmd: () => blitCmd(src, blitDst) }, 0);
  await runOne({ id: "rsync", label: "rsync -a", isBlit: false, cmd: () => rsyncCmd(src, rsyncDst) }, 0);
  await sync();
  return { blitDst, rsyncDst };
}

function freshTools(src: string, dir: string): Tool[] {
  return [
    { id: "blit", label: "blit mirror", isBlit: true, cmd: (r) => blitCmd(src, join(dir, `blit-${r}`)) },
    { id: "cp", label: "cp -a", isBlit: false, cmd: (r) => cpCmd(src, join(dir, `cp-${r}`)) },
    { id: "rsync", label: "rsync -a", isBlit: false, cmd: (r) => rsyncCmd(src, join(dir, `rsync-${r}`)) },
  ];
}

async function smallFresh(): Promise<ScenarioResult> {
  const tree = await getSmallTree();
  const dir = join(ws, "small-fresh");
  mkdirSync(dir);
  const m = await measureRounds("small-fresh", freshTools(tree.root, dir));
  await verify(tree.root, join(dir, `blit-${runs}`));
  const r = result("small-fresh", `${smallDesc(tree)}; fresh mirror into a new destination each run`, tree, m, { verified: true });
  r.targets.push(target(r.name, "blit/cp", r.ratios["blit/cp"]!, "<=", 0.8, "x"));
  r.targets.push(target(r.name, "blit/rsync", r.ratios["blit/rsync"]!, "<=", 0.5, "x"));
  if (m.stats.blit!.maxPeakMiB !== null) r.targets.push(target(r.name, "blit peak memory", m.stats.blit!.maxPeakMiB, "<", 256, "MiB"));
  else r.warnings.push("peak memory of blit could not be read from /usr/bin/time");
  return r;
}

async function small0change(): Promise<ScenarioResult> {
  const tree = await getSmallTree();
  const dir = join(ws, "small-0change");
  mkdirSync(dir);
  const { blitDst, rsyncDst } = await prepareSynced(dir, tree.root);
  const m = await measureRounds("small-0change", [
    { id: "blit", label: "blit mirror", isBlit: true, cmd: () => blitCmd(tree.root, blitDst) },
    { id: "rsync", label: "rsync -a", isBlit: false, cmd: () => rsyncCmd(tree.root, rsyncDst) },
    { id: "blitNoTelemetry", label: "blit --no-telemetry", isBlit: true, cmd: () => blitCmd(tree.root, blitDst, ["--no-telemetry"]) },
  ]);
  await verify(tree.root, blitDst);
  const pairs = m.raw.blit!.map((t, i) => t.ms - m.raw.blitNoTelemetry![i]!.ms);
  const telemetryOverhead = {
    medianPairedDiffMs: median(pairs),
    diffOfMediansMs: m.stats.blit!.medianMs - m.stats.blitNoTelemetry!.medianMs,
    pairedDiffsMs: pairs,
  };
  const r = result("small-0change", `${smallDesc(tree)}; mirror again into an up-to-date destination the tool made (cp has no 0-change mode)`, tree, m, {
    verified: true,
    telemetryOverhead,
  });
  r.targets.push(target(r.name, "blit/rsync", r.ratios["blit/rsync"]!, "<=", 1.0, "x"));
  r.targets.push(target(r.name, "telemetry overhead", telemetryOverhead.medianPairedDiffMs, "<", 50, "ms"));
  const copied = m.blitReports.map((b) => (b.counts?.copied ?? 0) + (b.counts?.deleted ?? 0));
  if (copied.some((c) => c !== 0)) r.warnings.push(`blit copied or deleted entries in a 0-change run: ${copied.join(", ")}`);
  return r;
}

async function smallDeepChange(): Promise<ScenarioResult> {
  const tree = await getSmallTree();
  const dir = join(ws, "small-deep-change");
  mkdirSync(dir);
  const { blitDst, rsyncDst } = await prepareSynced(dir, tree.root);
  let mtime = Math.floor(Date.now() / 1000) - 86_400; // distinct whole seconds, never in the future
  const m = await measureRounds(
    "small-deep-change",
    [
      { id: "blit", label: "blit mirror", isBlit: true, cmd: () => blitCmd(tree.root, blitDst) },
      { id: "rsync", label: "rsync -a", isBlit: false, cmd: () => rsyncCmd(tree.root, rsyncDst) },
    ],
    async () => {
      rewriteFile(tree.deepFile!, 4 * KiB, ++mtime);
      await sync();
    },
  );
  await verify(tree.root, blitDst);
  const r = result(
    "small-deep-change",
    `${smallDesc(tree)}; before each round d000/a/b/c/d/deep.dat is rewritten (same size, new mtime), then each tool updates its own destination`,
    tree,
    m,
    { verified: true },
  );
  const copied = m.blitReports.map((b) => b.counts?.copied ?? 0);
  if (copied.some((c) => c !== 1)) r.warnings.push(`blit copied ${copied.join(", ")} files per run (expected 1)`);
  return r;
}

async function large1g(): Promise<ScenarioResult> {
  const src = join(ws, "large-src");
  const bytes = scaledBytes(GiB);
  note(`generating one random file of ${(bytes / MiB).toFixed(0)} MiB...`);
  await makeRandomFile(join(src, "big.dat"), bytes);
  await sync();
  const tree: Tree = { root: src, files: 1, bytes, dirs: 0 };
  const dir = join(ws, "large-1g");
  mkdirSync(dir);
  const m = await measureRounds("large-1g", freshTools(src, dir));
  await verify(src, join(dir, `blit-${runs}`));
  const r = result("large-1g", `one ${(bytes / MiB).toFixed(0)} MiB file of random data; fresh copy each run`, tree, m, { verified: true });
  r.targets.push(target(r.name, "blit/cp", r.ratios["blit/cp"]!, "<=", 1.05, "x"));
  return r;
}

async function mixed(): Promise<ScenarioResult> {
  const src = join(ws, "mixed-src");
  const bigSize = scaledBytes(64 * MiB);
  const smallFiles = scaled(50_000);
  const smallDirs = scaled(100);
  note(`generating 8 × ${(bigSize / MiB).toFixed(1)} MiB + ${smallFiles} files of 2 KiB in ${smallDirs} directories...`);
  for (let i = 0; i < 8; i++) await makeRandomFile(join(src, "large", `big-${i}.dat`), bigSize);
  const small = await makeSmallTree(src, { files: smallFiles, dirs: smallDirs, size: 2 * KiB, sub: "small" });
  await sync();
  const tree: Tree = { root: src, files: 8 + small.files, bytes: 8 * bigSize + small.bytes, dirs: 1 + small.dirs };
  const dir = join(ws, "mixed");
  mkdirSync(dir);
  const m = await measureRounds("mixed", freshTools(src, dir));
  await verify(src, join(dir, `blit-${runs}`));
  return result(
    "mixed",
    `8 × ${(bigSize / MiB).toFixed(1)} MiB random files + ${smallFiles.toLocaleString("en")} files × 2 KiB in ${smallDirs} directories; fresh each run`,
    tree,
    m,
    { verified: true },
  );
}

const RUNNERS: Record<ScenarioName, () => Promise<ScenarioResult>> = {
  "small-fresh": smallFresh,
  "small-0change": small0change,
  "small-deep-change": smallDeepChange,
  "large-1g": large1g,
  mixed,
};

// ---------------------------------------------------------------------------------------------
// Environment report and disk-space preflight

async function firstLine(cmd: string[], env?: Record<string, string | undefined>): Promise<string> {
  try {
    const r = await run(cmd, env);
    return (r.stdout.trim() || r.stderr.trim()).split("\n")[0] ?? "?";
  } catch {
    return "?";
  }
}

async function filesystemOf(path: string): Promise<{ fstype: string; source: string; target: string; options: string }> {
  const line = await firstLine(["findmnt", "-n", "-o", "FSTYPE,SOURCE,TARGET,OPTIONS", "-T", path]);
  const parts = line.trim().split(/\s+/);
  if (parts.length >= 3 && line !== "?") return { fstype: parts[0]!, source: parts[1]!, target: parts[2]!, options: parts[3] ?? "" };
  // Fallback: the longest mount point in /proc/mounts that contains path.
  const mounts = (await Bun.file("/proc/mounts").text()).split("\n").map((l) => l.split(" "));
  let best = { fstype: "unknown", source: "?", target: "", options: "" };
  for (const [source, target, fstype, options] of mounts) {
    if (!target || !fstype) continue;
    if ((path === target || path.startsWith(target.endsWith("/") ? target : target + "/")) && target.length > best.target.length)
      best = { fstype, source: source ?? "?", target, options: options ?? "" };
  }
  return best;
}

/** Rough bytes and inodes the selected scenarios leave on disk until the end (nothing is deleted between runs). */
function estimateUse(): { bytes: number; inodes: number } {
  const rounds = runs + 1;
  const s = smallSpec();
  const smallCopy = { bytes: (s.files + s.dirs + 5) * 4 * KiB, inodes: s.files + s.dirs + 5 };
  let copies = 0;
  if (selected.some((x) => x.startsWith("small"))) copies += 1;
  if (selected.includes("small-fresh")) copies += 3 * rounds;
  if (selected.includes("small-0change")) copies += 2;
  if (selected.includes("small-deep-change")) copies += 2;
  let bytes = copies * smallCopy.bytes;
  let inodes = copies * smallCopy.inodes;
  if (selected.includes("large-1g")) bytes += (1 + 3 * rounds) * scaledBytes(GiB);
  if (selected.includes("mixed")) {
    const n = scaled(50_000) + scaled(100) + 10;
    bytes += (1 + 3 * rounds) * (8 * scaledBytes(64 * MiB) + n * 4 * KiB);
    inodes += (1 + 3 * rounds) * n;
  }
  return { bytes, inodes };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const startedAt = new Date();
  const fs = await filesystemOf(ws);
  const machine = {
    nproc: Number(await firstLine(["nproc"])),
    kernel: await firstLine(["uname", "-r"]),
    cpu: cpus()[0]?.model ?? "?",
    memMiB: Math.round(totalmem() / MiB),
  };
  const versions = {
    blit: await firstLine([bunBin, blitEntry, "--version"], blitEnv),
    bun: Bun.version,
    cp: await firstLine(["cp", "--version"]),
    rsync: await firstLine(["rsync", "--version"]),
  };
  const commit = await firstLine(["git", "-C", repoRoot, "rev-parse", "--short", "HEAD"]);

  say(`blit benchmark — ${startedAt.toISOString()}`);
  say(`machine:   ${machine.nproc} CPUs (${machine.cpu}), ${machine.memMiB} MiB RAM, kernel ${machine.kernel}`);
  say(`workspace: ${ws} on ${fs.fstype} (${fs.source} mounted at ${fs.target}) — the disk path, page cache warm`);
  say(`tools:     ${versions.blit} (bun ${versions.bun}, commit ${/^[0-9a-f]+$/.test(commit) ? commit : "none"}); ${versions.cp}; ${versions.rsync}`);
  say(`settings:  scale ${scale}, ${runs} measured runs + 1 warm-up per tool, blit ${flags.workers ? `--workers ${flags.workers}` : "default workers"}${flags["blit-arg"]?.length ? ` ${flags["blit-arg"].join(" ")}` : ""}, telemetry on (BLIT_HOME in the workspace) unless noted`);
  for (const k of ["BLIT_WORKERS", "BLIT_BACKEND"]) if (process.env[k] !== undefined) say(`note:      ${k}=${process.env[k]} is set and applies to blit`);
  if (scale !== 1) say(`note:      scaled run: the targets are for --scale 1; PASS/MISS here is only indicative`);

  const need = estimateUse();
  const st = statfsSync(ws);
  const availBytes = Number(st.bavail) * Number(st.bsize);
  const availInodes = Number(st.ffree);
  note(`disk: need about ${(need.bytes / GiB).toFixed(1)} GiB and ${need.inodes.toLocaleString("en")} inodes; ${(availBytes / GiB).toFixed(1)} GiB and ${availInodes.toLocaleString("en")} inodes free`);
  if (need.bytes * 1.1 + GiB > availBytes || (availInodes > 0 && need.inodes * 1.1 > availInodes))
    throw new Error(`not enough space in ${tmpdir()} for the selected scenarios (nothing is deleted between runs); use --only or a smaller --scale, or point TMPDIR elsewhere`);

  const results: ScenarioResult[] = [];
  for (const name of selected) {
    note(`=== ${name} ===`);
    results.push(await RUNNERS[name]());
  }

  say();
  for (const r of results) {
    say(formatScenario(r, scale !== 1));
    say();
  }
  const targets = results.flatMap((r) => r.targets);
  if (targets.length) {
    say(`targets${scale !== 1 ? ` (scaled run, indicative only)` : ""}:`);
    for (const t of targets) say(`  ${t.scenario.padEnd(18)} ${fmtTarget(t)}`);
  }
  const noisy = results.filter((r) => r.noisy).map((r) => r.name);
  if (noisy.length) say(`NOISY: ${noisy.join(", ")} had a run spread (max/min) over 1.5; treat those figures with care`);

  const summary = {
    schema: "blit-bench/1",
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    commit: /^[0-9a-f]+$/.test(commit) ? commit : null,
    machine,
    workspace: { path: ws, ...fs },
    versions,
    settings: { scale, runs, warmupRuns: 1, only: selected, blitWorkers: flags.workers ?? null, blitArgs: flags["blit-arg"] ?? [] },
    scenarios: results,
    targets,
    allTargetsPass: targets.every((t) => t.pass),
    noisy,
  };
  const json = JSON.stringify(summary);
  if (flags.out) {
    writeFileSync(flags.out, JSON.stringify(summary, null, 2) + "\n");
    note(`JSON summary written to ${flags.out}`);
  }
  say(json);
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  if (!interrupted) {
    process.stderr.write(`\nbench: FAILED: ${(e as Error).message ?? e}\n`);
    code = 1;
  }
} finally {
  if (!interrupted) {
    await stopAll();
    removeWorkspace();
  }
}
if (!interrupted) process.exit(code);
