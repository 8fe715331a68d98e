// A local copy or mirror as named phases: enumerate -> plan -> transfer -> replace and delete ->
// directory metadata -> report. The decisions are the one planner's (engine/plan.ts); what is
// created, swapped and deleted goes through the destination's directory fds (engine/dest-tree.ts).
import {
  backend, filesystemType, describeCode, displayName, keepsAny, nameFs, namePath, openRooted, readXattrsAt, sameXattrs,
  type EntryMetadata, type FastPath, type Keep, type StatRecord,
} from "../ffi/index.ts";
import { startContext, type CapturedContext, type ContextRecorder } from "./context/index.ts";
import { backupExcludes, backupPlace, backupShownAs, Backups, type BackupPlace } from "./backup.ts";
import { RootedDestTree, openDestTree, removeStaged, replaceAndDelete, type DestTree } from "./dest-tree.ts";
import { fileEvent, type EntryLetter, type EventKind, type FileEvent } from "./events.ts";
import { UsageError } from "./errors.ts";
import { destinationRules, keepOf, selectionRules, type Job } from "./options.ts";
import { Scope } from "./select/index.ts";
import { deleteGuard, planTrees, WHY, writePath, type Plan } from "./plan.ts";
import { WorkerPool } from "./pool.ts";
import { makeEarlyReport, makeRunReport, type Counts, type PhaseTimes, type RunError, type RunOptions, type RunReport, type SizeClassPlan, type Workload } from "./report.ts";
import { emptyTree, T_DIR, T_FILE, T_LINK, unpackTree, type PackedTree, type Tree } from "./walk.ts";
import type { CopyItem, CopyResult } from "./worker-protocol.ts";
// node:fs and node:path as byte-exact versions: paths may hold names that are not UTF-8.
const { existsSync, lstatSync, mkdirSync, realpathSync, statSync } = nameFs;
const { basename, dirname, join, join2, resolve } = namePath;

export type Phase = "enumerate" | "plan" | "transfer" | "delete" | "finish";

export interface Progress {
  phase: Phase;
  filesDone: number;
  bytesDone: number;
  filesTotal: number;
  bytesTotal: number;
  /** The file being copied (relative to the source; the source's name for a single file), when known. */
  current?: string;
}

/** One line of the plan, for --dry-run and --verbose listings. */
export interface Action {
  kind: "copy" | "mkdir" | "link" | "delete" | "replace";
  path: string;
  bytes?: number;
}

export interface RunHooks {
  onProgress?: (p: Progress) => void;
  /** Abort (Ctrl-C): workers stop after the current file, temporaries are removed. */
  signal?: AbortSignal;
  /** Return the list of actions (for --dry-run and --verbose); off, a large run keeps no list. */
  listActions?: boolean;
  /**
   * Each entry written, deleted, backed up or failed, with the planner's reason, as it happens
   * (a dry run: as planned). Without it the run does no per-entry work for events.
   */
  onEvent?: (e: FileEvent) => void;
}

export interface RunResult {
  report: RunReport;
  actions: Action[];
}

const SMALL_MAX = 256 << 10;
const LARGE_MIN = 64 << 20;
const MAX_ERRORS_KEPT = 1000;

interface Resolved {
  src: string;
  dst: string;
  /** Source is one regular file; dst is the final file path. */
  single: boolean;
  /** `copy file newdir/`: the directory to make first (dst is inside it). */
  makeDir?: string;
}

/** Checks made before anything is written. Throws UsageError. */
export function resolvePaths(job: Job): Resolved {
  let src = resolve(job.source);
  let st;
  try {
    st = statSync(src);
  } catch (err) {
    const code = (err as { code?: string }).code ?? "EIO";
    if (code === "ENOENT") throw new UsageError("SOURCE_MISSING", `source '${job.source}' does not exist`);
    throw new UsageError("SOURCE_UNREADABLE", `cannot read source '${job.source}': ${describeCode(code)}`);
  }
  // A source given as a symlink is followed, once, at the root (as `cp -rH` and `rsync -a link/`
  // do); nothing below the root is ever followed.
  src = realpathSync(src);
  let dst = resolve(job.destination);
  const wantsDir = /[\\/]$/.test(job.destination);
  if (st.isFile()) {
    let dstIsDir = false;
    let dstExists = false;
    try {
      dstExists = true;
      dstIsDir = statSync(dst).isDirectory();
    } catch {
      dstExists = false;
    }
    let makeDir: string | undefined;
    if (dstIsDir) dst = join(dst, basename(src));
    else if (wantsDir) {
      // `blit copy file newdir/`: the trailing slash names a directory; it is made (one level), as rsync does.
      if (dstExists) throw new UsageError("DEST_NOT_DIR", `destination '${job.destination}' exists and is not a directory`);
      if (!existsSync(dirname(dst))) {
        throw new UsageError("DEST_PARENT_MISSING", `destination directory '${dirname(job.destination.replace(/[\\/]+$/, ""))}' does not exist; create it first`);
      }
      makeDir = dst;
      dst = join(dst, basename(src));
    } else if (!existsSync(dirname(dst))) {
      throw new UsageError("DEST_PARENT_MISSING", `destination directory '${dirname(job.destination)}' does not exist; create it first`);
    }
    if (realOrSelf(dst) === src) {
      throw new UsageError("SAME_PATH", `source and destination are the same file: '${job.source}'`);
    }
    return { src, dst, single: true, makeDir };
  }
  if (!st.isDirectory()) throw new UsageError("SOURCE_TYPE", `source '${job.source}' is not a file or directory`);
  try {
    if (!lstatSync(dst).isDirectory() && !statSync(dst).isDirectory()) {
      throw new UsageError("DEST_NOT_DIR", `destination '${job.destination}' exists and is not a directory; the source is a directory`);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
  }
  const realDst = realOrSelf(dst);
  if (realDst === src || sameEntry(src, realDst)) throw new UsageError("SAME_PATH", `source and destination are the same directory: '${job.source}'`);
  if (realDst.startsWith(src + "/") || hasAncestor(realDst, src)) {
    throw new UsageError("DEST_INSIDE_SOURCE", `destination '${job.destination}' is inside the source '${job.source}'; choose a destination outside it`);
  }
  // By path, and by device and inode: a bind mount of the destination can contain the source.
  if (job.command === "mirror" && (src.startsWith(realDst + "/") || realDst === "/" || hasAncestor(src, realDst))) {
    throw new UsageError("SOURCE_INSIDE_DEST", `source '${job.source}' is inside the destination '${job.destination}'; a mirror would delete it`);
  }
  // The destination root, like the source's, is resolved once: a symlink naming it is followed
  // here, and nothing below it ever is.
  return { src, dst: realDst, single: false };
}

/** True when `a` and `b` are the same directory (same device and inode), whatever their paths. */
function sameEntry(a: string, b: string): boolean {
  try {
    const x = statSync(a, { bigint: true });
    const y = statSync(b, { bigint: true });
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** True when some ancestor of the existing path `p` is the directory `dir` (by device and inode). */
function hasAncestor(p: string, dir: string): boolean {
  let d;
  try {
    d = statSync(dir, { bigint: true });
  } catch {
    return false;
  }
  for (let cur = dirname(p); ; cur = dirname(cur)) {
    try {
      const s = statSync(cur, { bigint: true });
      if (s.dev === d.dev && s.ino === d.ino) return true;
    } catch {}
    if (dirname(cur) === cur) return false;
  }
}

/** realpath of the deepest existing ancestor, with the missing tail appended. */
function realOrSelf(p: string): string {
  const tail: string[] = [];
  let cur = p;
  for (;;) {
    try {
      const real = realpathSync(cur);
      return tail.length ? join(real, ...tail.reverse()) : real;
    } catch {
      const parent = dirname(cur);
      if (parent === cur) return p;
      tail.push(basename(cur));
      cur = parent;
    }
  }
}

/** Run one copy or mirror. Usage errors throw before anything is written; every other failure is in the report. */
export async function run(job: Job, hooks: RunHooks = {}): Promise<RunResult> {
  const r = new LocalRun(job, hooks);
  try {
    await r.enumerate();
    await r.plan();
    await r.transfer();
    r.replaceAndDelete();
    r.finishDirectories();
  } finally {
    await r.close();
  }
  return { report: r.report(), actions: r.actions };
}

/** The state of one local run; each phase of `run` is a method, in order. */
class LocalRun {
  private readonly t0 = performance.now();
  private readonly startedAt = new Date();
  private readonly opts: RunOptions;
  private readonly paths: Resolved;
  private readonly mirror: boolean;
  private readonly phases: PhaseTimes = { enumerateMs: 0, planMs: 0, transferMs: 0, deleteMs: 0, totalMs: 0 };
  private readonly counts: Counts = {
    planned: 0, plannedBytes: 0, copied: 0, copiedBytes: 0, skipped: 0, skippedBytes: 0,
    deleted: 0, deletePlanned: 0, dirsCreated: 0, symlinks: 0,
  };
  private workload: Workload = { files: 0, bytes: 0, dirs: 0, symlinks: 0, sizeHistogram: {} };
  private readonly errors: RunError[] = [];
  private errorCount = 0;
  private readonly bytesByPath: Partial<Record<FastPath, number>> = {};
  private readonly filesByPath: Partial<Record<FastPath, number>> = {};
  private readonly fastPathNotes: Record<string, string> = {};
  readonly actions: Action[] = [];
  private readonly classes: SizeClassPlan[] = [];
  private workerCount = 0;
  private interrupted = false;
  private fatal: string | undefined;
  /** The destination root could not be created: nothing was written, nothing may be deleted. */
  private rootFailed = false;
  /** The delete guard refused: the destination's directories keep their metadata. */
  private refused = false;
  private readonly progress: Progress = { phase: "enumerate", filesDone: 0, bytesDone: 0, filesTotal: 0, bytesTotal: 0 };
  private readonly pool: WorkerPool;
  private readonly onAbort = () => {
    this.interrupted = true;
    this.pool.requestCancel();
  };
  private readonly srcRootPrefix: string;
  private readonly dstRootPrefix: string;
  private srcTree: Tree = emptyTree();
  private dstTree: Tree = emptyTree();
  private p: Plan | undefined;
  /** Source indices of files to copy, after --checksum. */
  private copies: number[] = [];
  private dest: DestTree | undefined;
  /** Staged replacements are in place. */
  private swapped = false;
  /** What entries keep beyond content, mode and mtime (owner, group, -X, -A). */
  private readonly keep: Keep;
  private readonly keepsMeta: boolean;
  private srcDirTree: RootedDestTree | undefined;
  private rootOwner: { uid: number; gid: number } | undefined;
  /** --backup: where backups go (checked up front), and the keeper once the destination is open. */
  private readonly place: BackupPlace | undefined;
  private backups: Backups | undefined;
  /** Source indices not written because the backup of what they replace failed. */
  private readonly held = new Set<number>();
  private readonly onEvent: ((e: FileEvent) => void) | undefined;
  /** The machine around the run, from the paths' resolution to the pool's close. */
  private readonly ctx: ContextRecorder;
  private captured: CapturedContext | undefined;

  constructor(private job: Job, private hooks: RunHooks) {
    this.opts = job.options;
    this.keep = keepOf(this.opts);
    // Directories, symlinks and specials get owners and attributes here (Linux); files get theirs in the backend.
    this.keepsMeta = keepsAny(this.keep) && process.platform === "linux";
    this.paths = resolvePaths(job);
    this.mirror = job.command === "mirror" && !this.paths.single;
    this.srcRootPrefix = this.paths.single ? dirname(this.paths.src) : this.paths.src;
    this.dstRootPrefix = this.paths.single ? dirname(this.paths.dst) : this.paths.dst;
    this.place = backupPlace(this.opts, this.dstRootPrefix, this.srcRootPrefix);
    this.onEvent = hooks.onEvent;
    this.ctx = startContext({
      source: this.paths.src, destination: this.paths.dst, openers: true,
      progress: () => ({ bytes: this.progress.bytesDone, files: this.progress.filesDone }),
    });
    this.pool = new WorkerPool(this.opts.workers, this.opts.bwlimit, (files, bytes, path) => {
      this.progress.filesDone += files;
      this.progress.bytesDone += bytes;
      if (path !== undefined) this.progress.current = path.startsWith(`${this.srcRootPrefix}/`) ? path.slice(this.srcRootPrefix.length + 1) : path;
      this.emit();
    });
    if (hooks.signal?.aborted) this.onAbort();
    hooks.signal?.addEventListener("abort", this.onAbort);
  }

  private emit(): void {
    this.hooks.onProgress?.({ ...this.progress });
  }

  private act(a: Action): void {
    if (this.hooks.listActions) this.actions.push(a);
  }

  private addError(e: RunError): void {
    this.errorCount++;
    this.onEvent?.({ event: "error", path: displayName(e.path), reason: [], code: e.code, message: displayName(e.message) });
    if (this.errors.length < MAX_ERRORS_KEPT) this.errors.push({ ...e, path: displayName(e.path), message: displayName(e.message) });
  }

  /** Both trees at once, one worker each. */
  async enumerate(): Promise<void> {
    this.emit();
    const { paths } = this;
    if (paths.single) {
      // Both sides are one-entry trees under the destination's name, so the planner matches them.
      const name = basename(paths.dst);
      const fs = backend();
      // The rules see the file under its own name, as rsync's do for a file given as SRC: an
      // excluded one is not copied (several sources: `blit copy dir a.tmp DST --exclude '*.tmp'`).
      const own = basename(paths.src);
      const excluded = Scope.top(selectionRules(this.opts)).excluded(own, own, false);
      this.srcTree = excluded ? { ...emptyTree(), rootExists: true } : oneFileTree(name, fs.lstat(paths.src));
      if (!excluded) {
        try {
          const st = fs.lstat(paths.dst);
          if (st.type !== "file") throw new UsageError("DEST_NOT_FILE", `destination '${this.job.destination}' exists and is not a regular file`);
          this.dstTree = oneFileTree(name, st);
        } catch (err) {
          if (err instanceof UsageError) throw err;
        }
      }
    } else {
      // The backup directory inside the destination is walked by neither side (see backup.ts).
      const more = backupExcludes(this.place, this.mirror);
      const [s, d] = await Promise.all([
        this.pool.run({ type: "walk", root: paths.src, rules: [...more.source, ...selectionRules(this.opts)], only: this.opts.filesFrom, side: "source", inodes: !!this.opts.hardLinks }),
        this.pool.run({
          type: "walk", root: paths.dst, rules: [...more.destination, ...(this.mirror ? destinationRules(this.opts) : selectionRules(this.opts))], only: this.opts.filesFrom,
          side: "destination", inodes: !!this.opts.hardLinks,
        }),
      ]);
      this.srcTree = unpackTree((s as { tree: PackedTree }).tree);
      this.dstTree = unpackTree((d as { tree: PackedTree }).tree);
      for (const e of this.srcTree.errors) this.addError(e);
      if (!this.srcTree.rootExists && this.srcTree.errors.length === 0) {
        this.addError({ path: ".", side: "source", code: "SOURCE_TYPE", message: `source '${this.job.source}' could not be read as a directory` });
      }
    }
    this.phases.enumerateMs = performance.now() - this.t0;
  }

  /** The one planner, then --checksum comparisons and the size classes. */
  async plan(): Promise<void> {
    this.progress.phase = "plan";
    this.emit();
    const tPlan = performance.now();
    const { srcTree, dstTree, opts, counts } = this;
    const p = planTrees(srcTree, dstTree, {
      mirror: this.mirror, checksum: opts.checksum, sizeOnly: opts.sizeOnly, ignoreTimes: opts.ignoreTimes,
      hardLinks: opts.hardLinks, specials: opts.specials, devices: opts.devices, owner: opts.owner, group: opts.group,
      explain: this.onEvent !== undefined,
    });
    this.p = p;
    for (const e of p.errors) this.addError(e);
    this.workload = p.workload;
    counts.skipped = p.skipped;
    counts.skippedBytes = p.skippedBytes;
    for (const i of p.mkdirs) this.act({ kind: "mkdir", path: srcTree.paths[i]! });
    for (const i of p.links) this.act({ kind: "link", path: srcTree.paths[i]! });
    this.copies = [...p.need];
    if (p.checks.length > 0) {
      const same = await compareByHash(this.pool, srcTree, dstTree, p.checks, p.checkDst, this.srcRootPrefix, this.dstRootPrefix);
      p.checks.forEach((i, k) => {
        if (same[k]) {
          counts.skipped++;
          counts.skippedBytes += srcTree.sizes[i]!;
        } else {
          this.copies.push(i);
          if (p.why) p.why[i] |= WHY.CHECKSUM;
        }
      });
    }
    for (const i of this.copies) {
      counts.planned++;
      counts.plannedBytes += srcTree.sizes[i]!;
      this.act({ kind: "copy", path: srcTree.paths[i]!, bytes: srcTree.sizes[i]! });
    }
    counts.planned += p.links.length + p.hardLinks.length + p.specials.length;
    for (const j of p.replace) this.act({ kind: "replace", path: dstTree.paths[j]! });
    for (const j of p.extraneousTop) this.act({ kind: "delete", path: dstTree.paths[j]! });
    counts.deletePlanned = p.deletePlanned;

    // Size classes decide batching and concurrency.
    const workers = this.pool.size;
    const sizes = srcTree.sizes;
    const sum = (ix: number[]) => ix.reduce((a, i) => a + sizes[i]!, 0);
    const [small, medium, large] = this.sizeClasses();
    if (small.length) this.classes.push({ name: "small", minBytes: 0, files: small.length, bytes: sum(small), strategy: "batched", concurrency: workers });
    if (medium.length) this.classes.push({ name: "medium", minBytes: SMALL_MAX, files: medium.length, bytes: sum(medium), strategy: "per-file", concurrency: workers });
    if (large.length) this.classes.push({ name: "large", minBytes: LARGE_MIN, files: large.length, bytes: sum(large), strategy: "chunked", concurrency: Math.min(workers, large.length) });
    this.progress.filesTotal = counts.planned;
    this.progress.bytesTotal = counts.plannedBytes;
    this.phases.planMs = performance.now() - tPlan;
  }

  private sizeClasses(): [number[], number[], number[]] {
    const small: number[] = [];
    const medium: number[] = [];
    const large: number[] = [];
    for (const i of this.copies) {
      const s = this.srcTree.sizes[i]!;
      (s < SMALL_MAX ? small : s >= LARGE_MIN ? large : medium).push(i);
    }
    return [small, medium, large];
  }

  /** Where source entry i is written, relative to the destination root's directory. */
  private target(i: number): string {
    return this.paths.single ? basename(this.paths.dst) : writePath(this.p!, this.srcTree.paths[i]!);
  }

  /**
   * Creates the destination root (and its missing parents). When that fails (an unwritable
   * parent, EACCES from mkdir) the run stops with one error naming the directory and what to
   * do, and is reported (and recorded) as failed: exit 2, nothing written.
   */
  private makeRoot(): boolean {
    const { paths } = this;
    try {
      if (paths.makeDir) {
        mkdirSync(paths.makeDir);
        this.counts.dirsCreated++;
      } else if (!paths.single) mkdirSync(paths.dst, { recursive: true });
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code ?? "EIO";
      const dir = (err as { path?: string }).path ?? paths.makeDir ?? paths.dst;
      const parent = dirname(dir);
      const what = code === "EACCES" || code === "EPERM"
        ? `this user may not create entries in '${parent}': make it writable, or choose another destination`
        : code === "ENOTDIR" ? `'${parent}' is not a directory` : "choose another destination";
      this.rootFailed = true;
      this.fatal = code;
      this.addError({ path: paths.dst, side: "run", code, message: `cannot create the destination directory '${dir}': ${describeCode(code)} (${code}); ${what}` });
      return false;
    }
  }

  /** Directories, symlinks and files; replacing entries go under their staged names. */
  async transfer(): Promise<void> {
    const tTransfer = performance.now();
    this.progress.phase = "transfer";
    this.emit();
    this.ctx.noteSourceCached(this.copies.length, (k) => this.copySource(this.copies[k]!), (k) => this.srcTree.sizes[this.copies[k]!]!);
    const { paths, opts, counts, srcTree } = this;
    const p = this.p!;
    if (opts.dryRun && this.onEvent) this.plannedEvents();
    if (!opts.dryRun && !this.interrupted) {
      if (!this.makeRoot()) {
        this.phases.transferMs = performance.now() - tTransfer;
        return;
      }
      const dest = (this.dest = openDestTree(this.dstRootPrefix));
      if (this.place && !this.openBackups(dest)) {
        this.phases.transferMs = performance.now() - tTransfer;
        return;
      }
      // Stale named temporaries from a killed run are ours to remove.
      for (const rel of this.dstTree.staleTemps) {
        try {
          dest.removeTree(rel, true);
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === "ENOTDIR") {
            try {
              dest.remove(rel, false);
            } catch {}
          }
        }
      }
      for (const i of p.mkdirs) {
        const rel = srcTree.paths[i]!;
        try {
          dest.mkdir(writePath(p, rel), 0o700 | (srcTree.modes[i]! & 0o777));
          counts.dirsCreated++;
          if (this.onEvent) this.emitEntry("mkdir", i);
        } catch (err) {
          if ((err as { code?: string }).code !== "EEXIST") {
            this.addError(fsErr(rel, "destination", err));
            p.blocked.add(rel);
          }
        }
      }
      this.backUpOverwrites();
      for (const i of p.links) {
        const rel = srcTree.paths[i]!;
        if (isBelow(p.blocked, rel) || this.held.has(i)) continue;
        try {
          dest.symlink(srcTree.links[i]!, this.target(i), srcTree.mtimeSec[i]!, srcTree.mtimeNsec[i]!);
          if (this.keepsMeta) this.applyMeta(this.target(i), i, undefined);
          counts.symlinks++;
          counts.copied++;
          if (this.onEvent) this.emitEntry("link", i);
        } catch (err) {
          this.addError(fsErr(rel, "destination", err));
        }
      }
      for (const i of p.specials) {
        const rel = srcTree.paths[i]!;
        const s = srcTree.specials?.[i];
        if (!s || isBelow(p.blocked, rel) || this.held.has(i)) continue;
        try {
          dest.mknod(this.target(i), s.kind, srcTree.modes[i]!, s.rdev, srcTree.mtimeSec[i]!, srcTree.mtimeNsec[i]!);
          if (this.keepsMeta) this.applyMeta(this.target(i), i, undefined);
          counts.copied++;
          if (this.onEvent) this.emitEntry("special", i);
        } catch (err) {
          this.addError(fsErr(rel, "destination", err));
        }
      }
      await this.copyFiles();
      this.linkHardLinks(dest);
      if (this.keepsMeta && (this.keep.xattrs || this.keep.acls) && !this.paths.single) this.syncKeptXattrs(dest);
      // Entries left in place whose mode, owner or group differ from the source's.
      for (const i of p.fixMeta) {
        const rel = srcTree.paths[i]!;
        try {
          if (this.keepsMeta) this.applyMeta(rel, i, p.matchOf[i]!);
          if (srcTree.types[i] !== T_LINK) dest.setMeta(rel, {}, this.keep, srcTree.modes[i]!);
          if (this.onEvent) this.emitEntry("meta", i);
        } catch (err) {
          this.addError(fsErr(rel, "destination", err));
        }
      }
    }
    this.phases.transferMs = performance.now() - tTransfer;
    this.workerCount = this.pool.started;
  }

  /**
   * Gives the destination entry `at` the owner, group and attributes (per --no-owner, -X, -A) of
   * source entry i (the root when undefined); j is its matching destination entry (-1: the root),
   * whose owner, when equal, is not set again. Returns true when anything was applied.
   */
  private applyMeta(at: string, i: number | undefined, j: number | undefined): boolean {
    const { srcTree, dstTree, keep } = this;
    const meta: EntryMetadata = {};
    const srcUid = i === undefined ? this.srcRootOwner().uid : srcTree.uid?.[i];
    const srcGid = i === undefined ? this.srcRootOwner().gid : srcTree.gid?.[i];
    const dUid = j === undefined ? undefined : j < 0 ? dstTree.rootUid : dstTree.uid?.[j];
    const dGid = j === undefined ? undefined : j < 0 ? dstTree.rootGid : dstTree.gid?.[j];
    if (keep.owner && srcUid !== undefined && srcUid !== dUid) meta.uid = srcUid;
    if (keep.group && srcGid !== undefined && srcGid !== dGid) meta.gid = srcGid;
    if (keep.xattrs || keep.acls) {
      const rel = i === undefined ? "" : srcTree.paths[i]!;
      const k = rel.lastIndexOf("/");
      meta.xattrs = readXattrsAt(this.srcDirs().dirFd(k < 0 ? "" : rel.slice(0, k))!, rel === "" ? "." : rel.slice(k + 1), { xattrs: keep.xattrs, acls: keep.acls });
    }
    if (meta.uid === undefined && meta.gid === undefined && !meta.xattrs) return false;
    this.dest!.setMeta(at, meta, keep);
    return true;
  }

  /**
   * -X/-A: files left in place (unchanged content) whose attributes differ from the source's get
   * the source's, as rsync -X does; those in fixMeta get them there. Both sides are read through
   * their directories' fds beneath the roots, no symlink followed.
   */
  private syncKeptXattrs(dest: DestTree): void {
    if (!(dest instanceof RootedDestTree)) return;
    const { srcTree, keep } = this;
    const p = this.p!;
    const sel = { xattrs: keep.xattrs, acls: keep.acls };
    const fixing = new Set(p.fixMeta);
    for (const i of p.kept) {
      if (fixing.has(i)) continue;
      const rel = srcTree.paths[i]!;
      const k = rel.lastIndexOf("/");
      const dir = k < 0 ? "" : rel.slice(0, k);
      const name = rel.slice(k + 1);
      try {
        const want = readXattrsAt(this.srcDirs().dirFd(dir)!, name, sel);
        if (!sameXattrs(want, readXattrsAt(dest.dirFd(dir)!, name, sel))) dest.setMeta(rel, { xattrs: want }, keep);
      } catch (err) {
        this.addError(fsErr(rel, "destination", err));
      }
    }
  }

  /** The source's directories, opened beneath its root (for attributes of entries the backend does not copy). */
  private srcDirs(): RootedDestTree {
    return (this.srcDirTree ??= new RootedDestTree(openRooted(this.srcRootPrefix), true));
  }

  private srcRootOwner(): { uid: number; gid: number } {
    return (this.rootOwner ??= (() => {
      const st = statSync(this.srcRootPrefix);
      return { uid: st.uid, gid: st.gid };
    })());
  }

  /** -H: each further name of an inode becomes a link to its first name's destination, once that is written. */
  private linkHardLinks(dest: DestTree): void {
    const p = this.p!;
    for (const [i, first] of p.hardLinks) {
      const rel = this.srcTree.paths[i]!;
      if (isBelow(p.blocked, rel) || this.interrupted || this.fatal || this.held.has(i)) continue;
      try {
        dest.link(this.target(first), this.target(i));
        this.counts.copied++;
        if (this.onEvent) this.emitEntry("hardlink", i, { target: displayName(this.srcTree.paths[first]!) });
      } catch (err) {
        this.addError(fsErr(rel, "destination", err));
      }
    }
  }

  /**
   * Opens the backup place beneath the destination (or the outside --backup-dir). When it
   * cannot be opened, the run stops before writing anything (nothing could be kept) and says why.
   */
  private openBackups(dest: DestTree): boolean {
    try {
      if (!(dest instanceof RootedDestTree)) throw Object.assign(new Error("no directory handles"), { code: "EOPNOTSUPP" });
      this.backups = new Backups(dest, this.place!);
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code ?? "EIO";
      this.addError({
        path: this.opts.backupDir ?? ".", side: "destination", code,
        message: `the backup directory cannot be opened (${describeCode(code)}); nothing was written, nothing deleted`,
      });
      this.fatal = code;
      return false;
    }
  }

  /**
   * --backup: each entry about to be overwritten (a file, symlink, special or further hard link
   * where one of its type already is) gets its backup first; one whose backup fails is left as
   * it was and not written.
   */
  private backUpOverwrites(): void {
    const backups = this.backups;
    if (!backups) return;
    const p = this.p!;
    const keepFirst = (i: number) => {
      if (p.matchOf[i]! < 0 || this.srcTree.types[i] === T_DIR) return;
      const rel = this.target(i);
      try {
        backups.linkAside(rel);
        if (this.onEvent) this.emitBackup(rel, "replaced");
      } catch (err) {
        this.held.add(i);
        const code = (err as { code?: string }).code ?? "EIO";
        this.addError({
          path: this.srcTree.paths[i]!, side: "destination", code,
          message: `its backup '${backupShownAs(this.place!, rel)}' could not be made (${describeCode(code)}); left as it was, not overwritten`,
        });
      }
    };
    for (const i of this.copies) keepFirst(i);
    for (const i of p.links) keepFirst(i);
    for (const i of p.specials) keepFirst(i);
    for (const [i] of p.hardLinks) keepFirst(i);
    if (this.held.size) this.copies = this.copies.filter((i) => !this.held.has(i));
  }

  /** The event of source entry i (its planner's reason). Called only with an onEvent hook. */
  private emitEntry(kind: EventKind, i: number, extra: Partial<FileEvent> = {}): void {
    const t = this.srcTree;
    const e = fileEvent(kind, displayName(t.paths[i]!), letterOf(t, i), this.p!.why?.[i] ?? 0, extra);
    if (kind === "link") e.target = displayName(t.links[i]!);
    if (kind === "copy") e.bytes = t.sizes[i]!;
    this.onEvent!(e);
  }

  /** Copy events of one batch: the items the worker finished without an error. */
  private emitCopies(ix: number[], items: CopyItem[], r: CopyResult): void {
    const failed = r.errors.length ? new Set(r.errors.map((e) => e.path)) : undefined;
    for (let k = 0; k < r.done && k < ix.length; k++) {
      if (failed && (failed.has(items[k]![0]) || failed.has(items[k]![1]))) continue;
      this.emitEntry("copy", ix[k]!);
    }
  }

  private emitBackup(rel: string, why: "replaced" | "deleted" | "type", isDir = false): void {
    this.onEvent!({ event: "backup", path: displayName(rel), type: isDir ? "d" : undefined, reason: [why], target: displayName(backupShownAs(this.place!, rel)) });
  }

  /** A deleted (or, `replaced`, swapped-out) destination entry, and its backup. */
  private emitRemoved(rel: string, isDir: boolean, backedUp: boolean, replaced: boolean): void {
    if (backedUp) this.emitBackup(rel, replaced ? "type" : "deleted", isDir);
    this.onEvent!({ event: "delete", path: displayName(rel), type: isDir ? "d" : "f", reason: [replaced ? "type" : "extraneous"] });
  }

  /** An existing directory whose time, mode, owner or group differ from the source's ("" is the root). */
  private emitDirChange(rel: string, i: number | undefined): void {
    const why = i === undefined ? this.rootWhy() : (this.p!.why?.[i] ?? 0);
    if (why & (WHY.TIME | WHY.PERMS | WHY.OWNER | WHY.GROUP)) this.onEvent!(fileEvent("meta", displayName(rel), "d", why));
  }

  /** The WHY bits of the destination root against the source root. */
  private rootWhy(): number {
    const { srcTree: s, dstTree: d, opts } = this;
    if (!d.rootExists) return 0;
    let why = 0;
    if (Math.abs((s.rootMtimeSec - d.rootMtimeSec) * 1e9 + (s.rootMtimeNsec - d.rootMtimeNsec)) >= 1000) why |= WHY.TIME;
    if (s.rootMode !== d.rootMode) why |= WHY.PERMS;
    if (opts.owner && s.rootUid !== undefined && d.rootUid !== undefined && s.rootUid !== d.rootUid) why |= WHY.OWNER;
    if (opts.group && s.rootGid !== undefined && d.rootGid !== undefined && s.rootGid !== d.rootGid) why |= WHY.GROUP;
    return why;
  }

  /** A dry run's events: what the run would do, in the order a real run does it. */
  private plannedEvents(): void {
    const p = this.p!;
    const { srcTree: t, dstTree: d } = this;
    const backedUp = (i: number) => {
      if (this.place && p.matchOf[i]! >= 0 && t.types[i] !== T_DIR) this.emitBackup(this.target(i), "replaced");
    };
    for (const i of p.mkdirs) this.emitEntry("mkdir", i);
    for (const i of p.links) (backedUp(i), this.emitEntry("link", i));
    for (const i of p.specials) (backedUp(i), this.emitEntry("special", i));
    for (const i of this.copies) (backedUp(i), this.emitEntry("copy", i));
    for (const [i, first] of p.hardLinks) (backedUp(i), this.emitEntry("hardlink", i, { target: displayName(t.paths[first]!) }));
    for (const i of p.fixMeta) this.emitEntry("meta", i);
    if (!this.paths.single) {
      for (let i = 0; i < t.paths.length; i++) if (t.types[i] === T_DIR && p.matchOf[i]! >= 0) this.emitDirChange(t.paths[i]!, i);
      this.emitDirChange("", undefined);
    }
    if (!this.mirror) return;
    for (const j of p.replace) this.emitRemoved(d.paths[j]!, d.types[j] === T_DIR, !!this.place, true);
    for (let k = p.extraneous.length - 1; k >= 0; k--) {
      const j = p.extraneous[k]!;
      const isDir = d.types[j] === T_DIR;
      this.emitRemoved(d.paths[j]!, isDir, !!this.place && !isDir, false);
    }
  }

  /** The source path of file `i` (the copy's input). */
  private copySource(i: number): string {
    return this.paths.single ? this.paths.src : join2(this.srcRootPrefix, this.srcTree.paths[i]!);
  }

  /** Large files first so they start while the small batches fill the other workers. */
  private async copyFiles(): Promise<void> {
    const { paths, srcTree } = this;
    const p = this.p!;
    const [small, medium, large] = this.sizeClasses();
    const smallBatch = Math.min(1024, Math.max(16, Math.ceil(small.length / (this.pool.size * 8))));
    const batches: number[][] = [];
    const item = (i: number): CopyItem => [
      paths.single ? paths.src : join2(this.srcRootPrefix, srcTree.paths[i]!),
      join2(this.dstRootPrefix, this.target(i)),
      srcTree.sizes[i]!, srcTree.modes[i]!, srcTree.mtimeSec[i]!, srcTree.mtimeNsec[i]!,
      srcTree.uid?.[i] ?? -1, srcTree.gid?.[i] ?? -1, srcTree.blocks?.[i] ?? -1,
    ];
    const live = (ix: number[]) => (p.blocked.size ? ix.filter((i) => !isBelow(p.blocked, srcTree.paths[i]!)) : ix);
    for (const i of live(large)) batches.push([i]);
    const mid = live(medium);
    for (let k = 0; k < mid.length; k += 8) batches.push(mid.slice(k, k + 8));
    let cur: number[] = [];
    let curBytes = 0;
    for (const i of live(small)) {
      cur.push(i);
      curBytes += srcTree.sizes[i]!;
      if (cur.length >= smallBatch || curBytes >= 32 << 20) {
        batches.push(cur);
        cur = [];
        curBytes = 0;
      }
    }
    if (cur.length) batches.push(cur);
    await Promise.all(
      batches.map(async (ix) => {
        if (this.pool.cancelled) return;
        const items = ix.map(item);
        const reply = await this.pool.run({ type: "copy", srcRoot: this.srcRootPrefix, dstRoot: this.dstRootPrefix, items, keep: keepOf(this.opts) });
        const r = (reply as { result: CopyResult }).result;
        if (this.onEvent) this.emitCopies(ix, items, r);
        this.mergeCopy(r);
        if (r.fatal && !this.fatal) {
          this.fatal = r.fatal;
          this.pool.requestCancel();
        }
      }),
    );
  }

  /**
   * Mirror: entries of another type are swapped for their staged replacements, then extraneous
   * entries are removed, deepest first. Both only after a complete, error-free scan and copy,
   * not from an empty source without --force, and not beyond --max-delete (replacements count).
   */
  replaceAndDelete(): void {
    const tDelete = performance.now();
    this.progress.phase = "delete";
    this.emit();
    const p = this.p!;
    const { counts, dstTree, srcTree } = this;
    if (this.rootFailed) return;
    if (this.mirror && p.deletePlanned > 0) {
      const refusal = deleteGuard(p, {
        errors: this.errorCount, interrupted: this.interrupted || this.fatal !== undefined,
        sourceEmpty: srcTree.rootExists && srcTree.paths.length === 0, force: this.opts.force, maxDelete: this.opts.maxDelete,
      });
      if (refusal) {
        this.addError(refusal);
        this.refused = refusal.code === "EMPTY_SOURCE";
      } else if (!this.opts.dryRun && this.dest) {
        counts.deleted += replaceAndDelete(this.dest, p, dstTree, (rel, err) => this.addError(fsErr(rel, "destination", err)), {
          backups: this.backups,
          onRemoved: this.onEvent && ((rel, isDir, backedUp, replaced) => this.emitRemoved(rel, isDir, backedUp, replaced)),
        });
        this.swapped = true;
      }
    }
    if (!this.swapped && p.staged.size > 0 && this.dest) {
      // The replacements were written but may not take their place: remove them, and do not
      // count what was copied into them.
      for (const i of this.copies) {
        const rel = srcTree.paths[i]!;
        if (writePath(p, rel) === rel) continue;
        counts.copied = Math.max(0, counts.copied - 1);
        counts.copiedBytes = Math.max(0, counts.copiedBytes - srcTree.sizes[i]!);
      }
      removeStaged(this.dest, p);
    }
    this.phases.deleteMs = performance.now() - tDelete;
  }

  /** Directory modes and mtimes, last, so nothing written later changes them. */
  finishDirectories(): void {
    this.progress.phase = "finish";
    this.emit();
    const { srcTree, dstTree, paths } = this;
    const p = this.p!;
    const dest = this.dest;
    if (!dest || this.opts.dryRun || paths.single || this.interrupted || this.fatal || this.refused || !srcTree.rootExists) return;
    // Directories whose entries changed: their mtime moved, so it is set again.
    const touched = new Set<string>();
    for (const i of this.copies) touched.add(parentOf(srcTree.paths[i]!));
    for (const i of p.links) touched.add(parentOf(srcTree.paths[i]!));
    for (const [i] of p.hardLinks) touched.add(parentOf(srcTree.paths[i]!));
    for (const i of p.mkdirs) touched.add(parentOf(srcTree.paths[i]!));
    for (const j of p.extraneousTop) touched.add(parentOf(dstTree.paths[j]!));
    for (const j of p.replace) touched.add(parentOf(dstTree.paths[j]!));
    for (const rel of dstTree.staleTemps) touched.add(parentOf(rel));
    const apply = (rel: string, i: number | undefined, j: number | undefined) => {
      if (this.onEvent && j !== undefined) this.emitDirChange(rel, i);
      const mode = i === undefined ? srcTree.rootMode : srcTree.modes[i]!;
      const sec = i === undefined ? srcTree.rootMtimeSec : srcTree.mtimeSec[i]!;
      const nsec = i === undefined ? srcTree.rootMtimeNsec : srcTree.mtimeNsec[i]!;
      const dMode = j === undefined ? undefined : j < 0 ? dstTree.rootMode : dstTree.modes[j];
      const clean = j !== undefined && !touched.has(rel);
      const dSec = clean ? (j < 0 ? dstTree.rootMtimeSec : dstTree.mtimeSec[j]) : undefined;
      const dNsec = clean ? (j < 0 ? dstTree.rootMtimeNsec : dstTree.mtimeNsec[j]) : undefined;
      try {
        // Owner and attributes first: a change of owner clears setgid, which the mode then sets.
        const changedOwner = this.keepsMeta && this.applyMeta(rel, i, j);
        if (!changedOwner && dMode === mode && dSec === sec && dNsec === nsec) return;
        dest.setDirMeta(rel, mode, sec, nsec);
      } catch (err) {
        this.addError(fsErr(rel || ".", "destination", err));
      }
    };
    for (let i = 0; i < srcTree.paths.length; i++) {
      if (srcTree.types[i] !== T_DIR) continue;
      const rel = srcTree.paths[i]!;
      if (p.blocked.has(rel) || isBelow(p.blocked, rel)) continue;
      if (!this.swapped && writePath(p, rel) !== rel) continue;
      const j = p.matchOf[i]! < 0 ? undefined : p.matchOf[i]!;
      apply(rel, i, j);
    }
    apply("", undefined, dstTree.rootExists ? -1 : undefined);
  }

  async close(): Promise<void> {
    this.hooks.signal?.removeEventListener("abort", this.onAbort);
    this.backups?.close();
    this.dest?.close();
    this.srcDirTree?.close();
    await this.pool.close();
    this.captured = this.ctx.stop();
  }

  report(): RunReport {
    const { paths, counts, errors } = this;
    if (this.fatal && !this.rootFailed) {
      const e = errors.find((x) => x.code === this.fatal);
      const why = describeCode(this.fatal);
      if (e) e.message = e.message.includes(why) ? `${e.message}; the run stopped` : `${e.message}; the run stopped (${why})`;
    }
    this.phases.totalMs = performance.now() - this.t0;
    if (this.place) counts.backedUp = this.backups?.kept ?? 0;
    return makeRunReport({
      startedAt: this.startedAt,
      command: this.job.command,
      route: "local",
      source: paths.src,
      destination: paths.dst,
      sourceFs: filesystemType(paths.src),
      destinationFs: filesystemType(existsSync(paths.dst) ? paths.dst : dirname(paths.dst)),
      options: this.opts,
      workload: this.workload,
      plan: { strategy: strategyName(this.classes), workers: this.workerCount, classes: this.classes },
      phases: this.phases,
      counts,
      bytesByPath: this.bytesByPath,
      filesByPath: this.filesByPath,
      fastPathNotes: this.fastPathNotes,
      ...(this.p && Object.keys(this.p.specialsSkipped).length ? { specialsSkipped: this.p.specialsSkipped } : {}),
      errors,
      errorCount: this.errorCount,
      interrupted: this.interrupted,
      failed: this.fatal !== undefined,
      // context, and timeline when the run lasted long enough to be sampled
      ...(this.captured ?? this.ctx.stop()),
    });
  }

  private mergeCopy(r: CopyResult): void {
    const { counts } = this;
    counts.copied += r.copied;
    counts.copiedBytes += r.copiedBytes;
    if (r.holeBytes) counts.holeBytes = (counts.holeBytes ?? 0) + r.holeBytes;
    for (const [p, n] of Object.entries(r.filesByPath) as [FastPath, number][]) this.filesByPath[p] = (this.filesByPath[p] ?? 0) + n;
    for (const [p, n] of Object.entries(r.bytesByPath) as [FastPath, number][]) this.bytesByPath[p] = (this.bytesByPath[p] ?? 0) + n;
    for (const [p, code] of Object.entries(r.refused) as [FastPath, string][]) {
      this.fastPathNotes[p] ??= `${p} refused: ${code} (${describeCode(code)}) on ${filesystemType(this.paths.dst)}`;
    }
    for (const e of r.errors) {
      const root = e.side === "source" ? this.srcRootPrefix : this.dstRootPrefix;
      this.addError({ ...e, path: e.path.startsWith(root + "/") ? e.path.slice(root.length + 1) : e.path });
    }
    if (r.cancelled && !this.fatal) this.interrupted = this.interrupted || (this.hooks.signal?.aborted ?? false);
  }
}

/** rsync's type letter of tree entry i. */
function letterOf(t: Tree, i: number): EntryLetter {
  const type = t.types[i];
  if (type === T_FILE) return "f";
  if (type === T_DIR) return "d";
  if (type === T_LINK) return "L";
  const kind = t.specials?.[i]?.kind;
  return kind === "char" || kind === "block" ? "D" : "S";
}

function parentOf(p: string): string {
  return p.slice(0, Math.max(0, p.lastIndexOf("/")));
}

/** True when some proper ancestor of rel is in `dirs`. */
function isBelow(dirs: Set<string>, rel: string): boolean {
  if (dirs.size === 0) return false;
  for (let k = rel.indexOf("/"); k > 0; k = rel.indexOf("/", k + 1)) if (dirs.has(rel.slice(0, k))) return true;
  return false;
}

async function compareByHash(pool: WorkerPool, src: Tree, dst: Tree, srcIx: number[], dstIx: number[], srcRoot: string, dstRoot: string): Promise<boolean[]> {
  const srcPaths = srcIx.map((i) => join(srcRoot, src.paths[i]!));
  const dstPaths = dstIx.map((j) => join(dstRoot, dst.paths[j]!));
  const chunk = 256;
  const hashAll = async (list: string[]) => {
    const parts: Promise<(string | null)[]>[] = [];
    for (let k = 0; k < list.length; k += chunk) {
      parts.push(pool.run({ type: "hash", paths: list.slice(k, k + chunk) }).then((r) => (r as { hashes: (string | null)[] }).hashes));
    }
    return (await Promise.all(parts)).flat();
  };
  const [a, b] = await Promise.all([hashAll(srcPaths), hashAll(dstPaths)]);
  return a.map((h, k) => h !== null && h === b[k]);
}

function strategyName(classes: SizeClassPlan[]): string {
  if (classes.length === 0) return "none";
  const top = classes.reduce((a, b) => (b.files > a.files ? b : a));
  return classes.length === 1 ? top.strategy : `mixed-${top.strategy}`;
}

function fsErr(path: string, side: RunError["side"], err: unknown): RunError {
  const code = (err as { code?: string }).code ?? "EIO";
  return { path, side, code, message: `${path}: ${describeCode(code)}` };
}

function oneFileTree(name: string, st: StatRecord): Tree {
  return {
    ...emptyTree(), rootExists: true, paths: [name], types: [T_FILE], sizes: [st.size], modes: [st.mode],
    mtimeSec: [st.mtimeSec], mtimeNsec: [st.mtimeNsec],
  };
}

/** The report of a run refused before it started (bad input), so that telemetry has it too. */
export function refusedReport(job: Job, err: { code: string; message: string }, startedAt: Date): RunReport {
  const src = resolve(job.source);
  const dst = resolve(job.destination);
  return makeEarlyReport(
    { startedAt, command: job.command, route: "local", source: src, destination: dst, sourceFs: filesystemType(src), destinationFs: filesystemType(dst), options: job.options },
    { code: err.code, message: err.message, path: job.source },
  );
}
