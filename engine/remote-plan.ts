// The receiver's plan for a remote transfer: compare the sender's tree (a manifest) with what the
// receiver has and decide what it needs, what it creates, and what a mirror would delete. The
// same rules as a local run (engine/run.ts): size+mtime by default, --checksum, --size-only,
// --ignore-times; a type conflict is replaced only by a mirror with no errors so far.
import type { RunError, Workload } from "./report.ts";
import { T_DIR, T_FILE, T_LINK, T_OTHER, type Tree } from "./walk.ts";

export interface ReceiveOptions {
  mirror: boolean;
  checksum: boolean;
  sizeOnly: boolean;
  ignoreTimes: boolean;
}

export interface ReceivePlan {
  /** Source indices of files the receiver needs. */
  need: number[];
  /** --checksum: source indices of files of equal size on both sides, to compare by hash. */
  checks: number[];
  /** Destination indices matching `checks`, position by position. */
  checkDst: number[];
  /** Source indices of directories to create, parents first. */
  mkdirs: number[];
  /** Source indices of symlinks to create or replace. */
  links: number[];
  /** Destination indices removed before anything is written (mirror type conflicts). */
  replace: number[];
  /** Destination indices a mirror deletes (top-level of each extraneous subtree). */
  extraneousTop: number[];
  /** Every extraneous destination entry, nested ones included. */
  deletePlanned: number;
  skipped: number;
  skippedBytes: number;
  /** Source directories not created because of a conflict; nothing below them is written. */
  blocked: Set<string>;
  /** Source index -> destination index, -1 when absent. */
  matchOf: Int32Array;
  errors: RunError[];
  workload: Workload;
}

const BUCKETS: [number, string][] = [
  [4 << 10, "<4K"], [64 << 10, "<64K"], [1 << 20, "<1M"], [16 << 20, "<16M"],
  [256 << 20, "<256M"], [1 << 30, "<1G"], [Infinity, ">=1G"],
];

function bucketOf(size: number): string {
  for (const [max, label] of BUCKETS) if (size < max) return label;
  return ">=1G";
}

function typeName(t: number): string {
  return t === T_FILE ? "file" : t === T_DIR ? "directory" : t === T_LINK ? "symlink" : "special file";
}

/** The workload a tree represents (regular files, bytes, directories, symlinks, size histogram). */
export function workloadOf(src: Tree): Workload {
  const w: Workload = { files: 0, bytes: 0, dirs: 0, symlinks: 0, sizeHistogram: {} };
  for (let i = 0; i < src.paths.length; i++) {
    const t = src.types[i];
    if (t === T_FILE) {
      w.files++;
      w.bytes += src.sizes[i]!;
      const b = bucketOf(src.sizes[i]!);
      w.sizeHistogram[b] = (w.sizeHistogram[b] ?? 0) + 1;
    } else if (t === T_DIR) w.dirs++;
    else if (t === T_LINK) w.symlinks++;
  }
  return w;
}

export function planReceive(src: Tree, dst: Tree, opts: ReceiveOptions): ReceivePlan {
  const plan: ReceivePlan = {
    need: [], checks: [], checkDst: [], mkdirs: [], links: [], replace: [], extraneousTop: [],
    deletePlanned: 0, skipped: 0, skippedBytes: 0, blocked: new Set(),
    matchOf: new Int32Array(src.paths.length).fill(-1), errors: [...dst.errors], workload: workloadOf(src),
  };
  const dstMap = new Map<string, number>();
  for (let j = 0; j < dst.paths.length; j++) dstMap.set(dst.paths[j]!, j);
  const dstSeen = new Uint8Array(dst.paths.length);
  for (let i = 0; i < src.paths.length; i++) {
    const rel = src.paths[i]!;
    const type = src.types[i]!;
    const slash = rel.lastIndexOf("/");
    if (slash > 0 && plan.blocked.has(rel.slice(0, slash))) {
      if (type === T_DIR) plan.blocked.add(rel);
      continue;
    }
    const j = dstMap.get(rel);
    let dType = 0;
    if (j !== undefined) {
      dstSeen[j] = 1;
      plan.matchOf[i] = j;
      dType = dst.types[j]!;
    }
    if (type === T_OTHER) continue;
    if (dType !== 0 && dType !== type) {
      if (opts.mirror && plan.errors.length === 0) {
        plan.replace.push(j!);
        plan.matchOf[i] = -1;
        dType = 0;
      } else {
        plan.errors.push({
          path: rel, side: "destination", code: "TYPE_CONFLICT",
          message: `destination '${rel}' is a ${typeName(dType)} but the source has a ${typeName(type)}; ${opts.mirror ? "not replaced because the run had errors" : "use --mirror to replace it"}`,
        });
        if (type === T_DIR) plan.blocked.add(rel);
        continue;
      }
    }
    if (type === T_DIR) {
      if (dType === 0) plan.mkdirs.push(i);
    } else if (type === T_LINK) {
      if (dType === 0 || dst.links[j!] !== src.links[i]) plan.links.push(i);
      else plan.skipped++;
    } else {
      const size = src.sizes[i]!;
      let changed: boolean;
      if (dType === 0 || opts.ignoreTimes) changed = true;
      else if (dst.sizes[j!] !== size) changed = true;
      else if (opts.checksum) {
        plan.checks.push(i);
        plan.checkDst.push(j!);
        continue;
      } else if (opts.sizeOnly) changed = false;
      else changed = !(src.mtimeSec[i] === dst.mtimeSec[j!] && src.mtimeNsec[i] === dst.mtimeNsec[j!]);
      if (changed) plan.need.push(i);
      else {
        plan.skipped++;
        plan.skippedBytes += size;
      }
    }
  }
  if (opts.mirror) {
    const gone = new Set<string>();
    const replaced = new Set<string>();
    for (const j of plan.replace) if (dst.types[j] === T_DIR) replaced.add(dst.paths[j]!);
    for (let j = 0; j < dst.paths.length; j++) {
      if (dstSeen[j]) continue;
      const rel = dst.paths[j]!;
      const parent = rel.slice(0, Math.max(0, rel.lastIndexOf("/")));
      if (parent && replaced.has(parent)) {
        if (dst.types[j] === T_DIR) replaced.add(rel);
        continue;
      }
      plan.deletePlanned++;
      if (parent && gone.has(parent)) {
        if (dst.types[j] === T_DIR) gone.add(rel);
        continue;
      }
      plan.extraneousTop.push(j);
      if (dst.types[j] === T_DIR) gone.add(rel);
    }
  }
  return plan;
}
