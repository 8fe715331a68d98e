// The proofs of issue 15 for `npm run bench:remote` (`--only delta,resume,retries`):
//
// - delta: a 1 GiB random file whose copy on the receiving side is the old version, and whose
//   source has 16 scattered 4 KiB in-place edits (one at a random, unaligned offset in each
//   sixteenth of the file). Pushed by `blit push` with delta, by `blit push --whole-file`, and by
//   `rsync -a` to rsync's daemon; each run first puts the old version back (`cp --reflink=never`,
//   an old mtime, so size or time differ) and checks afterwards that the result equals the source
//   (cmp). Then a fully rewritten file (the receiving side holds other content of the same size):
//   delta against --whole-file, where delta must be no slower.
//   The link: a network namespace (`unshare -n`) whose loopback has a `tc` token bucket of
//   100 MiB/s, with both daemons and every client inside it, so all tools share the same limit;
//   blit's delta is then asked for with --no-whole-file (blit turns delta off by default on a
//   loopback address). Where namespaces or sch_tbf are not available (or with `--link bwlimit`),
//   each tool limits itself instead: `blit push --bwlimit 100M` (which turns delta on) and
//   `rsync --bwlimit=102400`; the table says which link was used.
//   Where: the machine's disk (a directory under os.tmpdir(), ext4 here), not tmpfs. The case the
//   feature is for is a VM image or database at rest on a disk, where delta pays for reading the
//   old version and both tools write a whole new file; and the scenario holds about 5 GiB at once
//   (old, rewritten and new versions, the destination and its temporary), which on tmpfs would
//   push these VMs past the 4-5 GiB in use where BENCHMARKING.md measured tmpfs writes getting
//   several times slower, charging whichever tool ran last.
// - resume: a 1 GiB push paced by --bwlimit 100M, its client killed (SIGKILL) once blitd's
//   temporary (`.blit-tmp-*`) holds half the file; then the same push again, whose
//   transport.dataBytesOut must be <= 55% of the file; the result must equal the source and no
//   temporary may remain.
// - retries: a 100,000 x 4 KiB tree pushed with a --bwlimit that makes it last several seconds;
//   when about half the files are in the module, blitd is killed (SIGKILL) and started again on
//   the same port with the same config; the client (default --retries) must finish by itself with
//   exit 0, an exact tree (diff -r) and no temporary anywhere in the module.
// Resume and retries run on tmpfs (/dev/shm) like the other remote scenarios: they prove
// behaviour and bytes, and report times for information only.
//
// Timed comparisons follow ../shared/BENCHMARKING.md: tools interleaved, a warm-up round thrown
// away, medians of >= 3 runs, `sync` after each run. Resume and retries are checks that must hold
// on every run, so none of their runs is thrown away. The caller removes both workspaces and stops
// every process (ctx.children, ctx.extraDirs), also on failure.
//
// Until blit reports them, transport.dataBytesOut/dataBytesIn and transport.delta are shown as
// "n/a", and a build without --whole-file/--no-whole-file runs both blit rows without them.
import type { Subprocess } from "bun";
import { randomFillSync, randomInt } from "node:crypto";
import { closeSync, copyFileSync, truncateSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeRandomFile, makeSmallTree } from "./gen.ts";
import { median, run, sync } from "./measure.ts";

export const RESILIENCE_SCENARIOS = ["delta", "resume", "retries"] as const;

export interface ResilienceContext {
  repo: string;
  bun: string;
  /** tmpfs workspace, removed by the caller. */
  ws: string;
  runs: number;
  scale: number;
  only: Set<string>;
  /** "tc": a limited link or fail; "bwlimit": each tool's own limit; "auto": tc if it works. */
  link: "tc" | "bwlimit" | "auto";
  /** Every process started here is added, so the caller's cleanup can kill it. */
  children: Subprocess[];
  /** Directories made here outside ws, removed by the caller's cleanup. */
  extraDirs: string[];
  /** Loop mounts made here; the caller's cleanup unmounts them before removing extraDirs. */
  mounts: string[];
  /** Where the delta scenarios run: the machine's disk (ext4 here, no reflinks), an XFS loop filesystem with reflink=1, or both. */
  deltaFs: ("disk" | "xfs")[];
  /** A tree made by makeSmallTree(files, 200 dirs, 4 KiB) the caller already has, to reuse. */
  smallTree?: { root: string; files: number };
}

export interface ResilienceResult {
  lines: string[];
  summary: Record<string, unknown>;
}

const MiB = 1 << 20;
const RATE = "100M"; // blit's --bwlimit (1024-based, as rsync's)
const RSYNC_RATE = "102400"; // rsync's --bwlimit, KiB/s: the same 100 MiB/s
const TC_RATE = "100mibps"; // tc's bytes-per-second unit: the same 100 MiB/s
const EDITS = 16;
const EDIT_BYTES = 4096;
const log = (s: string) => process.stderr.write(`${s}\n`);

// ---------------------------------------------------------------- processes

interface Ran {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

function spawn(ctx: ResilienceContext, cmd: string[]): Subprocess<"ignore", "pipe", "pipe"> {
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, BLIT_TELEMETRY: "off" } });
  ctx.children.push(p);
  return p;
}

async function finish(p: Subprocess<"ignore", "pipe", "pipe">, t0: number): Promise<Ran> {
  let t1 = t0;
  const exited = p.exited.then((c) => ((t1 = performance.now()), c));
  const [code, stdout, stderr] = await Promise.all([exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { ms: t1 - t0, code, stdout, stderr };
}

async function runTimed(ctx: ResilienceContext, cmd: string[]): Promise<Ran> {
  const t0 = performance.now();
  return finish(spawn(ctx, cmd), t0);
}

function mustSucceed(cmd: string[], r: Ran): Ran {
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}: ${r.stdout.slice(-400)} ${r.stderr.slice(-600)}`);
  return r;
}

interface Daemon {
  proc: Subprocess;
  port: number;
}

/** blitd on `bind` (port 0 picks one), inside the namespace `prefix` enters; resolves once it listens. */
async function startBlitd(ctx: ResilienceContext, config: string, bind: string, prefix: string[] = []): Promise<Daemon> {
  const cmd = [...prefix, ctx.bun, join(ctx.repo, "daemon/main.ts"), "--config", config, "--bind", bind, "--quiet"];
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, BLIT_TELEMETRY: "off" } });
  ctx.children.push(proc);
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let banner = "";
  while (!/:(\d+)\n/.test(banner)) {
    const chunk = await reader.read();
    if (chunk.done) throw new Error(`blitd did not start (${cmd.join(" ")}): ${await new Response(proc.stderr as ReadableStream).text()}`);
    banner += new TextDecoder().decode(chunk.value);
  }
  reader.releaseLock();
  void new Response(proc.stderr as ReadableStream).text(); // drained, so it never blocks on a full pipe
  return { proc, port: Number(/:(\d+)\n/.exec(banner)![1]) };
}

/** The same daemon again on the same port, as after a crash and a restart by systemd. */
async function restartBlitd(ctx: ResilienceContext, config: string, old: Daemon): Promise<Daemon> {
  for (let tries = 0; ; tries++) {
    try {
      return await startBlitd(ctx, config, `127.0.0.1:${old.port}`);
    } catch (e) {
      if (tries >= 20) throw e; // the port may stay busy for a moment after the kill
      await Bun.sleep(100);
    }
  }
}

function blitCmd(ctx: ResilienceContext, args: string[]): string[] {
  return [ctx.bun, join(ctx.repo, "test/remote/remote-cli.ts"), ...args, "--no-progress"];
}

// ---------------------------------------------------------------- what the tools report

interface Wire {
  out?: number;
  in?: number;
  /** blit's transport.delta, or rsync's matched/literal data. */
  matched?: number;
  literal?: number;
  resumed?: number;
}

/** The run report from `blit --json` (the last line that is a JSON object). */
function blitReport(stdout: string): any {
  const text = stdout.trim();
  try {
    return JSON.parse(text);
  } catch {
    const line = text.split("\n").reverse().find((l) => l.startsWith("{"));
    return line ? JSON.parse(line) : undefined;
  }
}

export function blitWire(stdout: string): Wire {
  const t = blitReport(stdout)?.transport ?? {};
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  return { out: num(t.dataBytesOut), in: num(t.dataBytesIn), matched: num(t.delta?.matchedBytes), literal: num(t.delta?.literalBytes), resumed: num(t.delta?.resumedBytes) };
}

/** rsync --stats: "Total bytes sent: 1,234" (digits grouped with commas or dots by locale). */
export function rsyncWire(stdout: string): Wire {
  const num = (label: string) => {
    const m = new RegExp(`${label}: ([\\d,.]+)`).exec(stdout);
    return m ? Number(m[1]!.replace(/[,.]/g, "")) : undefined;
  };
  return { out: num("Total bytes sent"), in: num("Total bytes received"), matched: num("Matched data"), literal: num("Literal data") };
}

/** Whether this build's push takes `flag` (the interface of issue 15 may not be in it yet). */
async function pushHas(ctx: ResilienceContext, flag: string): Promise<boolean> {
  const r = await run(blitCmd(ctx, ["push", "--help"]), { ...process.env, BLIT_TELEMETRY: "off" });
  // As a word of its own: "--whole-file" must not match inside "--no-whole-file".
  return new RegExp(`(^|[\\s,])${flag}(?![\\w-])`, "m").test(r.stdout);
}

// ---------------------------------------------------------------- the link

interface Link {
  /** Prefix that runs a command inside the limited namespace ([] when each tool limits itself). */
  prefix: string[];
  tc: boolean;
  describe: string;
  /** The process that holds the namespace (killed when the scenario ends). */
  holder?: Subprocess;
}

/**
 * A network namespace whose loopback is limited to 100 MiB/s by a token bucket (sch_tbf). Traffic
 * both ways crosses lo's one queue, so the replies (rsync's block checksums, blit's hashes) share
 * the limit with the data, as on a half-duplex link. The holder process keeps the namespace; when
 * it and everything started inside are killed, the namespace is gone.
 */
async function makeLink(ctx: ResilienceContext): Promise<Link> {
  const own: Link = { prefix: [], tc: false, describe: `each tool's own limit (blit --bwlimit ${RATE}, rsync --bwlimit=${RSYNC_RATE}), loopback` };
  if (ctx.link === "bwlimit") return own;
  const missing = ["unshare", "nsenter", "tc", "ip"].filter((t) => !Bun.which(t));
  let why = missing.length ? `${missing.join(", ")} not installed (apt-get install iproute2 util-linux)` : "";
  if (!why) {
    const script = `ip link set lo up && tc qdisc add dev lo root tbf rate ${TC_RATE} burst 1mb latency 100ms && echo ready && exec sleep infinity`;
    const holder = Bun.spawn(["unshare", "-n", "sh", "-c", script], { stdout: "pipe", stderr: "pipe" });
    ctx.children.push(holder);
    const first = await (holder.stdout as ReadableStream<Uint8Array>).getReader().read();
    if (!first.done && new TextDecoder().decode(first.value).includes("ready")) {
      return { prefix: ["nsenter", "-t", String(holder.pid), "-n"], tc: true, holder, describe: `tc tbf ${TC_RATE.replace("mibps", " MiB/s")} on lo in a network namespace (all tools alike)` };
    }
    why = (await new Response(holder.stderr as ReadableStream).text()).trim() || "unshare/tc failed";
    holder.kill("SIGKILL");
  }
  if (ctx.link === "tc") throw new Error(`--link tc: cannot limit a link here: ${why}`);
  log(`no tc link (${why}): each tool limits itself`);
  return { ...own, describe: `${own.describe}; tc not usable here: ${why}` };
}

// ---------------------------------------------------------------- helpers on files

/** `path` (made by copying `from`) with 16 random 4 KiB in-place edits, one per sixteenth. */
function writeEdited(from: string, path: string, bytes: number): number[] {
  copyFileSync(from, path);
  const fd = openSync(path, "r+");
  const buf = Buffer.allocUnsafe(EDIT_BYTES);
  const part = Math.floor(bytes / EDITS);
  const offsets: number[] = [];
  try {
    for (let i = 0; i < EDITS; i++) {
      const off = i * part + randomInt(0, Math.max(1, part - EDIT_BYTES));
      randomFillSync(buf);
      writeSync(fd, buf, 0, EDIT_BYTES, off);
      offsets.push(off);
    }
  } finally {
    closeSync(fd);
  }
  return offsets;
}

/** Calls fn for every entry under `dir` (any depth; a directory that cannot be read is skipped). */
function eachEntry(dir: string, fn: (path: string, isDir: boolean, name: string) => void): void {
  let ents;
  try {
    ents = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of ents) {
    const p = join(dir, e.name);
    fn(p, e.isDirectory(), e.name);
    if (e.isDirectory()) eachEntry(p, fn);
  }
}

/** Names under `dir` (any depth) that start with `prefix`. */
function findNamed(dir: string, prefix: string): string[] {
  const out: string[] = [];
  eachEntry(dir, (p, _isDir, name) => {
    if (name.startsWith(prefix)) out.push(p);
  });
  return out;
}

/** Regular files under `dir` that are not blit's temporaries. */
function countFiles(dir: string): number {
  let n = 0;
  eachEntry(dir, (_p, isDir, name) => {
    if (!isDir && !name.startsWith(".blit-")) n++;
  });
  return n;
}

async function same(a: string, b: string): Promise<boolean> {
  return (await run(["cmp", "-s", a, b])).exitCode === 0;
}

// ---------------------------------------------------------------- formatting

const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmtB = (b: number | undefined) => (b === undefined ? "n/a" : b >= MiB ? `${(b / MiB).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
const fmtPct = (x: number | undefined) => (x === undefined ? "n/a" : `${x < 10 ? x.toFixed(2) : x.toFixed(1)}%`);
const verdict = (value: number | undefined, ok: boolean | undefined, shown: string) => (value === undefined || ok === undefined ? "n/a" : `${ok ? "PASS" : "FAIL"} (${shown})`);
const medianOf = (xs: (number | undefined)[]) => {
  const known = xs.filter((x): x is number => x !== undefined);
  return known.length === xs.length && known.length ? median(known) : undefined;
};

// ---------------------------------------------------------------- delta and rewrite

interface ToolSample {
  ms: number;
  wire: Wire;
  exact: boolean;
  /** Bytes that crossed the limited link both ways during the run (IP headers included); tc only. */
  link?: number;
}

interface ToolStats {
  medianMs: number;
  minMs: number;
  maxMs: number;
  wireOutBytes?: number;
  wireInBytes?: number;
  wireOutPctOfFile?: number;
  matchedBytes?: number;
  literalBytes?: number;
  linkBytes?: number;
  allExact: boolean;
}

function statsOf(samples: ToolSample[], fileBytes: number): ToolStats {
  const ms = samples.map((s) => s.ms);
  const out = medianOf(samples.map((s) => s.wire.out));
  return {
    medianMs: median(ms),
    minMs: Math.min(...ms),
    maxMs: Math.max(...ms),
    wireOutBytes: out,
    wireInBytes: medianOf(samples.map((s) => s.wire.in)),
    wireOutPctOfFile: out === undefined ? undefined : (out / fileBytes) * 100,
    matchedBytes: medianOf(samples.map((s) => s.wire.matched)),
    literalBytes: medianOf(samples.map((s) => s.wire.literal)),
    linkBytes: medianOf(samples.map((s) => s.link)),
    allExact: samples.every((s) => s.exact),
  };
}

/**
 * wire out/in: what the tool says it sent/received (blit: transport.dataBytesOut/In, the data plane
 * with frame headers; rsync: --stats' totals). link: everything that crossed the link both ways,
 * counted by the kernel (tc runs only), the same yardstick for every tool.
 */
function toolTable(stats: Record<string, ToolStats>, fileBytes: number): string[] {
  const lines = [`  ${"tool".padEnd(11)} ${"time".padStart(8)}  ${"(min-max)".padEnd(10)} ${"wire out".padStart(10)} ${"wire in".padStart(10)} ${"out/file".padStart(8)} ${"link".padStart(10)} ${"link/file".padStart(9)}  matched / literal`];
  for (const [tool, s] of Object.entries(stats)) {
    const ml = s.matchedBytes === undefined && s.literalBytes === undefined ? "n/a" : `${fmtB(s.matchedBytes)} / ${fmtB(s.literalBytes)}`;
    const linkPct = s.linkBytes === undefined ? undefined : (s.linkBytes / fileBytes) * 100;
    lines.push(`  ${tool.padEnd(11)} ${fmtS(s.medianMs).padStart(8)}  ${`${(s.minMs / 1000).toFixed(2)}-${(s.maxMs / 1000).toFixed(2)}`.padEnd(10)} ${fmtB(s.wireOutBytes).padStart(10)} ${fmtB(s.wireInBytes).padStart(10)} ${fmtPct(s.wireOutPctOfFile).padStart(8)} ${fmtB(s.linkBytes).padStart(10)} ${fmtPct(linkPct).padStart(9)}  ${ml}${s.allExact ? "" : "  RESULT DIFFERS FROM SOURCE or a temporary was left"}`);
  }
  return lines;
}

/** Bytes sent on the namespace's loopback so far (every packet both ways passes its one queue). */
async function linkBytes(link: Link): Promise<number | undefined> {
  if (!link.tc) return undefined;
  const r = await run([...link.prefix, "ip", "-s", "-j", "link", "show", "lo"]);
  try {
    return Number(JSON.parse(r.stdout)[0].stats64.tx.bytes);
  } catch {
    return undefined;
  }
}

/**
 * An XFS filesystem with reflink=1 on a loop device (a sparse image under os.tmpdir()), mounted
 * at a fresh directory: where blit's receiver makes the new file a clone of the old one. Returns
 * the mount point (in ctx.mounts and ctx.extraDirs for cleanup) and what unmounts it.
 */
async function xfsPlace(ctx: ResilienceContext, bytes: number): Promise<{ dir: string; done(): void }> {
  const base = mkdtempSync(join(tmpdir(), "blit-bench-delta-xfs-"));
  ctx.extraDirs.push(base);
  const img = join(base, "xfs.img");
  const dir = join(base, "mnt");
  mkdirSync(dir);
  const fd = openSync(img, "w");
  closeSync(fd);
  truncateSync(img, Math.max(6 * bytes + (512 << 20), 1 << 30)); // old, rewritten, source, destination, a temporary: sparse
  const mkfs = Bun.spawnSync(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", img]);
  if (mkfs.exitCode !== 0) throw new Error(`mkfs.xfs -m reflink=1 failed: ${mkfs.stderr.toString()}`);
  const mount = Bun.spawnSync(["mount", "-o", "loop", img, dir]);
  if (mount.exitCode !== 0) throw new Error(`loop mount of the XFS image failed: ${mount.stderr.toString()}`);
  ctx.mounts.push(dir);
  return {
    dir,
    done() {
      if (Bun.spawnSync(["umount", dir]).exitCode !== 0) Bun.spawnSync(["umount", "-l", dir]);
      ctx.mounts.splice(ctx.mounts.indexOf(dir), 1);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

async function deltaScenarios(ctx: ResilienceContext, place: "disk" | "xfs"): Promise<ResilienceResult> {
  const lines: string[] = [];
  const bytes = Math.round((1 << 30) * ctx.scale);
  let xfs: { dir: string; done(): void } | undefined;
  let disk: string;
  if (place === "xfs") {
    xfs = await xfsPlace(ctx, bytes);
    disk = xfs.dir;
  } else {
    disk = mkdtempSync(join(tmpdir(), "blit-bench-delta-"));
    ctx.extraDirs.push(disk);
  }
  const placeWords = place === "xfs" ? "on XFS with reflink=1 (loop device)" : `on disk (${tmpdir()})`;
  const link = await makeLink(ctx);
  const hasWholeFile = (await pushHas(ctx, "--whole-file")) && (await pushHas(ctx, "--no-whole-file"));
  if (!hasWholeFile) log("this build's push has no --whole-file/--no-whole-file: both blit rows send whole files");

  log(`delta: generating ${bytes} B old, edited and rewritten versions in ${disk}...`);
  const old = join(disk, "old.bin");
  const other = join(disk, "other.bin");
  const src = join(disk, "src");
  const mod = join(disk, "mod");
  const dst = join(mod, "d");
  for (const d of [src, dst]) mkdirSync(d, { recursive: true });
  await makeRandomFile(old, bytes);
  await makeRandomFile(other, bytes);
  const srcFile = join(src, "big.bin");
  const offsets = writeEdited(old, srcFile, bytes);
  const now = Math.floor(Date.now() / 1000);
  const oldTime = now - 86_400;
  utimesSync(srcFile, now - 3600, now - 3600);
  await sync();

  writeFileSync(join(disk, "blitd.toml"), `telemetry = false\n[modules.m]\npath = ${JSON.stringify(mod)}\nread_only = false\n`);
  const blitd = await startBlitd(ctx, join(disk, "blitd.toml"), "127.0.0.1:0", link.prefix);
  const rsyncPort = 20000 + randomInt(20000);
  writeFileSync(join(disk, "rsyncd.conf"), `uid = root\ngid = root\nuse chroot = no\npid file = ${disk}/rsyncd.pid\n[m]\npath = ${mod}\nread only = no\n`);
  const rsyncd = Bun.spawn([...link.prefix, "rsync", "--daemon", "--no-detach", `--config=${disk}/rsyncd.conf`, `--port=${rsyncPort}`, "--address=127.0.0.1"], { stdout: "ignore", stderr: "inherit" });
  ctx.children.push(rsyncd);
  await waitForRsyncd(link, rsyncPort);
  log(`delta: blitd on ${blitd.port}, rsyncd on ${rsyncPort}; link: ${link.describe}`);

  const blitUrl = `blit://127.0.0.1:${blitd.port}/m/d`;
  const limit = link.tc ? [] : ["--bwlimit", RATE];
  const deltaArgs = [...limit, ...(link.tc && hasWholeFile ? ["--no-whole-file"] : [])];
  const wholeArgs = [...limit, ...(hasWholeFile ? ["--whole-file"] : [])];
  const blitTool = (args: string[]) => async (): Promise<ToolSample> => {
    const cmd = [...link.prefix, ...blitCmd(ctx, ["push", src, blitUrl, "--json", ...args])];
    const r = mustSucceed(cmd, await runTimed(ctx, cmd));
    return { ms: r.ms, wire: blitWire(r.stdout), exact: false };
  };
  const rsyncTool = async (): Promise<ToolSample> => {
    const cmd = [...link.prefix, "rsync", "-a", "--stats", ...(link.tc ? [] : [`--bwlimit=${RSYNC_RATE}`]), src + "/", `rsync://127.0.0.1:${rsyncPort}/m/d/`];
    const r = mustSucceed(cmd, await runTimed(ctx, cmd));
    return { ms: r.ms, wire: rsyncWire(r.stdout), exact: false };
  };

  /** One scenario: before each run the receiving side holds `basis` again (old time, new inode). */
  const measure = async (name: string, basis: string, tools: Record<string, () => Promise<ToolSample>>) => {
    const samples: Record<string, ToolSample[]> = {};
    for (let r = 0; r <= ctx.runs; r++) {
      for (const [tool, fn] of Object.entries(tools)) {
        const dest = join(dst, "big.bin");
        await run(["cp", "--reflink=never", basis, dest]);
        utimesSync(dest, oldTime, oldTime);
        await sync();
        const before = await linkBytes(link);
        const s = await fn();
        const after = await linkBytes(link);
        if (before !== undefined && after !== undefined) s.link = after - before;
        await sync();
        // Exact: the same bytes, and nothing beside it (no temporary of blit's or rsync's left).
        const beside = readdirSync(dst).filter((n) => n !== "big.bin");
        s.exact = (await same(srcFile, dest)) && beside.length === 0;
        log(`  ${name} ${tool} run ${r}${r === 0 ? " (warm-up)" : ""}: ${fmtS(s.ms)}, wire out ${fmtB(s.wire.out)}, link ${fmtB(s.link)}${s.exact ? "" : `, RESULT DIFFERS FROM SOURCE or left ${beside.join(", ")}`}`);
        for (const n of beside) rmSync(join(dst, n), { recursive: true, force: true });
        if (r > 0) (samples[tool] ??= []).push(s);
      }
    }
    return Object.fromEntries(Object.entries(samples).map(([t, ss]) => [t, statsOf(ss, bytes)]));
  };

  const summary: Record<string, unknown> = { link: link.describe, place: placeWords, fileBytes: bytes, wholeFileFlags: hasWholeFile };
  const blitFlags = (args: string[]) => (args.length ? args.join(" ") : "no flags");
  const header = (what: string) => `\n${what}  (${fmtB(bytes)} file, ${placeWords}; link: ${link.describe}; median of ${ctx.runs} runs after a warm-up)`;

  const delta = await measure("delta", old, { "blit-delta": blitTool(deltaArgs), "blit-whole": blitTool(wholeArgs), rsyncd: rsyncTool });
  lines.push(header(`delta push: ${EDITS} scattered ${EDIT_BYTES / 1024} KiB edits`));
  lines.push(`  blit-delta: ${blitFlags(deltaArgs)}; blit-whole: ${blitFlags(wholeArgs)}${hasWholeFile ? "" : " (this build has no --whole-file: both send whole files)"}`);
  lines.push(...toolTable(delta, bytes));
  const d = delta["blit-delta"]!;
  const rs = delta["rsyncd"]!;
  const timeRatio = d.medianMs / rs.medianMs;
  const wireRatio = d.wireOutBytes !== undefined && rs.wireOutBytes ? d.wireOutBytes / rs.wireOutBytes : undefined;
  for (const tool of ["blit-delta", "blit-whole"]) {
    const t = delta[tool]!;
    const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || !b ? "n/a" : `${(a / b).toFixed(2)}x`);
    lines.push(`  ${tool} / rsyncd: time ${(t.medianMs / rs.medianMs).toFixed(2)}x, wire out ${ratio(t.wireOutBytes, rs.wireOutBytes)}, link ${ratio(t.linkBytes, rs.linkBytes)}`);
  }
  const wirePass = d.wireOutPctOfFile === undefined ? undefined : d.wireOutPctOfFile <= 2;
  lines.push(`  target: <= 2% of the file on the wire: ${verdict(d.wireOutPctOfFile, wirePass, fmtPct(d.wireOutPctOfFile))}`);
  lines.push(`  target: <= 0.5x rsyncd's time: ${verdict(timeRatio, timeRatio <= 0.5, `${timeRatio.toFixed(2)}x`)}`);
  const exactAll = Object.values(delta).every((s) => s.allExact);
  if (!exactAll) lines.push("  FAIL: a result differed from the source (cmp) or a temporary was left beside it");
  summary.delta = { editOffsets: offsets, tools: delta, blitDeltaVsRsyncdTime: timeRatio, blitDeltaVsRsyncdWire: wireRatio, pass: { wire: wirePass, time: timeRatio <= 0.5, exact: exactAll } };

  const rewrite = await measure("rewrite", other, { "blit-delta": blitTool(deltaArgs), "blit-whole": blitTool(wholeArgs) });
  lines.push(header("fully rewritten file: delta against --whole-file"));
  lines.push(...toolTable(rewrite, bytes));
  const rw = rewrite["blit-delta"]!.medianMs / rewrite["blit-whole"]!.medianMs;
  const rwExact = Object.values(rewrite).every((s) => s.allExact);
  lines.push(`  target: delta no slower than --whole-file (<= 1.05x): ${verdict(rw, rw <= 1.05, `${rw.toFixed(2)}x`)}`);
  if (!rwExact) lines.push("  FAIL: a result differed from the source (cmp) or a temporary was left beside it");
  summary.rewrite = { tools: rewrite, deltaVsWholeTime: rw, pass: { time: rw <= 1.05, exact: rwExact } };

  const procs = [blitd.proc, rsyncd, ...(link.holder ? [link.holder] : [])];
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  xfs?.done();
  return { lines, summary };
}

/** rsync's daemon answers a module list (it takes a moment to bind). */
async function waitForRsyncd(link: Link, port: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await run([...link.prefix, "rsync", `rsync://127.0.0.1:${port}/`])).exitCode === 0) return;
    await Bun.sleep(100);
  }
  throw new Error(`rsync --daemon did not answer on port ${port}`);
}

// ---------------------------------------------------------------- resume

async function resumeScenario(ctx: ResilienceContext, d: Daemon, mod: string): Promise<ResilienceResult> {
  const bytes = Math.round((1 << 30) * ctx.scale);
  const src = join(ctx.ws, "resume-src");
  const srcFile = join(src, "big.bin");
  log(`resume: generating a ${bytes} B file...`);
  await makeRandomFile(srcFile, bytes);
  await sync();
  const url = `blit://127.0.0.1:${d.port}/m`;
  const rows: Record<string, unknown>[] = [];
  for (let r = 1; r <= ctx.runs; r++) {
    const dir = join(mod, `resume-${r}`);
    const first = spawn(ctx, blitCmd(ctx, ["push", src, `${url}/resume-${r}`, "--bwlimit", RATE]));
    const t0 = performance.now();
    const firstDone = finish(first, t0);
    let exited = false;
    void first.exited.then(() => (exited = true));
    let tmpBytes = 0;
    while (!exited) {
      const tmp = findNamed(dir, ".blit-tmp-")[0];
      if (tmp) {
        try {
          tmpBytes = statSync(tmp).size;
        } catch {}
      }
      if (tmpBytes >= bytes / 2) break;
      await Bun.sleep(10);
    }
    if (exited) throw new Error(`resume: the first push ended before half the file was on the daemon (exit ${(await firstDone).code}): ${(await firstDone).stderr.slice(-400)}`);
    first.kill("SIGKILL");
    const killedMs = (await firstDone).ms;
    // A user runs the push again after a moment, not in the same millisecond.
    await Bun.sleep(1000);
    const keptBeforeSecond = findNamed(dir, ".blit-").map((p) => ({ path: p.slice(dir.length + 1), bytes: safeSize(p) }));
    const cmd = blitCmd(ctx, ["push", src, `${url}/resume-${r}`, "--bwlimit", RATE, "--json"]);
    const second = mustSucceed(cmd, await runTimed(ctx, cmd));
    const wire = blitWire(second.stdout);
    const exact = await same(srcFile, join(dir, "big.bin"));
    const leftAll = findNamed(mod, ".blit-");
    const left = leftAll.filter((p) => p.split("/").pop()!.startsWith(".blit-tmp-"));
    const otherBlit = leftAll.filter((p) => !left.includes(p)).map((p) => p.slice(mod.length + 1));
    if (otherBlit.length) log(`  resume run ${r}: other .blit-* entries left: ${otherBlit.join(", ")}`);
    const pct = wire.out === undefined ? undefined : (wire.out / bytes) * 100;
    log(`  resume run ${r}: killed at ${fmtB(tmpBytes)} after ${fmtS(killedMs)}; second push ${fmtS(second.ms)}, wire out ${fmtB(wire.out)} (${fmtPct(pct)}), resumed ${fmtB(wire.resumed)}${exact ? "" : ", RESULT DIFFERS"}${left.length ? `, ${left.length} temporaries left` : ""}`);
    rows.push({ killedAtBytes: tmpBytes, killedAfterMs: killedMs, keptBeforeSecond, secondMs: second.ms, secondWireOutBytes: wire.out, secondWireOutPct: pct, resumedBytes: wire.resumed, exact, temporariesLeft: left.length, otherBlitLeft: otherBlit });
    await run(["rm", "-rf", dir]);
  }
  const pct = medianOf(rows.map((x) => x.secondWireOutPct as number | undefined));
  const exact = rows.every((x) => x.exact);
  const clean = rows.every((x) => x.temporariesLeft === 0);
  const lines = [
    `\nresume: ${fmtB(bytes)} push (--bwlimit ${RATE}) killed at 50%, then pushed again  (tmpfs, loopback; ${ctx.runs} runs)`,
    // kept: the .blit-* entries in the target directory between the two pushes (the verified part).
    `  run  killed at (of file)   after  kept .blit-*  2nd push   wire out  out/file  resumed`,
    ...rows.map((x, i) => {
      const kept = (x.keptBeforeSecond as { bytes: number }[]).reduce((a, k) => a + k.bytes, 0);
      const at = `${fmtB(x.killedAtBytes as number)} (${fmtPct(((x.killedAtBytes as number) / bytes) * 100)})`;
      return `  ${String(i + 1).padEnd(4)} ${at.padStart(18)}  ${fmtS(x.killedAfterMs as number).padStart(6)}  ${fmtB(kept).padStart(12)}  ${fmtS(x.secondMs as number).padStart(8)}  ${fmtB(x.secondWireOutBytes as number | undefined).padStart(9)}  ${fmtPct(x.secondWireOutPct as number | undefined).padStart(8)}  ${fmtB(x.resumedBytes as number | undefined)}`;
    }),
    `  target: second push sends <= 55% of the file (median): ${verdict(pct, pct === undefined ? undefined : pct <= 55, fmtPct(pct))}`,
    `  result equals the source (cmp) every run: ${exact ? "PASS" : "FAIL"}; no .blit-tmp-* left after the second push: ${clean ? "PASS" : "FAIL"}`,
  ];
  await run(["rm", "-rf", src]);
  return { lines, summary: { fileBytes: bytes, runs: rows, medianSecondWireOutPct: pct, pass: { wire: pct === undefined ? undefined : pct <= 55, exact, clean } } };
}

function safeSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------- retries

async function retriesScenario(ctx: ResilienceContext, daemon: { d: Daemon }, config: string, mod: string): Promise<ResilienceResult> {
  const files = Math.max(100, Math.round(100_000 * ctx.scale));
  let tree = ctx.smallTree?.files === files && existsSync(ctx.smallTree.root) ? ctx.smallTree.root : undefined;
  if (!tree) {
    tree = join(ctx.ws, "retries-src");
    log(`retries: generating ${files} x 4 KiB files...`);
    await makeSmallTree(tree, { files, dirs: 200, size: 4096 });
    await sync();
  }
  // Paced to last about 8 s at full scale (2 s at the smallest), so the kill lands mid-push.
  const seconds = Math.max(2, 8 * Math.sqrt(ctx.scale));
  const rate = `${Math.max(64, Math.round((files * 4096) / seconds / 1024))}K`;
  const rows: Record<string, unknown>[] = [];
  for (let r = 1; r <= ctx.runs; r++) {
    const dir = join(mod, `retries-${r}`);
    const cmd = blitCmd(ctx, ["push", tree, `blit://127.0.0.1:${daemon.d.port}/m/retries-${r}`, "--bwlimit", rate, "--json"]);
    const t0 = performance.now();
    const client = spawn(ctx, cmd);
    const done = finish(client, t0);
    let exited = false;
    void client.exited.then(() => (exited = true));
    let seen = 0;
    while (!exited && (seen = countFiles(dir)) < files / 2) await Bun.sleep(100);
    let killedAt: number | undefined;
    let restartMs: number | undefined;
    if (!exited) {
      killedAt = seen;
      const k0 = performance.now();
      daemon.d.proc.kill("SIGKILL");
      await daemon.d.proc.exited;
      daemon.d = await restartBlitd(ctx, config, daemon.d);
      restartMs = performance.now() - k0;
    }
    const timeout = Bun.sleep(180_000).then(() => "timeout" as const);
    if ((await Promise.race([client.exited, timeout])) === "timeout") client.kill("SIGKILL");
    const res = await done;
    const report = blitReport(res.stdout);
    const diff = await run(["diff", "-r", tree, dir]);
    const leftAll = findNamed(mod, ".blit-");
    const left = leftAll.filter((p) => p.split("/").pop()!.startsWith(".blit-tmp-"));
    const otherBlit = leftAll.filter((p) => !left.includes(p)).map((p) => p.slice(mod.length + 1));
    if (otherBlit.length) log(`  retries run ${r}: other .blit-* entries left: ${otherBlit.slice(0, 5).join(", ")}`);
    const attempts = report?.transport?.attempts as number | undefined;
    const retries = Array.isArray(report?.transport?.retries) ? report.transport.retries : undefined;
    const pass = res.code === 0 && killedAt !== undefined && diff.exitCode === 0 && diff.stdout === "" && left.length === 0;
    log(`  retries run ${r}: blitd killed at ${killedAt ?? "never (the push ended first)"} files, back in ${restartMs === undefined ? "n/a" : fmtS(restartMs)}; client exit ${res.code} after ${fmtS(res.ms)}, attempts ${attempts ?? "n/a"}, diff ${diff.exitCode === 0 ? "empty" : "NOT empty"}, ${left.length} temporaries${pass ? "" : `; ${res.stderr.trim().split("\n").slice(-2).join(" / ")}`}`);
    rows.push({
      ms: res.ms, exitCode: res.code, killedAtFiles: killedAt, restartMs, attempts, retries: retries?.length,
      retryReasons: retries?.map((x: { reason: string }) => x.reason), diffEmpty: diff.exitCode === 0 && diff.stdout === "",
      diffHead: diff.stdout.split("\n").slice(0, 5), temporariesLeft: left.length, otherBlitLeft: otherBlit.slice(0, 20), pass,
    });
    await run(["rm", "-rf", dir]);
  }
  if (tree !== ctx.smallTree?.root) await run(["rm", "-rf", tree]);
  const allPass = rows.every((x) => x.pass);
  const lines = [
    `\nretries: push of ${files} x 4 KiB (--bwlimit ${rate}), blitd killed and restarted when half the files are in  (tmpfs, loopback; ${ctx.runs} runs)`,
    `  run  killed at  restart  exit  time      attempts  retries  diff -r  .blit-tmp-*  verdict`,
    ...rows.map((x, i) => `  ${String(i + 1).padEnd(4)} ${String(x.killedAtFiles ?? "-").padStart(9)}  ${(x.restartMs === undefined ? "-" : fmtS(x.restartMs as number)).padStart(7)}  ${String(x.exitCode).padStart(4)}  ${fmtS(x.ms as number).padStart(8)}  ${String(x.attempts ?? "n/a").padStart(8)}  ${String(x.retries ?? "n/a").padStart(7)}  ${(x.diffEmpty ? "empty" : "DIFFERS").padEnd(7)}  ${String(x.temporariesLeft).padStart(11)}  ${x.pass ? "PASS" : "FAIL"}`),
    `  median time ${fmtS(median(rows.map((x) => x.ms as number)))}; target: the client finishes by itself (exit 0), exact tree, no temporaries, every run: ${allPass ? "PASS" : "FAIL"}`,
  ];
  return { lines, summary: { files, bwlimit: rate, runs: rows, medianMs: median(rows.map((x) => x.ms as number)), pass: allPass } };
}

// ---------------------------------------------------------------- entry

/**
 * Load and memory in use when the proofs start: BENCHMARKING.md measured tmpfs writes getting
 * several times slower past 4-5 GiB in use, and a busy machine spreads the delta timings.
 */
function machineNow(): { text: string; values: Record<string, number> } {
  const load = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
  const info = readFileSync("/proc/meminfo", "utf8");
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(info)?.[1] ?? NaN);
  const GiB = 1 << 20;
  const total = kib("MemTotal") / GiB;
  const used = (kib("MemTotal") - kib("MemAvailable")) / GiB;
  const shmem = kib("Shmem") / GiB;
  return {
    text: `load ${load.toFixed(2)} (1 min), memory in use ${used.toFixed(1)} of ${total.toFixed(1)} GiB (tmpfs and shared ${shmem.toFixed(1)} GiB)`,
    values: { load1: load, memUsedGiB: used, memTotalGiB: total, shmemGiB: shmem },
  };
}

/** Runs the scenarios of RESILIENCE_SCENARIOS that ctx.only names; returns the table's lines and the JSON summary. */
export async function resilienceScenarios(ctx: ResilienceContext): Promise<ResilienceResult> {
  const machine = machineNow();
  const lines: string[] = [`\nissue 15 proofs; at their start: ${machine.text}`];
  const summary: Record<string, unknown> = { machineAtStart: machine.values };
  if (ctx.only.has("delta")) {
    for (const place of ctx.deltaFs) {
      const r = await deltaScenarios(ctx, place);
      lines.push(...r.lines);
      if (place === "disk") Object.assign(summary, r.summary);
      else summary.xfs = r.summary;
    }
  }
  if (ctx.only.has("resume") || ctx.only.has("retries")) {
    const mod = join(ctx.ws, "resilience-mod");
    mkdirSync(mod, { recursive: true });
    const config = join(ctx.ws, "resilience-blitd.toml");
    writeFileSync(config, `telemetry = false\n[modules.m]\npath = ${JSON.stringify(mod)}\nread_only = false\n`);
    const daemon = { d: await startBlitd(ctx, config, "127.0.0.1:0") };
    log(`resume/retries: blitd on ${daemon.d.port}`);
    if (ctx.only.has("resume")) {
      const r = await resumeScenario(ctx, daemon.d, mod);
      lines.push(...r.lines);
      summary.resume = r.summary;
    }
    if (ctx.only.has("retries")) {
      const r = await retriesScenario(ctx, daemon, config, mod);
      lines.push(...r.lines);
      summary.retries = r.summary;
    }
    daemon.d.proc.kill("SIGKILL");
    await daemon.d.proc.exited;
  }
  return { lines, summary };
}
