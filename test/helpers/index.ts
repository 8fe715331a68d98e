// Shared helpers for the engine and CLI suites: temporary directories that are always removed,
// trees written from a compact spec, the real `blit` CLI started as a subprocess, and tree
// comparisons done the way a user would check a copy (diff -r, stat of every entry).
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import {
  chmodSync, closeSync, existsSync, ftruncateSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync,
  readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { randomBytes, createHash } from "node:crypto";
import type { Subprocess } from "bun";
import { linuxFd, openRooted, type RootedDir } from "../../ffi/index.ts";

/** The repository root: the CLI runs from here as `bun tui/blit.ts`. */
export const REPO_ROOT = join(import.meta.dir, "..", "..");
export const TEMP_PREFIX = ".blit-tmp-";
export const MiB = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Temporary directories

export interface TempDir {
  /** The directory itself, `<os.tmpdir()>/blit-test-XXXXXX`. */
  readonly path: string;
  /** `<path>/home`, the BLIT_HOME given to CLI runs by default (created lazily by blit). */
  readonly home: string;
  /** join(path, ...parts) */
  join(...parts: string[]): string;
  /** Removes the directory (after unmounting anything still mounted beneath it). Idempotent. */
  remove(): void;
}

const liveTemps = new Set<TempDir>();

/** A fresh directory under os.tmpdir() with prefix `blit-test-`. Prefer `withTemp` or `tempDirs`. */
export function makeTempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), "blit-test-"));
  const t: TempDir = {
    path,
    home: join(path, "home"),
    join: (...parts) => join(path, ...parts),
    remove() {
      if (!liveTemps.delete(t)) return;
      unmountBeneath(path);
      // chmod 000 files and read-only dirs are removable by root; for others, restore access first.
      try {
        rmSync(path, { recursive: true, force: true });
      } catch {
        spawnSync("chmod", ["-R", "u+rwx", path]);
        rmSync(path, { recursive: true, force: true });
      }
    },
  };
  liveTemps.add(t);
  return t;
}

/** Runs fn with a fresh temp dir, removed afterwards even when fn throws. */
export async function withTemp<T>(fn: (t: TempDir) => Promise<T> | T): Promise<T> {
  const t = makeTempDir();
  try {
    return await fn(t);
  } finally {
    t.remove();
  }
}

/**
 * For afterEach/afterAll: `const temps = tempDirs(); afterEach(temps.cleanup);` then `temps.make()`
 * in each test. cleanup removes every directory made since the last cleanup and kills any CLI
 * process a test left running.
 */
export function tempDirs() {
  const made: TempDir[] = [];
  return {
    make(): TempDir {
      const t = makeTempDir();
      made.push(t);
      return t;
    },
    cleanup(): void {
      killAllStarted();
      for (const t of made.splice(0)) t.remove();
    },
  };
}

/** Mounts (from /proc/self/mounts) at or below dir, deepest first, are lazily unmounted. */
export function unmountBeneath(dir: string): void {
  let mounts: string[] = [];
  try {
    mounts = readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .map((m) => m.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
      .filter((m) => m === dir || m.startsWith(dir + "/"));
  } catch {
    return;
  }
  for (const m of mounts.sort((a, b) => b.length - a.length)) spawnSync("umount", ["-l", m]);
}

// ---------------------------------------------------------------------------------------------
// Trees from a compact spec

/** Timestamps are given as `touch -d` text in UTC, e.g. "2020-01-02 03:04:05.123456789". */
export type Stamp = string;

export type EntrySpec =
  /** A regular file with this content. */
  | string
  | Buffer
  | { content?: string | Buffer; /** random bytes of this size, instead of content */ size?: number; mode?: number; mtime?: Stamp }
  | { dir: true; mode?: number; mtime?: Stamp }
  | { symlink: string; mtime?: Stamp };

/**
 * Keys are paths relative to root ("a/b/file.txt"); a key ending in "/" is an (empty) directory,
 * also reachable as `{ dir: true }`. Parents are created as needed. Modes and mtimes are applied
 * after every entry exists, directories last and deepest first, so that they stick.
 */
export type TreeSpec = Record<string, EntrySpec | null>;

export function writeTree(root: string, spec: TreeSpec): void {
  mkdirSync(root, { recursive: true });
  const late: { path: string; mode?: number; mtime?: Stamp; link: boolean; dir: boolean }[] = [];
  for (const [key, raw] of Object.entries(spec)) {
    const rel = key.replace(/\/+$/, "");
    const abs = join(root, rel);
    const isDirKey = key.endsWith("/");
    mkdirSync(dirname(abs), { recursive: true });
    if (isDirKey || (raw !== null && typeof raw === "object" && !Buffer.isBuffer(raw) && "dir" in raw)) {
      mkdirSync(abs, { recursive: true });
      const r = (raw ?? {}) as { mode?: number; mtime?: Stamp };
      late.push({ path: abs, mode: r.mode, mtime: r.mtime, link: false, dir: true });
    } else if (raw !== null && typeof raw === "object" && !Buffer.isBuffer(raw) && "symlink" in raw) {
      symlinkSync(raw.symlink, abs);
      late.push({ path: abs, mtime: raw.mtime, link: true, dir: false });
    } else {
      let content: string | Buffer = "";
      let mode: number | undefined;
      let mtime: Stamp | undefined;
      if (typeof raw === "string" || Buffer.isBuffer(raw)) content = raw;
      else if (raw !== null) {
        const r = raw as { content?: string | Buffer; size?: number; mode?: number; mtime?: Stamp };
        content = r.size !== undefined ? randomBytes(r.size) : r.content ?? "";
        mode = r.mode;
        mtime = r.mtime;
      }
      writeFileSync(abs, content);
      late.push({ path: abs, mode, mtime, link: false, dir: false });
    }
  }
  // Files and links first, then directories deepest first: setting a child's metadata does not
  // change its directory's mtime, but creating the child did.
  const depth = (p: string) => p.split("/").length;
  late.sort((a, b) => Number(a.dir) - Number(b.dir) || (a.dir ? depth(b.path) - depth(a.path) : 0));
  for (const e of late) {
    if (e.mode !== undefined) chmodSync(e.path, e.mode);
    if (e.mtime !== undefined) setMtime(e.path, e.mtime, { noDereference: e.link });
  }
}

/** Sets the mtime (and atime) to the nanosecond with `touch -d`, in UTC. */
export function setMtime(path: string, stamp: Stamp, opts: { noDereference?: boolean } = {}): void {
  const args = [...(opts.noDereference ? ["-h"] : []), "-d", stamp, "--", path];
  check(spawnSync("touch", args, { env: { ...process.env, TZ: "UTC" }, encoding: "utf8" }), `touch ${args.join(" ")}`);
}

/** mtime in nanoseconds, without following a symlink. */
export function mtimeNs(path: string): bigint {
  return lstatSync(path, { bigint: true }).mtimeNs;
}

/** Restores an exact nanosecond mtime read earlier with mtimeNs. */
export function setMtimeNs(path: string, ns: bigint, opts: { noDereference?: boolean } = {}): void {
  const sec = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0");
  setMtime(path, `@${sec}.${frac}`, opts);
}

// ---------------------------------------------------------------------------------------------
// Tree inspection

export interface Entry {
  /** Relative to the root, "/"-separated; "" is the root itself. */
  rel: string;
  type: "file" | "dir" | "symlink" | "other";
  /** Permission bits (mode & 0o7777). */
  mode: number;
  mtimeNs: bigint;
  size: number;
  /** sha256 of a file's content, or a symlink's target. */
  content?: string;
}

/** Every entry beneath root (root included as ""), sorted by path, nothing followed. */
export function walk(root: string, opts: { content?: boolean } = {}): Entry[] {
  const out: Entry[] = [];
  const visit = (rel: string) => {
    const abs = rel === "" ? root : join(root, rel);
    const st = lstatSync(abs, { bigint: true });
    const type = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other";
    const e: Entry = { rel, type, mode: Number(st.mode & 0o7777n), mtimeNs: st.mtimeNs, size: Number(st.size) };
    if (opts.content && type === "file") e.content = createHash("sha256").update(readFileSync(abs)).digest("hex");
    if (type === "symlink") e.content = readlinkSync(abs);
    out.push(e);
    if (type === "dir") for (const name of readdirSync(abs).sort()) visit(rel === "" ? name : `${rel}/${name}`);
  };
  visit("");
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** A printable full listing (type, mode, size, mtime ns, content hash) to compare before/after. */
export function listing(root: string): string[] {
  return walk(root, { content: true }).map(
    (e) => `${JSON.stringify(e.rel)} ${e.type} ${e.mode.toString(8)} ${e.size} ${e.mtimeNs} ${e.content ?? ""}`,
  );
}

/** Relative paths of the regular files beneath root. */
export function filesUnder(root: string): string[] {
  return walk(root).filter((e) => e.type === "file").map((e) => e.rel);
}

/**
 * Differences in type, mode or mtime (ns) between every entry of two trees, roots included; []
 * when they agree. Entries present on one side only are reported too. Symlink modes are not
 * compared (always 0777 on Linux) but their mtimes are.
 */
export function metaDiff(a: string, b: string, opts: { mtimeToleranceNs?: bigint } = {}): string[] {
  const tol = opts.mtimeToleranceNs ?? 0n;
  const ea = new Map(walk(a).map((e) => [e.rel, e]));
  const eb = new Map(walk(b).map((e) => [e.rel, e]));
  const out: string[] = [];
  const name = (rel: string) => JSON.stringify(rel === "" ? "." : rel);
  for (const [rel, x] of ea) {
    const y = eb.get(rel);
    if (!y) {
      out.push(`${name(rel)}: only in ${a}`);
      continue;
    }
    if (x.type !== y.type) out.push(`${name(rel)}: type ${x.type} vs ${y.type}`);
    else {
      if (x.type !== "symlink" && x.mode !== y.mode) out.push(`${name(rel)}: mode ${x.mode.toString(8)} vs ${y.mode.toString(8)}`);
      const d = x.mtimeNs - y.mtimeNs;
      if (d > tol || -d > tol) out.push(`${name(rel)}: mtime ${x.mtimeNs} vs ${y.mtimeNs}`);
    }
  }
  for (const rel of eb.keys()) if (!ea.has(rel)) out.push(`${name(rel)}: only in ${b}`);
  return out;
}

/** `diff -r --no-dereference a b`: exitCode 0 and empty output when the trees are equal. */
export function diffR(a: string, b: string): { exitCode: number; output: string } {
  const r = spawnSync("diff", ["-r", "--no-dereference", a, b], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { exitCode: r.status ?? -1, output: (r.stdout ?? "") + (r.stderr ?? "") };
}

/** Files (any type) beneath root whose name starts with `.blit-tmp-`, relative paths. */
export function blitTemps(root: string): string[] {
  if (!existsSync(root)) return [];
  return walk(root).filter((e) => e.rel.split("/").pop()!.startsWith(TEMP_PREFIX)).map((e) => e.rel);
}

/**
 * Files under dst that are not byte-equal to the file at the same path under src (a partial or
 * wrong copy under its final name). Files missing from dst are fine; files missing from src are
 * reported.
 */
export function unequalFiles(src: string, dst: string): string[] {
  const bad: string[] = [];
  if (!existsSync(dst)) return bad;
  for (const rel of filesUnder(dst)) {
    const s = join(src, rel);
    if (!existsSync(s)) bad.push(`${rel}: not in source`);
    else if (!readFileSync(s).equals(readFileSync(join(dst, rel)))) bad.push(`${rel}: content differs (${lstatSync(join(dst, rel)).size} of ${lstatSync(s).size} bytes)`);
  }
  return bad;
}

// ---------------------------------------------------------------------------------------------
// Running the CLI

export interface CliResult {
  exitCode: number;
  /** The signal that ended the process, if any. */
  signalCode: string | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when the whole of it is one JSON value. */
  json?: any;
  /** Wall time from spawn to exit. */
  ms: number;
}

export interface CliOptions {
  /** BLIT_HOME; default: a `home` dir in a fresh temp dir made for this run... so pass one. */
  home: string;
  /** Extra environment (undefined deletes a variable). */
  env?: Record<string, string | undefined>;
  /** Run as this user through `setpriv --reuid=U --regid=G --clear-groups`. */
  asUser?: { user: string; group: string };
  /** Kill (SIGKILL) and fail after this long. Default 60 s. */
  timeoutMs?: number;
}

export interface RunningCli {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Resolves when the process has exited and its output is read. */
  done: Promise<CliResult>;
  kill(signal?: NodeJS.Signals | number): void;
}

const started = new Set<Subprocess>();

/** Kills (SIGKILL) every CLI process started by these helpers that is still running. */
export function killAllStarted(): void {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  started.clear();
}

function cliEnv(opts: CliOptions): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env };
  // Runs are hermetic: inherited BLIT_* settings would change what is being specified.
  for (const k of Object.keys(env)) if (k.startsWith("BLIT_")) delete env[k];
  env.BLIT_HOME = opts.home;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env as Record<string, string>;
}

/** Starts `bun tui/blit.ts ...args` in the repo root; the caller must kill it in a finally. */
export function startCli(args: string[], opts: CliOptions): RunningCli {
  const prefix = opts.asUser
    ? ["setpriv", `--reuid=${opts.asUser.user}`, `--regid=${opts.asUser.group}`, "--clear-groups"]
    : [];
  const t0 = performance.now();
  const proc = Bun.spawn([...prefix, process.execPath, "tui/blit.ts", ...args], {
    cwd: REPO_ROOT,
    env: cliEnv(opts),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  started.add(proc);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const done = (async (): Promise<CliResult> => {
    try {
      const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      await proc.exited;
      const ms = performance.now() - t0;
      if (timedOut) throw new Error(`blit ${args.join(" ")} did not finish within ${timeoutMs} ms (killed)\nstderr: ${stderr}`);
      let json: unknown;
      try {
        if (stdout.trim() !== "") json = JSON.parse(stdout);
      } catch {}
      return { exitCode: proc.exitCode ?? -1, signalCode: proc.signalCode === null ? null : String(proc.signalCode), stdout, stderr, json, ms };
    } finally {
      clearTimeout(timer);
      started.delete(proc);
    }
  })();
  return {
    proc,
    done,
    kill(signal = "SIGKILL") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
}

/** Runs `bun tui/blit.ts ...args` to completion; the process is killed if anything goes wrong. */
export async function runCli(args: string[], opts: CliOptions): Promise<CliResult> {
  const r = startCli(args, opts);
  try {
    return await r.done;
  } finally {
    r.kill("SIGKILL");
  }
}

/** `blit diagnostics perf --json` for this BLIT_HOME: the recorded runs, newest first. */
export async function recordedRuns(home: string, env?: Record<string, string | undefined>): Promise<any[]> {
  const r = await runCli(["diagnostics", "perf", "--json", "--limit", "100"], { home, env });
  if (r.exitCode !== 0 || !Array.isArray(r.json)) {
    throw new Error(`blit diagnostics perf --json failed (exit ${r.exitCode}): ${r.stderr}${r.stdout}`);
  }
  return r.json;
}

// ---------------------------------------------------------------------------------------------
// Small system helpers

const toolChecks = new Map<string, boolean>();

/**
 * Whether `tool` is on PATH. When it is not, says once on stderr which tests are skipped and what
 * to install, so that `npm test` on a fresh machine passes and names what it did not run; CI
 * (.ci/run) installs every tool, so it runs them all. Use as `test.skipIf(!hasTool(...))`.
 */
export function hasTool(tool: string, what: string, install: string): boolean {
  let found = toolChecks.get(tool);
  if (found === undefined) {
    found = spawnSync("sh", ["-c", `command -v '${tool}'`]).status === 0;
    toolChecks.set(tool, found);
  }
  if (!found) console.warn(`skipping ${what}: ${tool} is not installed (${install})`);
  return found;
}

/** Runs a command synchronously; throws with its output when it fails. */
export function sh(cmd: string, args: string[], opts: { env?: Record<string, string> } = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: opts.env ? { ...process.env, ...opts.env } : process.env });
  return check(r, `${cmd} ${args.join(" ")}`);
}

function check(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Sleeps without blocking the event loop. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Sparse files

/** A data extent of a sparse file: `bytes` random bytes at `offset`. */
export interface Extent {
  offset: number;
  bytes: number;
}

/** Writes a file of `size` bytes holding only `extents` (random bytes); the rest is holes. */
export function writeSparse(path: string, size: number, extents: Extent[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, "w");
  try {
    for (const e of extents) writeSync(fd, randomBytes(e.bytes), 0, e.bytes, e.offset);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * Why files under `dir` cannot hold holes, or undefined when they can: a 1 MiB file with one
 * 4 KiB block written must take fewer blocks than its size.
 */
export function holesUnsupported(dir: string): string | undefined {
  const probe = join(mkdtempSync(join(dir, "blit-holes-")), "probe");
  try {
    writeSparse(probe, MiB, [{ offset: 0, bytes: 4096 }]);
    const st = statSync(probe);
    return st.blocks * 512 < st.size ? undefined : `${dir} allocates all ${st.size} bytes of a file with holes (${st.blocks} blocks); this filesystem cannot keep files sparse`;
  } finally {
    rmSync(dirname(probe), { recursive: true, force: true });
  }
}
// What os.tmpdir()'s filesystem and this process support for metadata tests (xattrs, ACLs, root).
export { isRoot, posixAcls, skipNote, userXattrs } from "./metadata-support.ts";

// Directory fds for tests of ffi's Linux fd helpers (xattrs, owners): taken from the one sandbox
// interface, RootedDir, as the engine takes them.
const rootedByFd = new Map<number, RootedDir>();
/** The fd of `path` opened as a RootedDir root (Linux); close it with closeRootFd. */
export function openRootFd(path: string): number {
  const r = openRooted(path);
  const fd = linuxFd(r, path);
  rootedByFd.set(fd, r);
  return fd;
}
export function closeRootFd(fd: number): void {
  rootedByFd.get(fd)?.close();
  rootedByFd.delete(fd);
}
