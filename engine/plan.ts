// The one planner of every transfer, local or remote: it walks the source tree and the
// destination tree in lock step (marchTrees, as rclone's fs/march does) and sorts each entry
// into src-only (create), match (unchanged, changed, or of another type) and dst-only
// (extraneous). `blit check` marches the same way and judges files by the same fileUnchanged.
// `blit copy`/`blit mirror` (engine/run.ts), the receiver of a push (blitd) and of a pull (the
// client) all call planTrees, so "is this entry unchanged?", the modify window, type conflicts
// and blocked subtrees have one definition.
import { DELTA_MIN_BYTES, isPartialName, partialName } from "./remote/index.ts";
import type { RunError, Workload } from "./report.ts";
import { T_DIR, T_FILE, T_LINK, T_OTHER, type Tree } from "./walk.ts";
import { TEMP_PREFIX, type SpecialKind } from "../ffi/index.ts";

export interface PlanOptions {
  /** Delete what the source lacks and replace entries of another type. */
  mirror: boolean;
  /** Files of equal size are compared by content (the caller hashes `checks`). */
  checksum: boolean;
  /** Equal size means unchanged, whatever the mtimes. */
  sizeOnly: boolean;
  /** Every file is transferred. */
  ignoreTimes: boolean;
  /**
   * -H: files of the source that are one inode (same dev and ino, the Tree's optional columns)
   * become one inode on the destination: the first in walk order is transferred, the others
   * are linked to it. @default false
   */
  hardLinks?: boolean;
  /** --specials: FIFOs and sockets are created. @default false */
  specials?: boolean;
  /** --devices: character and block devices are created (needs root). @default false */
  devices?: boolean;
  /** Owners (uid) are kept: an unchanged entry whose owner differs gets it (needs the trees' uid columns). @default false */
  owner?: boolean;
  /** Groups (gid) are kept, likewise. @default false */
  group?: boolean;
  /**
   * Record why each entry is written or touched (Plan.why), for --itemize-changes, -v, --log-file
   * and --json-lines. Off, the plan does no per-entry work for it. @default false
   */
  explain?: boolean;
  /**
   * Remote transfers: a changed file whose destination holds an older regular file of the same
   * name travels as a delta against it (Plan.basis). @default false
   */
  delta?: boolean;
  /**
   * Remote transfers: a needed file for which an interrupted transfer kept a part (a partial
   * file of the same name, engine/remote/delta.ts) resumes from it. @default false
   */
  resume?: boolean;
}

/**
 * Why the planner writes or touches an entry (bits of Plan.why): what differs between the source
 * entry and the destination's. rsync's itemized letters map onto them (c s t p o g).
 */
export const WHY = {
  /** Nothing of that type at the path. */
  NEW: 1,
  SIZE: 2,
  TIME: 4,
  /** --checksum: equal size, different content. */
  CHECKSUM: 8,
  PERMS: 16,
  OWNER: 32,
  GROUP: 64,
  /** --ignore-times: written though nothing differs. */
  ALWAYS: 128,
  /** A symlink pointing elsewhere, a special file of another kind or device number. */
  TARGET: 256,
  /** An entry of another type was there (a mirror replaces it). */
  TYPE: 512,
} as const;

/** The names of the bits of `why`: "new", "size", "time", "checksum", "perms", "owner", "group", "always", "target", "type". */
export function whyNames(why: number): string[] {
  const out: string[] = [];
  for (const [k, bit] of Object.entries(WHY)) if (why & bit) out.push(k.toLowerCase());
  return out;
}

/**
 * Two mtimes within this many nanoseconds are equal. The fast paths keep nanoseconds, but the
 * portable fallback (node:fs, seconds as a double) and some filesystems keep about a
 * microsecond, and a copy they made must not look changed on the next run.
 */
export const MODIFY_WINDOW_NS = 1000;

export interface Plan {
  /** Source indices of files to transfer (new or changed). */
  need: number[];
  /** --checksum: source indices of files of equal size on both sides, to compare by content. */
  checks: number[];
  /** Destination indices matching `checks`, position by position. */
  checkDst: number[];
  /** Source indices of directories to create, parents first. */
  mkdirs: number[];
  /** Source indices of symlinks to create or replace. */
  links: number[];
  /** -H: [source index, index of the first file of its inode]: link the first's destination here. */
  hardLinks: [number, number][];
  /**
   * Destination indices of entries a source entry of another type replaces (mirror only). The
   * new entry is written beside the old one under `staged` and swapped in after the transfer,
   * only when the run had no error; each counts toward deletePlanned with everything below it.
   */
  replace: number[];
  /** Source path of a replacing entry -> the temporary name it is written under, beside the old. */
  staged: Map<string, string>;
  /** Every extraneous destination entry (mirror), in walk order: a directory before its contents. */
  extraneous: number[];
  /** The top-most of `extraneous` (what a listing names). */
  extraneousTop: number[];
  /** Entries a mirror removes: the extraneous ones plus the replaced ones with their contents. */
  deletePlanned: number;
  skipped: number;
  skippedBytes: number;
  /** Source directories not created because of a conflict; nothing below them is written. */
  blocked: Set<string>;
  /** Source index -> matching destination index of the same type, -1 when there is none. */
  matchOf: Int32Array;
  /**
   * Source indices of entries left in place (unchanged content) whose permission bits, owner or
   * group differ from the source's: their metadata is set again, as rsync -a does.
   */
  fixMeta: number[];
  /**
   * Source indices of files and specials matched and left in place (content unchanged): -X and -A
   * compare their attributes with the source's, as rsync -X does for files it does not copy.
   */
  kept: number[];
  /** Source indices of FIFOs, sockets and devices to create (--specials, --devices). */
  specials: number[];
  /** Special files of the source left out, by kind (not asked for with --specials/--devices). */
  specialsSkipped: Partial<Record<SpecialKind, number>>;
  /** The destination walk's errors and the plan's conflicts. */
  errors: RunError[];
  /**
   * PlanOptions.explain: source index -> WHY bits, for every entry the plan writes or touches
   * (and matched directories whose time, mode or owner differ).
   */
  why?: Uint16Array;
  workload: Workload;
  /**
   * Files of `need` that travel as changes against a basis beside them: source index -> the
   * basis's destination path and whether it is a kept partial file (resume) rather than the old
   * file (delta). Filled only with PlanOptions.delta or .resume, for files of DELTA_MIN_BYTES and up.
   */
  basis: Map<number, { path: string; partial: boolean }>;
}

const BUCKETS: [number, string][] = [
  [4 << 10, "<4K"], [64 << 10, "<64K"], [1 << 20, "<1M"], [16 << 20, "<16M"],
  [256 << 20, "<256M"], [1 << 30, "<1G"], [Infinity, ">=1G"],
];

function bucketOf(size: number): string {
  for (const [max, label] of BUCKETS) if (size < max) return label;
  return ">=1G";
}

export function typeName(t: number): string {
  return t === T_FILE ? "file" : t === T_DIR ? "directory" : t === T_LINK ? "symlink" : "special file";
}

/** The workload a whole tree represents (regular files, bytes, directories, symlinks, size histogram). */
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

/**
 * The one rule for a file present on both sides: true when unchanged, false when it must be
 * transferred, "check" when --checksum must compare contents.
 */
export function fileUnchanged(src: Tree, i: number, dst: Tree, j: number, opts: PlanOptions): boolean | "check" {
  if (opts.ignoreTimes) return false;
  if (dst.sizes[j] !== src.sizes[i]) return false;
  if (opts.checksum) return "check";
  if (opts.sizeOnly) return true;
  return sameMtime(src, i, dst, j);
}

/** The mtimes of src entry i and dst entry j are equal within MODIFY_WINDOW_NS. */
export function sameMtime(src: Tree, i: number, dst: Tree, j: number): boolean {
  const ds = src.mtimeSec[i]! - dst.mtimeSec[j]!;
  const dn = src.mtimeNsec[i]! - dst.mtimeNsec[j]!;
  return Math.abs(ds * 1e9 + dn) < MODIFY_WINDOW_NS;
}

/** What marchTrees reports: each path once, in walk order (a directory before its contents). */
export interface Marcher {
  /** Source entry i has no destination entry of the same path. */
  srcOnly(i: number): void;
  /** Destination entry j has no source entry of the same path. */
  dstOnly(j: number): void;
  /** Source entry i and destination entry j have the same path (of any types). */
  match(i: number, j: number): void;
}

/** Compares a[0, an) with b[0, bn) component by component: "a/x" < "a-b" (parent "a" < "a-b"). */
function compareRange(a: string, an: number, b: string, bn: number): number {
  const n = Math.min(an, bn);
  for (let k = 0; k < n; k++) {
    const x = a.charCodeAt(k);
    const y = b.charCodeAt(k);
    if (x === y) continue;
    if (x === 47) return -1; // a's component ended first
    if (y === 47) return 1;
    return x - y;
  }
  return an - bn;
}

/** Tree order: depth first, a directory before its contents, names by UTF-16 code unit. */
export function comparePaths(a: string, b: string): number {
  return compareRange(a, a.length, b, b.length);
}

/**
 * walkTree's order: directories are read depth first, smallest name first (comparePaths order),
 * and each one's entries are listed together, sorted by name; so entries are ordered by their
 * parent directory, then by name. A directory still comes before its contents.
 */
export function compareWalkOrder(a: string, b: string): number {
  const pa = a.lastIndexOf("/");
  const pb = b.lastIndexOf("/");
  // Most neighbours share their directory: one native prefix test instead of a scan.
  if (pa !== pb || (pa > 0 && !a.startsWith(b.slice(0, pa)))) {
    if (pa < 0) return -1;
    if (pb < 0) return 1;
    const byParent = compareRange(a, pa, b, pb);
    if (byParent !== 0) return byParent;
  }
  const x = a.slice(pa + 1);
  const y = b.slice(pb + 1);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Whether `paths` are in walk order (checked unless walkTree made them). */
function inWalkOrder(t: Tree): boolean {
  if (t.walkOrdered) return true;
  for (let k = 1; k < t.paths.length; k++) if (compareWalkOrder(t.paths[k - 1]!, t.paths[k]!) >= 0) return false;
  return true;
}

/** The tree's indices in walk order: 0..n-1 as walkTree returns them, sorted if a peer's were not. */
function walkOrder(t: Tree): ArrayLike<number> {
  const n = t.paths.length;
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  return inWalkOrder(t) ? order : order.sort((x, y) => compareWalkOrder(t.paths[x]!, t.paths[y]!));
}

/**
 * Walks two trees in lock step, as rclone's fs/march does, and reports every path once as
 * src-only, dst-only or a match. Both trees are read in walk order; a tree that is not (a
 * peer's manifest) is put in order first, so the result never depends on the order received.
 */
export function marchTrees(src: Tree, dst: Tree, m: Marcher): void {
  const so = walkOrder(src);
  const dO = walkOrder(dst);
  let a = 0;
  let b = 0;
  while (a < so.length || b < dO.length) {
    if (b >= dO.length) m.srcOnly(so[a++]!);
    else if (a >= so.length) m.dstOnly(dO[b++]!);
    else {
      const sp = src.paths[so[a]!]!;
      const dp = dst.paths[dO[b]!]!;
      const c = sp === dp ? 0 : compareWalkOrder(sp, dp);
      if (c < 0) m.srcOnly(so[a++]!);
      else if (c > 0) m.dstOnly(dO[b++]!);
      else m.match(so[a++]!, dO[b++]!);
    }
  }
}

function parentOf(rel: string): string {
  return rel.slice(0, Math.max(0, rel.lastIndexOf("/")));
}

/** A fresh temporary name for `name` in the same directory (kept within NAME_MAX). */
export function stageName(name: string): string {
  const rand = Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, "0");
  return `${TEMP_PREFIX}${rand}-${name.length > 200 ? name.slice(0, 200) : name}`;
}

/**
 * Where the source entry `rel` is written: its own path, or, below or at an entry that replaces
 * one of another type, the path under that entry's temporary name.
 */
export function writePath(plan: Plan, rel: string): string {
  if (plan.staged.size === 0) return rel;
  for (let k = rel.indexOf("/"); ; k = rel.indexOf("/", k + 1)) {
    const prefix = k < 0 ? rel : rel.slice(0, k);
    const staged = plan.staged.get(prefix);
    if (staged !== undefined) {
      const p = parentOf(prefix);
      return (p ? `${p}/${staged}` : staged) + (k < 0 ? "" : rel.slice(k));
    }
    if (k < 0) return rel;
  }
}

export function planTrees(src: Tree, dst: Tree, opts: PlanOptions): Plan {
  const plan: Plan = {
    need: [], checks: [], checkDst: [], mkdirs: [], links: [], hardLinks: [], replace: [], staged: new Map(), extraneous: [],
    extraneousTop: [], deletePlanned: 0, skipped: 0, skippedBytes: 0, blocked: new Set(),
    matchOf: new Int32Array(src.paths.length).fill(-1), specials: [], specialsSkipped: {}, fixMeta: [], kept: [], errors: [...dst.errors], workload: workloadOf(src),
    basis: new Map(),
  };
  // A replacement is a delete: it is planned only when the destination was read without error.
  const mayReplace = opts.mirror && dst.errors.length === 0;
  const replacedDirs = new Set<string>();
  // -H: the first file of each multiply-linked inode, by "dev:ino".
  const inodes = opts.hardLinks && src.ino && src.nlink ? new Map<string, number>() : undefined;
  const changing = new Uint8Array(src.paths.length);
  const gone = new Set<string>();
  const why = opts.explain ? (plan.why = new Uint16Array(src.paths.length)) : undefined;
  // The march reports a directory before its contents on either side, so a parent's decision
  // (blocked, staged, replaced, extraneous) is known when its children come.
  const source = (i: number, j: number | undefined) => {
    const rel = src.paths[i]!;
    const type = src.types[i]!;
    const parent = parentOf(rel);
    if (parent && plan.blocked.has(parent)) {
      if (type === T_DIR) plan.blocked.add(rel);
      return;
    }
    const dType = j === undefined ? 0 : dst.types[j]!;
    if (type === T_OTHER) {
      const kind = src.specials?.[i]?.kind ?? "socket";
      if (!(kind === "char" || kind === "block" ? opts.devices : opts.specials)) {
        plan.specialsSkipped[kind] = (plan.specialsSkipped[kind] ?? 0) + 1;
        return;
      }
    }
    let present = dType !== 0;
    if (present && dType !== type) {
      if (mayReplace) {
        plan.replace.push(j!);
        plan.staged.set(rel, stageName(rel.slice(parent ? parent.length + 1 : 0)));
        if (dType === T_DIR) replacedDirs.add(rel);
        plan.deletePlanned++;
        present = false;
        if (why) why[i] = WHY.TYPE;
      } else {
        plan.errors.push({
          path: rel, side: "destination", code: "TYPE_CONFLICT",
          message: `destination '${rel}' is a ${typeName(dType)} but the source has a ${typeName(type)}; ${opts.mirror ? "not replaced because the destination could not be read completely" : "use mirror to replace it"}`,
        });
        if (type === T_DIR) plan.blocked.add(rel);
        return;
      }
    } else if (j !== undefined) plan.matchOf[i] = j;
    if (why) why[i] |= present ? changeBits(src, i, dst, j!, opts) : WHY.NEW;
    if (type === T_DIR) {
      if (!present) plan.mkdirs.push(i);
    } else if (type === T_OTHER) {
      const s = src.specials?.[i];
      const d = present ? dst.specials?.[j!] : undefined;
      if (!s || !d || d.kind !== s.kind || d.rdev !== s.rdev) plan.specials.push(i);
      else {
        plan.skipped++;
        plan.kept.push(i);
        if (metaDiffers(src, i, dst, j!, opts)) plan.fixMeta.push(i);
      }
    } else if (type === T_LINK) {
      if (!present || dst.links[j!] !== src.links[i]) plan.links.push(i);
      else {
        plan.skipped++;
        if (metaDiffers(src, i, dst, j!, opts)) plan.fixMeta.push(i);
      }
    } else {
      const leader = inodes && src.nlink![i]! > 1 ? firstOfInode(inodes, src, i) : i;
      if (leader !== i) {
        // Unchanged only when it already is the same inode as its first file's destination, and that one stays.
        const lj = plan.matchOf[leader]!;
        const linked = present && dType === T_FILE && lj >= 0 && !changing[leader] && sameInode(dst, j!, lj);
        if (linked) {
          plan.skipped++;
          plan.kept.push(i);
          if (metaDiffers(src, i, dst, j!, opts)) plan.fixMeta.push(i);
        } else plan.hardLinks.push([i, leader]);
        return;
      }
      const same = present ? fileUnchanged(src, i, dst, j!, opts) : false;
      if (same !== true) changing[i] = 1;
      if (same === "check") {
        plan.checks.push(i);
        plan.checkDst.push(j!);
      } else if (same) {
        plan.skipped++;
        plan.kept.push(i);
        plan.skippedBytes += src.sizes[i]!;
        if (metaDiffers(src, i, dst, j!, opts)) plan.fixMeta.push(i);
      } else plan.need.push(i);
    }
  };
  const extraneous = (j: number) => {
    if (!opts.mirror) return;
    const rel = dst.paths[j]!;
    const parent = parentOf(rel);
    const isDir = dst.types[j] === T_DIR;
    if (parent && replacedDirs.has(parent)) {
      // Contents of a directory a source entry replaces: removed with it, counted as deletes.
      if (isDir) replacedDirs.add(rel);
      plan.deletePlanned++;
      return;
    }
    if (parent && plan.blocked.has(parent)) return;
    plan.extraneous.push(j);
    plan.deletePlanned++;
    if (isDir) gone.add(rel);
    if (parent && gone.has(parent)) return;
    plan.extraneousTop.push(j);
  };
  marchTrees(src, dst, {
    srcOnly: (i) => source(i, undefined),
    match: (i, j) => source(i, j),
    dstOnly: extraneous,
  });
  if (opts.delta || opts.resume) planBases(plan, src, dst, opts);
  return plan;
}

/**
 * The files of `need` that travel against a basis, in need order: the order the sender sends
 * them in and the receiver signs them in (a push's NegotiateReply.basis, a pull's BASIS).
 */
export function basisOrder(plan: Plan): number[] {
  return plan.basis.size ? plan.need.filter((i) => plan.basis.has(i)) : [];
}

/**
 * Which needed files have a basis (Plan.basis): the verified part a transfer of the same source
 * version kept (resume) first, else the destination's older file of the same name (delta).
 */
function planBases(plan: Plan, src: Tree, dst: Tree, opts: PlanOptions): void {
  const partials = opts.resume ? new Set(dst.staleTemps.filter((rel) => isPartialName(rel.slice(rel.lastIndexOf("/") + 1)))) : undefined;
  for (const i of plan.need) {
    if (src.sizes[i]! < DELTA_MIN_BYTES) continue;
    const rel = writePath(plan, src.paths[i]!);
    if (partials?.size) {
      const k = rel.lastIndexOf("/");
      const p = `${k < 0 ? "" : rel.slice(0, k + 1)}${partialName(rel.slice(k + 1))}`;
      if (partials.has(p)) {
        plan.basis.set(i, { path: p, partial: true });
        continue;
      }
    }
    const j = plan.matchOf[i]!;
    if (opts.delta && j >= 0 && dst.types[j] === T_FILE && dst.sizes[j]! > 0 && rel === dst.paths[j]) plan.basis.set(i, { path: rel, partial: false });
  }
}

/** Whether an entry left in place needs its permission bits (not for symlinks), owner or group set again. */
function metaDiffers(src: Tree, i: number, dst: Tree, j: number, opts: PlanOptions): boolean {
  if (src.types[i] !== T_LINK && src.modes[i] !== dst.modes[j]) return true;
  if (opts.owner && src.uid && dst.uid && src.uid[i] !== dst.uid[j]) return true;
  return !!(opts.group && src.gid && dst.gid && src.gid[i] !== dst.gid[j]);
}

/** The first index of i's inode in walk order (i itself when it is the first). */
function firstOfInode(inodes: Map<string, number>, t: Tree, i: number): number {
  const key = `${t.dev?.[i] ?? 0}:${t.ino![i]}`;
  const first = inodes.get(key);
  if (first !== undefined) return first;
  inodes.set(key, i);
  return i;
}

function sameInode(t: Tree, a: number, b: number): boolean {
  return !!t.ino && t.ino[a] === t.ino[b] && (t.dev?.[a] ?? 0) === (t.dev?.[b] ?? 0);
}

export interface GuardState {
  /** Errors of the run so far, on either side. */
  errors: number;
  interrupted: boolean;
  /** The source tree has no entry at all (after a walk that succeeded). */
  sourceEmpty: boolean;
  force: boolean;
  /** --max-delete; -1 = no bound. */
  maxDelete: number;
  dryRun?: boolean;
}

/**
 * Whether a mirror may delete and replace what its plan says, or the error that says why not.
 * Deletes and replacements are held back together: after any error, from an empty source
 * without --force, and beyond --max-delete (replacements count as deletes).
 */
export function deleteGuard(plan: Plan, s: GuardState): RunError | undefined {
  const n = plan.deletePlanned;
  if (n === 0) return undefined;
  const what = plan.replace.length === 0
    ? `${n} extraneous entr${n === 1 ? "y was" : "ies were"}`
    : `${n} entr${n === 1 ? "y" : "ies"} (extraneous or replaced by one of another type) ${n === 1 ? "was" : "were"}`;
  if (s.errors > 0 || s.interrupted) {
    return { path: ".", side: "run", code: "DELETE_SKIPPED", message: `${what} not deleted because the run had errors` };
  }
  if (s.sourceEmpty && !s.force) {
    return { path: ".", side: "run", code: "EMPTY_SOURCE", message: `the source is empty; refusing to delete all ${n} entries of the destination (use --force to allow)` };
  }
  if (s.maxDelete >= 0 && n > s.maxDelete) {
    return { path: ".", side: "run", code: "MAX_DELETE", message: `${n} entries would be deleted, more than --max-delete ${s.maxDelete}; nothing was deleted${plan.replace.length ? " or replaced" : ""}` };
  }
  return undefined;
}

/** The WHY bits of source entry i against destination entry j of the same type (explain mode only). */
function changeBits(src: Tree, i: number, dst: Tree, j: number, opts: PlanOptions): number {
  const type = src.types[i];
  let bits = 0;
  if (type === T_FILE && src.sizes[i] !== dst.sizes[j]) bits |= WHY.SIZE;
  if (!sameMtime(src, i, dst, j)) bits |= WHY.TIME;
  if (type === T_LINK && src.links[i] !== dst.links[j]) bits |= WHY.TARGET;
  if (type === T_OTHER) {
    const s = src.specials?.[i];
    const d = dst.specials?.[j];
    if (!s || !d || s.kind !== d.kind || s.rdev !== d.rdev) bits |= WHY.TARGET;
  }
  if (type !== T_LINK && src.modes[i] !== dst.modes[j]) bits |= WHY.PERMS;
  if (opts.owner && src.uid && dst.uid && src.uid[i] !== dst.uid[j]) bits |= WHY.OWNER;
  if (opts.group && src.gid && dst.gid && src.gid[i] !== dst.gid[j]) bits |= WHY.GROUP;
  if (bits === 0 && opts.ignoreTimes && type === T_FILE) bits = WHY.ALWAYS;
  return bits;
}
