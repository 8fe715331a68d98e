// enumerate -> plan -> execute -> mirror-delete -> directory metadata -> report.
import { existsSync, lstatSync, mkdirSync, realpathSync, rmdirSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, chmodSync } from "node:fs";
import { hostname, release } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { backend, filesystemType, TEMP_PREFIX, describeCode, type FastPath, type StatRecord } from "../ffi/index.ts";
import { UsageError } from "./errors.ts";
import { keepOf, type Job } from "./options.ts";
import { WorkerPool } from "./pool.ts";
import type { Counts, PhaseTimes, RunError, RunReport, RunStatus, SizeClassPlan, Workload } from "./report.ts";
import { emptyTree, T_DIR, T_FILE, T_LINK, T_OTHER, unpackTree, type PackedTree, type Tree } from "./walk.ts";
import type { CopyItem, CopyResult } from "./worker-protocol.ts";
import { VERSION } from "./version.ts";

export type Phase = "enumerate" | "plan" | "transfer" | "delete" | "finish";

export interface Progress {
  phase: Phase;
  filesDone: number;
  bytesDone: number;
  filesTotal: number;
  bytesTotal: number;
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
}

export interface RunResult {
  report: RunReport;
  actions: Action[];
}

/** Upper bounds of the file-size histogram buckets, with their labels. */
const BUCKETS: [number, string][] = [
  [4 << 10, "<4K"], [64 << 10, "<64K"], [1 << 20, "<1M"], [16 << 20, "<16M"],
  [256 << 20, "<256M"], [1 << 30, "<1G"], [Infinity, ">=1G"],
];
const SMALL_MAX = 256 << 10;
const LARGE_MIN = 64 << 20;
const MAX_ERRORS_KEPT = 1000;

interface Resolved {
  src: string;
  dst: string;
  /** Source is one regular file; dst is the final file path. */
  single: boolean;
}

/** Checks made before anything is written. Throws UsageError. */
export function resolvePaths(job: Job): Resolved {
  const src = resolve(job.source);
  let st;
  try {
    st = statSync(src);
  } catch (err) {
    const code = (err as { code?: string }).code ?? "EIO";
    if (code === "ENOENT") throw new UsageError("SOURCE_MISSING", `source '${job.source}' does not exist`);
    throw new UsageError("SOURCE_UNREADABLE", `cannot read source '${job.source}': ${describeCode(code)}`);
  }
  let dst = resolve(job.destination);
  if (st.isFile()) {
    let dstIsDir = false;
    try {
      dstIsDir = statSync(dst).isDirectory();
    } catch {}
    if (dstIsDir) dst = join(dst, basename(src));
    else if (!existsSync(dirname(dst))) {
      throw new UsageError("DEST_PARENT_MISSING", `destination directory '${dirname(job.destination)}' does not exist; create it first`);
    }
    if (realOrSelf(dst) === realpathSync(src)) {
      throw new UsageError("SAME_PATH", `source and destination are the same file: '${job.source}'`);
    }
    return { src, dst, single: true };
  }
  if (!st.isDirectory()) throw new UsageError("SOURCE_TYPE", `source '${job.source}' is not a file or directory`);
  try {
    if (!lstatSync(dst).isDirectory() && !statSync(dst).isDirectory()) {
      throw new UsageError("DEST_NOT_DIR", `destination '${job.destination}' exists and is not a directory; the source is a directory`);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
  }
  const realSrc = realpathSync(src);
  const realDst = realOrSelf(dst);
  if (realDst === realSrc) throw new UsageError("SAME_PATH", `source and destination are the same directory: '${job.source}'`);
  if (realDst.startsWith(realSrc + "/")) {
    throw new UsageError("DEST_INSIDE_SOURCE", `destination '${job.destination}' is inside the source '${job.source}'; choose a destination outside it`);
  }
  if (job.command === "mirror" && (realSrc.startsWith(realDst + "/") || realDst === "/")) {
    throw new UsageError("SOURCE_INSIDE_DEST", `source '${job.source}' is inside the destination '${job.destination}'; a mirror would delete it`);
  }
  return { src, dst, single: false };
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

function bucketOf(size: number): string {
  for (const [max, label] of BUCKETS) if (size < max) return label;
  return ">=1G";
}

/**
 * Equal mtimes, to the microsecond: the fast paths keep nanoseconds, but the portable fallback
 * (node:fs, seconds as a double) and some filesystems keep only about a microsecond, and a copy
 * they made must not look changed on the next run.
 */
function sameTime(a: Tree, i: number, b: Tree, j: number): boolean {
  const ds = a.mtimeSec[i]! - b.mtimeSec[j]!;
  const dn = a.mtimeNsec[i]! - b.mtimeNsec[j]!;
  return Math.abs(ds * 1e9 + dn) < 1000;
}

/** Run one copy or mirror. Usage errors throw before anything is written; every other failure is in the report. */
export async function run(job: Job, hooks: RunHooks = {}): Promise<RunResult> {
  const t0 = performance.now();
  const startedAt = new Date();
  const opts = job.options;
  const paths = resolvePaths(job);
  const phases: PhaseTimes = { enumerateMs: 0, planMs: 0, transferMs: 0, deleteMs: 0, totalMs: 0 };
  const counts: Counts = {
    planned: 0, plannedBytes: 0, copied: 0, copiedBytes: 0, skipped: 0, skippedBytes: 0,
    deleted: 0, deletePlanned: 0, dirsCreated: 0, symlinks: 0,
  };
  const workload: Workload = { files: 0, bytes: 0, dirs: 0, symlinks: 0, sizeHistogram: {} };
  const errors: RunError[] = [];
  const bytesByPath: Partial<Record<FastPath, number>> = {};
  const filesByPath: Partial<Record<FastPath, number>> = {};
  const fastPathNotes: Record<string, string> = {};
  const actions: Action[] = [];
  const act = hooks.listActions ? (a: Action) => void actions.push(a) : () => {};
  const classes: SizeClassPlan[] = [];
  let errorCount = 0;
  let workerCount = 0;
  let interrupted = false;
  let fatal: string | undefined;
  const addError = (e: RunError) => {
    errorCount++;
    if (errors.length < MAX_ERRORS_KEPT) errors.push(e);
  };

  const progress: Progress = { phase: "enumerate", filesDone: 0, bytesDone: 0, filesTotal: 0, bytesTotal: 0 };
  const emit = () => hooks.onProgress?.({ ...progress });
  const pool = new WorkerPool(opts.workers, opts.bwlimit, (files, bytes) => {
    progress.filesDone += files;
    progress.bytesDone += bytes;
    emit();
  });
  const onAbort = () => {
    interrupted = true;
    pool.requestCancel();
  };
  if (hooks.signal?.aborted) onAbort();
  hooks.signal?.addEventListener("abort", onAbort);
  const fs = backend();
  const srcRootPrefix = paths.single ? dirname(paths.src) : paths.src;
  const dstRootPrefix = paths.single ? dirname(paths.dst) : paths.dst;

  try {
    // ---- enumerate: both trees at once, one worker each ----
    emit();
    let srcTree: Tree;
    let dstTree: Tree;
    if (paths.single) {
      srcTree = singleFileTree(paths.src);
      dstTree = emptyTree();
      try {
        const st = fs.lstat(paths.dst);
        if (st.type === "file") {
          dstTree = oneFileTree(basename(paths.dst), st);
        } else {
          throw new UsageError("DEST_NOT_FILE", `destination '${job.destination}' exists and is not a regular file`);
        }
      } catch (err) {
        if (err instanceof UsageError) throw err;
      }
    } else {
      const [s, d] = await Promise.all([
        pool.run({ type: "walk", root: paths.src, exclude: opts.exclude, side: "source" }),
        pool.run({ type: "walk", root: paths.dst, exclude: opts.exclude, side: "destination" }),
      ]);
      srcTree = unpackTree((s as { tree: PackedTree }).tree);
      dstTree = unpackTree((d as { tree: PackedTree }).tree);
      for (const e of srcTree.errors) addError(e);
      for (const e of dstTree.errors) addError(e);
    }
    phases.enumerateMs = performance.now() - t0;

    // ---- plan ----
    progress.phase = "plan";
    emit();
    const tPlan = performance.now();
    // Both trees are walked in the same order, so the matching destination entry is usually the
    // next one; the index by path is built only when the trees diverge.
    let dstMap: Map<string, number> | undefined;
    const dstIndex = {
      get(rel: string): number | undefined {
        if (!dstMap) {
          dstMap = new Map();
          for (let j = 0; j < dstTree.paths.length; j++) dstMap.set(dstTree.paths[j]!, j);
        }
        return dstMap.get(rel);
      },
    };
    let cursor = 0;
    const findDst = (rel: string): number | undefined => {
      if (dstTree.paths[cursor] === rel) return cursor++;
      const j = dstIndex.get(rel);
      if (j !== undefined) cursor = j + 1;
      return j;
    };
    const mkdirs: string[] = [];
    const links: number[] = [];
    const copies: number[] = [];
    const toCompare: number[] = []; // --checksum candidates: same size on both sides
    const replaceFirst: number[] = []; // destination entries of another type, removed before the copy (mirror)
    const blocked = new Set<string>(); // source directories not created because of a conflict (copy)
    const srcDirsNew = new Set<number>();
    const dstSeen = new Uint8Array(dstTree.paths.length);
    const matchOf = new Int32Array(srcTree.paths.length).fill(-1);
    for (let i = 0; i < srcTree.paths.length; i++) {
      const rel = srcTree.paths[i]!;
      const type = srcTree.types[i]!;
      const slash = rel.lastIndexOf("/");
      if (slash > 0 && blocked.has(rel.slice(0, slash))) {
        if (type === T_DIR) blocked.add(rel);
        continue;
      }
      if (type === T_FILE) {
        workload.files++;
        workload.bytes += srcTree.sizes[i]!;
        const b = bucketOf(srcTree.sizes[i]!);
        workload.sizeHistogram[b] = (workload.sizeHistogram[b] ?? 0) + 1;
      } else if (type === T_DIR) workload.dirs++;
      else if (type === T_LINK) workload.symlinks++;
      const j = findDst(paths.single ? basename(paths.dst) : rel);
      let dType = 0;
      if (j !== undefined) {
        dstSeen[j] = 1;
        matchOf[i] = j;
        dType = dstTree.types[j]!;
      }
      if (type === T_OTHER) continue; // devices, fifos, sockets are not copied
      if (dType !== 0 && dType !== type) {
        // Replacing is a delete: a mirror does it only when the walk found no error.
        if (job.command === "mirror" && errorCount === 0) {
          replaceFirst.push(j!);
          dType = 0;
        } else {
          addError({ path: rel, side: "destination", code: "TYPE_CONFLICT", message: `destination '${rel}' is a ${typeName(dType)} but the source has a ${typeName(type)}; ${job.command === "mirror" ? "not replaced because the run had errors" : "use mirror to replace it"}` });
          if (type === T_DIR) blocked.add(rel);
          continue;
        }
      }
      if (type === T_DIR) {
        if (dType === 0) {
          mkdirs.push(rel);
          srcDirsNew.add(i);
          act({ kind: "mkdir", path: rel });
        }
      } else if (type === T_LINK) {
        if (dType === 0 || dstTree.links[j!] !== srcTree.links[i]) {
          links.push(i);
          act({ kind: "link", path: rel });
        } else counts.skipped++;
      } else {
        const size = srcTree.sizes[i]!;
        let changed: boolean;
        if (dType === 0 || opts.ignoreTimes) changed = true;
        else if (dstTree.sizes[j!] !== size) changed = true;
        else if (opts.checksum) {
          toCompare.push(i, j!);
          continue;
        } else if (opts.sizeOnly) changed = false;
        else changed = !sameTime(srcTree, i, dstTree, j!);
        if (changed) copies.push(i);
        else {
          counts.skipped++;
          counts.skippedBytes += size;
        }
      }
    }
    if (toCompare.length > 0) {
      const same = await compareByHash(pool, srcTree, dstTree, toCompare, srcRootPrefix, dstRootPrefix);
      for (let k = 0; k < toCompare.length; k += 2) {
        const i = toCompare[k]!;
        if (same[k / 2]) {
          counts.skipped++;
          counts.skippedBytes += srcTree.sizes[i]!;
        } else copies.push(i);
      }
    }
    for (const i of copies) {
      counts.planned++;
      counts.plannedBytes += srcTree.sizes[i]!;
      act({ kind: "copy", path: srcTree.paths[i]!, bytes: srcTree.sizes[i]! });
    }
    counts.planned += links.length;
    for (const j of replaceFirst) act({ kind: "replace", path: dstTree.paths[j]! });

    // Extraneous destination entries, for mirror, in walk order (a directory before its contents).
    // The listing names only the top-most ones; all are removed one by one, deepest first.
    const extraneous: number[] = [];
    const extraneousTop: number[] = [];
    if (job.command === "mirror" && !paths.single) {
      const gone = new Set<string>();
      for (let j = 0; j < dstTree.paths.length; j++) {
        if (dstSeen[j]) continue;
        const rel = dstTree.paths[j]!;
        extraneous.push(j);
        if (dstTree.types[j] === T_DIR) gone.add(rel);
        const slash = rel.lastIndexOf("/");
        if (slash > 0 && gone.has(rel.slice(0, slash))) continue;
        extraneousTop.push(j);
        act({ kind: "delete", path: rel });
      }
      counts.deletePlanned = extraneous.length;
    }

    // Size classes decide batching and concurrency.
    const small: number[] = [];
    const medium: number[] = [];
    const large: number[] = [];
    for (const i of copies) {
      const s = srcTree.sizes[i]!;
      (s < SMALL_MAX ? small : s >= LARGE_MIN ? large : medium).push(i);
    }
    const workers = pool.size;

    const sum = (ix: number[]) => ix.reduce((a, i) => a + srcTree.sizes[i]!, 0);
    const smallBatch = Math.min(1024, Math.max(16, Math.ceil(small.length / (workers * 8))));
    if (small.length) classes.push({ name: "small", minBytes: 0, files: small.length, bytes: sum(small), strategy: "batched", concurrency: workers });
    if (medium.length) classes.push({ name: "medium", minBytes: SMALL_MAX, files: medium.length, bytes: sum(medium), strategy: "per-file", concurrency: workers });
    if (large.length) classes.push({ name: "large", minBytes: LARGE_MIN, files: large.length, bytes: sum(large), strategy: "chunked", concurrency: Math.min(workers, large.length) });
    progress.filesTotal = counts.planned;
    progress.bytesTotal = counts.plannedBytes;
    phases.planMs = performance.now() - tPlan;

    // ---- transfer ----
    const tTransfer = performance.now();
    progress.phase = "transfer";
    emit();
    if (!opts.dryRun && !interrupted) {
      // Stale named temporaries from a killed run are ours to remove.
      for (const rel of dstTree.staleTemps) {
        try {
          rmSync(join(paths.dst, rel), { recursive: true, force: true });
        } catch {}
      }
      if (!paths.single) mkdirSync(paths.dst, { recursive: true });
      for (const j of replaceFirst) {
        const abs = join(dstRootPrefix, dstTree.paths[j]!);
        try {
          rmSync(abs, { recursive: true, force: true });
          fs.forgetDir(abs);
          counts.deleted++;
        } catch (err) {
          addError(fsErr(dstTree.paths[j]!, "destination", err));
        }
      }
      for (const rel of mkdirs) {
        try {
          mkdirSync(join(paths.dst, rel));
          counts.dirsCreated++;
        } catch (err) {
          if ((err as { code?: string }).code !== "EEXIST") addError(fsErr(rel, "destination", err));
        }
      }
      for (const i of links) {
        const rel = srcTree.paths[i]!;
        const abs = join(dstRootPrefix, paths.single ? basename(paths.dst) : rel);
        const tmp = join(dirname(abs), `${TEMP_PREFIX}${Math.random().toString(16).slice(2, 10)}-${basename(abs)}`);
        try {
          symlinkSync(srcTree.links[i]!, tmp);
          renameSync(tmp, abs);
          fs.setTimes(abs, srcTree.mtimeSec[i]!, srcTree.mtimeNsec[i]!);
          counts.symlinks++;
          counts.copied++;
        } catch (err) {
          rmSync(tmp, { force: true });
          addError(fsErr(rel, "destination", err));
        }
      }
      // Large files first so they start while the small batches fill the other workers.
      const batches: CopyItem[][] = [];
      const item = (i: number): CopyItem => [
        join(srcRootPrefix, paths.single ? basename(paths.src) : srcTree.paths[i]!),
        join(dstRootPrefix, paths.single ? basename(paths.dst) : srcTree.paths[i]!),
        srcTree.sizes[i]!, srcTree.modes[i]!, srcTree.mtimeSec[i]!, srcTree.mtimeNsec[i]!,
      ];
      for (const i of large) batches.push([item(i)]);
      for (let k = 0; k < medium.length; k += 8) batches.push(medium.slice(k, k + 8).map(item));
      let cur: CopyItem[] = [];
      let curBytes = 0;
      for (const i of small) {
        cur.push(item(i));
        curBytes += srcTree.sizes[i]!;
        if (cur.length >= smallBatch || curBytes >= 32 << 20) {
          batches.push(cur);
          cur = [];
          curBytes = 0;
        }
      }
      if (cur.length) batches.push(cur);
      await Promise.all(
        batches.map(async (items) => {
          if (pool.cancelled) return;
          const reply = await pool.run({ type: "copy", dstRoot: paths.dst, items, keep: keepOf(job.options) });
          const r = (reply as { result: CopyResult }).result;
          mergeCopy(r);
          if (r.fatal && !fatal) {
            fatal = r.fatal;
            pool.requestCancel();
          }
        }),
      );
    }
    phases.transferMs = performance.now() - tTransfer;
    workerCount = pool.started;

    // ---- mirror delete: only after a complete, error-free scan and copy ----
    const tDelete = performance.now();
    progress.phase = "delete";
    emit();
    if (job.command === "mirror" && counts.deletePlanned > 0) {
      if (errorCount > 0 || interrupted || fatal) {
        addError({ path: ".", side: "run", code: "DELETE_SKIPPED", message: `${counts.deletePlanned} extraneous entries were not deleted because the run had errors` });
      } else if (srcTree.paths.length === 0 && !opts.force) {
        addError({ path: ".", side: "run", code: "EMPTY_SOURCE", message: `source '${job.source}' is empty; refusing to delete all ${counts.deletePlanned} entries of the destination (use --force to allow)` });
      } else if (opts.maxDelete >= 0 && counts.deletePlanned > opts.maxDelete) {
        addError({ path: ".", side: "run", code: "MAX_DELETE", message: `${counts.deletePlanned} entries would be deleted, more than --max-delete ${opts.maxDelete}; nothing was deleted` });
      } else if (!opts.dryRun) {
        // Reverse walk order puts every entry before the directory holding it. A directory that
        // is not empty afterwards holds excluded entries (never deleted) and stays.
        for (let k = extraneous.length - 1; k >= 0; k--) {
          const j = extraneous[k]!;
          const rel = dstTree.paths[j]!;
          const abs = join(paths.dst, rel);
          try {
            if (dstTree.types[j] === T_DIR) {
              rmdirSync(abs);
              fs.forgetDir(abs);
            } else {
              unlinkSync(abs);
            }
            counts.deleted++;
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (code === "ENOTEMPTY" || code === "EEXIST") continue;
            addError(fsErr(rel, "destination", err));
          }
        }
      }
    }
    phases.deleteMs = performance.now() - tDelete;

    // ---- directory modes and mtimes, last, so nothing written later changes them ----
    progress.phase = "finish";
    emit();
    if (!opts.dryRun && !paths.single && !interrupted && !fatal) {
      // Directories whose entries changed: their mtime moved, so it is set again.
      const parentOf = (p: string) => p.slice(0, Math.max(0, p.lastIndexOf("/")));
      const touched = new Set<string>();
      for (const i of copies) touched.add(parentOf(srcTree.paths[i]!));
      for (const i of links) touched.add(parentOf(srcTree.paths[i]!));
      for (const rel of mkdirs) touched.add(parentOf(rel));
      for (const j of extraneousTop) touched.add(parentOf(dstTree.paths[j]!));
      for (const j of replaceFirst) touched.add(parentOf(dstTree.paths[j]!));
      if (dstTree.staleTemps.length) for (const rel of dstTree.staleTemps) touched.add(parentOf(rel));
      const apply = (abs: string, mode: number, sec: number, nsec: number, dMode: number | undefined, dSec?: number, dNsec?: number) => {
        try {
          if (dMode !== mode) chmodSync(abs, mode);
          if (dSec !== sec || dNsec !== nsec) fs.setTimes(abs, sec, nsec);
        } catch (err) {
          addError(fsErr(abs.slice(paths.dst.length + 1) || ".", "destination", err));
        }
      };
      for (let i = 0; i < srcTree.paths.length; i++) {
        if (srcTree.types[i] !== T_DIR) continue;
        const rel = srcTree.paths[i]!;
        if (blocked.has(rel)) continue;
        const j = srcDirsNew.has(i) || matchOf[i]! < 0 ? undefined : matchOf[i]!;
        const dirty = j === undefined || touched.has(rel);
        apply(join(paths.dst, rel), srcTree.modes[i]!, srcTree.mtimeSec[i]!, srcTree.mtimeNsec[i]!,
          j === undefined ? undefined : dstTree.modes[j], dirty ? undefined : dstTree.mtimeSec[j!], dirty ? undefined : dstTree.mtimeNsec[j!]);
      }
      const rootDirty = !dstTree.rootExists || touched.has("");
      apply(paths.dst, srcTree.rootMode, srcTree.rootMtimeSec, srcTree.rootMtimeNsec,
        dstTree.rootExists ? dstTree.rootMode : undefined,
        rootDirty ? undefined : dstTree.rootMtimeSec, rootDirty ? undefined : dstTree.rootMtimeNsec);
    }
  } finally {
    hooks.signal?.removeEventListener("abort", onAbort);
    await pool.close();
  }

  if (fatal) {
    const e = errors.find((x) => x.code === fatal);
    if (e) e.message = `${e.message}; the run stopped (${describeCode(fatal)})`;
  }
  phases.totalMs = performance.now() - t0;
  const status: RunStatus = interrupted ? "interrupted" : fatal ? "failed" : errorCount > 0 ? "partial" : "ok";
  const report: RunReport = {
    id: crypto.randomUUID(),
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    host: hostname(),
    pid: process.pid,
    os: `${process.platform} ${release()}`,
    blitVersion: VERSION,
    command: job.command,
    route: "local",
    source: paths.src,
    destination: paths.dst,
    sourceFs: filesystemType(paths.src),
    destinationFs: filesystemType(existsSync(paths.dst) ? paths.dst : dirname(paths.dst)),
    options: opts,
    workload,
    plan: { strategy: strategyName(classes), workers: workerCount, classes },
    phases,
    counts,
    bytesByPath,
    filesByPath,
    fastPathNotes,
    errors,
    errorCount,
    status,
    exitCode: status === "ok" ? 0 : status === "partial" ? 1 : status === "interrupted" ? 130 : 2,
  };
  return { report, actions };

  function mergeCopy(r: CopyResult) {
    counts.copied += r.copied;
    counts.copiedBytes += r.copiedBytes;
    for (const [p, n] of Object.entries(r.filesByPath) as [FastPath, number][]) filesByPath[p] = (filesByPath[p] ?? 0) + n;
    for (const [p, n] of Object.entries(r.bytesByPath) as [FastPath, number][]) bytesByPath[p] = (bytesByPath[p] ?? 0) + n;
    for (const [p, code] of Object.entries(r.refused) as [FastPath, string][]) {
      fastPathNotes[p] ??= `${p} refused: ${code} (${describeCode(code)}) on ${filesystemType(paths.dst)}`;
    }
    for (const e of r.errors) {
      const root = e.side === "source" ? srcRootPrefix : dstRootPrefix;
      addError({ ...e, path: e.path.startsWith(root + "/") ? e.path.slice(root.length + 1) : e.path });
    }
    if (r.cancelled && !fatal) interrupted = interrupted || (hooks.signal?.aborted ?? false);
  }
}

async function compareByHash(pool: WorkerPool, src: Tree, dst: Tree, pairs: number[], srcRoot: string, dstRoot: string): Promise<boolean[]> {
  const srcPaths: string[] = [];
  const dstPaths: string[] = [];
  for (let k = 0; k < pairs.length; k += 2) {
    srcPaths.push(join(srcRoot, src.paths[pairs[k]!]!));
    dstPaths.push(join(dstRoot, dst.paths[pairs[k + 1]!]!));
  }
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

function typeName(t: number): string {
  return t === T_FILE ? "file" : t === T_DIR ? "directory" : t === T_LINK ? "symlink" : "special file";
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

function singleFileTree(src: string): Tree {
  return oneFileTree(basename(src), backend().lstat(realpathSync(src)));
}

/** The report of a run refused before it started (bad input), so that telemetry has it too. */
export function refusedReport(job: Job, err: { code: string; message: string }, startedAt: Date): RunReport {
  const now = new Date();
  const src = resolve(job.source);
  const dst = resolve(job.destination);
  return {
    id: crypto.randomUUID(),
    startedAt: startedAt.toISOString(),
    finishedAt: now.toISOString(),
    host: hostname(),
    pid: process.pid,
    os: `${process.platform} ${release()}`,
    blitVersion: VERSION,
    command: job.command,
    route: "local",
    source: src,
    destination: dst,
    sourceFs: filesystemType(src),
    destinationFs: filesystemType(dst),
    options: job.options,
    workload: { files: 0, bytes: 0, dirs: 0, symlinks: 0, sizeHistogram: {} },
    plan: { strategy: "none", workers: 0, classes: [] },
    phases: { enumerateMs: 0, planMs: 0, transferMs: 0, deleteMs: 0, totalMs: now.getTime() - startedAt.getTime() },
    counts: { planned: 0, plannedBytes: 0, copied: 0, copiedBytes: 0, skipped: 0, skippedBytes: 0, deleted: 0, deletePlanned: 0, dirsCreated: 0, symlinks: 0 },
    bytesByPath: {},
    filesByPath: {},
    fastPathNotes: {},
    errors: [{ path: job.source, side: "run", code: err.code, message: err.message }],
    errorCount: 1,
    status: "failed",
    exitCode: 2,
  };
}
