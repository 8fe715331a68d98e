// Enumerate one tree without following symlinks. The root is opened once and every directory
// below it is opened relative to its parent's handle with no symlink followed (ffi dirReader),
// so a directory swapped for a symlink during the walk is refused and recorded as an error,
// never followed. A path that cannot be read is recorded and the walk goes on. Names are kept
// as ffi/name-bytes.ts decodes them, so names that are not UTF-8 are walked like any other.
// Runs inside a worker thread; the result is plain arrays so that it crosses postMessage cheaply.
import { lstatSync } from "node:fs";
import { dirReader, fsPath, TEMP_PREFIX, type DirHandle, type DirReader, type EntryStat, type FsError, type SpecialKind, type Xattr } from "../ffi/index.ts";
import type { RunError } from "./report.ts";
import { ListedPaths, Scope, SelectError } from "./select/index.ts";

export const T_FILE = 1;
export const T_DIR = 2;
export const T_LINK = 3;
export const T_OTHER = 4;

/** Entries in walk order (a directory before its contents); index i describes paths[i]. */
export interface Tree {
  /**
   * Relative to the root, "/"-separated, never "" (the root itself is described by root*).
   * Bytes that are not UTF-8 appear as U+DC80..U+DCFF (ffi nameFromBytes); show them with
   * displayName, hand them to node:fs through fsPath.
   */
  paths: string[];
  types: ArrayLike<number>;
  sizes: ArrayLike<number>;
  modes: ArrayLike<number>;
  mtimeSec: ArrayLike<number>;
  mtimeNsec: ArrayLike<number>;
  /** Symlink targets by index (decoded like names). */
  links: Record<number, string>;
  /** T_OTHER entries by index: which special file (FIFO, socket, device) and a device's st_rdev. */
  specials?: Record<number, { kind: SpecialKind; rdev: bigint }>;
  // Present when the tree came from walkTree (not from a peer's manifest or a one-file tree).
  /** st_dev of each entry. */
  dev?: ArrayLike<number>;
  /** st_ino of each entry, exact (a hard link is the same dev and ino). */
  ino?: ArrayLike<bigint>;
  nlink?: ArrayLike<number>;
  uid?: ArrayLike<number>;
  gid?: ArrayLike<number>;
  /** 512-byte blocks allocated (below size/512 for a sparse file). */
  blocks?: ArrayLike<number>;
  rootMode: number;
  rootMtimeSec: number;
  rootMtimeNsec: number;
  /** The root's owner and group (a walk, or a manifest that carries owners). */
  rootUid?: number;
  rootGid?: number;
  /** Extended attributes by index (a peer's manifest with -X/-A; a walk does not read them). */
  xattrs?: Record<number, Xattr[]>;
  rootXattrs?: Xattr[];
  /** False when the root does not exist (a destination not made yet). */
  rootExists: boolean;
  errors: RunError[];
  /** Temporaries a killed earlier run left behind (named-temp fallback only); relative paths. */
  staleTemps: string[];
  /**
   * Set by walkTree: `paths` are in its order (plan.ts compareWalkOrder), so marchTrees need not
   * check. A tree from elsewhere (a peer's manifest) is checked and put in order when it is not.
   */
  walkOrdered?: boolean;
}

type ColumnKey = "paths" | "types" | "sizes" | "modes" | "mtimeSec" | "mtimeNsec" | "dev" | "ino" | "nlink" | "uid" | "gid" | "blocks";

/** A Tree as it crosses postMessage: one string for all paths, typed arrays moved, not copied. */
export interface PackedTree extends Omit<Tree, ColumnKey> {
  joined: string;
  types: Uint8Array;
  sizes: Float64Array;
  modes: Uint16Array;
  mtimeSec: Float64Array;
  mtimeNsec: Uint32Array;
  dev?: Float64Array;
  ino?: BigUint64Array;
  nlink?: Uint32Array;
  uid?: Uint32Array;
  gid?: Uint32Array;
  blocks?: Float64Array;
}

type Typed = Uint8Array | Uint16Array | Uint32Array | Float64Array | BigUint64Array;
/** `src` as a `T`: a walk's column (already a `T`) is moved as it is, anything else is copied. */
function own<T extends Typed>(Ctor: { new (n: number): T; from(a: ArrayLike<never>): T }, src: ArrayLike<number> | ArrayLike<bigint>): T {
  return (src instanceof Ctor ? src : Ctor.from(src as ArrayLike<never>)) as T;
}

/**
 * NUL cannot occur in a file name, so it separates the paths. `inodes` false leaves out the
 * dev, ino and nlink columns (only -H needs them; a 0-change walk of 100,000 files pays for
 * every column it moves). The typed columns are moved, not copied: their buffers go in
 * `transfer`, so `t` is not to be used after it is packed.
 */
export function packTree(t: Tree, inodes = true): { packed: PackedTree; transfer: ArrayBuffer[] } {
  const { paths, types, sizes, modes, mtimeSec, mtimeNsec, dev, ino, nlink, uid, gid, blocks, ...rest } = t;
  const packed: PackedTree = {
    ...rest,
    joined: paths.join("\0"),
    types: own(Uint8Array, types),
    sizes: own(Float64Array, sizes),
    modes: own(Uint16Array, modes),
    mtimeSec: own(Float64Array, mtimeSec),
    mtimeNsec: own(Uint32Array, mtimeNsec),
  };
  if (inodes && dev && ino && nlink) {
    packed.dev = own(Float64Array, dev);
    packed.ino = own(BigUint64Array, ino);
    packed.nlink = own(Uint32Array, nlink);
  }
  if (uid && gid && blocks) {
    packed.uid = own(Uint32Array, uid);
    packed.gid = own(Uint32Array, gid);
    packed.blocks = own(Float64Array, blocks);
  }
  const arrays = [packed.types, packed.sizes, packed.modes, packed.mtimeSec, packed.mtimeNsec, packed.dev, packed.ino, packed.nlink, packed.uid, packed.gid, packed.blocks];
  const transfer = [...new Set(arrays.filter((a) => a !== undefined).map((a) => a.buffer as ArrayBuffer))];
  return { packed, transfer };
}

export function unpackTree(p: PackedTree): Tree {
  const { joined, ...rest } = p;
  return { ...rest, paths: joined === "" ? [] : joined.split("\0") };
}

export function emptyTree(): Tree {
  return {
    paths: [], types: [], sizes: [], modes: [], mtimeSec: [], mtimeNsec: [], links: {},
    rootMode: 0, rootMtimeSec: 0, rootMtimeNsec: 0, rootExists: false, errors: [], staleTemps: [],
  };
}

/**
 * A walk's per-entry numbers, in typed arrays that double when full. Without `inodes` the dev,
 * ino and nlink columns are left out (only -H and check's link comparison read them).
 */
class Columns {
  n = 0;
  private cap = 1024;
  types = new Uint8Array(this.cap);
  sizes = new Float64Array(this.cap);
  modes = new Uint16Array(this.cap);
  mtimeSec = new Float64Array(this.cap);
  mtimeNsec = new Uint32Array(this.cap);
  dev: Float64Array | undefined;
  ino: BigUint64Array | undefined;
  nlink: Uint32Array | undefined;
  uid = new Uint32Array(this.cap);
  gid = new Uint32Array(this.cap);
  blocks = new Float64Array(this.cap);

  constructor(inodes: boolean) {
    if (inodes) {
      this.dev = new Float64Array(this.cap);
      this.ino = new BigUint64Array(this.cap);
      this.nlink = new Uint32Array(this.cap);
    }
  }

  add(type: number, s: EntryStat): void {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.types[i] = type;
    this.sizes[i] = type === T_FILE ? s.size : 0;
    this.modes[i] = s.mode;
    this.mtimeSec[i] = s.mtimeSec;
    this.mtimeNsec[i] = s.mtimeNsec;
    if (this.ino) {
      this.dev![i] = s.dev;
      this.ino[i] = s.ino;
      this.nlink![i] = s.nlink;
    }
    this.uid[i] = s.uid;
    this.gid[i] = s.gid;
    this.blocks[i] = s.blocks;
  }

  private grow(): void {
    this.cap *= 2;
    const more = <T extends Typed>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(this.cap);
      b.set(a as never);
      return b;
    };
    this.types = more(this.types);
    this.sizes = more(this.sizes);
    this.modes = more(this.modes);
    this.mtimeSec = more(this.mtimeSec);
    this.mtimeNsec = more(this.mtimeNsec);
    if (this.ino) {
      this.dev = more(this.dev!);
      this.ino = more(this.ino);
      this.nlink = more(this.nlink!);
    }
    this.uid = more(this.uid);
    this.gid = more(this.gid);
    this.blocks = more(this.blocks);
  }

  /** The columns of the entries added, as views (no copy). */
  fill(tree: Tree): void {
    const n = this.n;
    tree.types = this.types.subarray(0, n);
    tree.sizes = this.sizes.subarray(0, n);
    tree.modes = this.modes.subarray(0, n);
    tree.mtimeSec = this.mtimeSec.subarray(0, n);
    tree.mtimeNsec = this.mtimeNsec.subarray(0, n);
    tree.dev = this.dev?.subarray(0, n);
    tree.ino = this.ino?.subarray(0, n);
    tree.nlink = this.nlink?.subarray(0, n);
    tree.uid = this.uid.subarray(0, n);
    tree.gid = this.gid.subarray(0, n);
    tree.blocks = this.blocks.subarray(0, n);
  }
}

/** One directory being walked: its handle, its subdirectories, and the next one to enter. */
interface Frame {
  dir: DirHandle;
  rel: string;
  subdirs: string[];
  next: number;
  /** The selection rules in force here (per-directory rules files read). */
  scope: Scope;
  /** --files-from: this directory is listed or inside a listed one (all its entries count). */
  whole: boolean;
}

export interface WalkOptions {
  reader?: DirReader;
  /** Collect dev, ino and nlink (default true). */
  inodes?: boolean;
  /**
   * --files-from: only these paths (relative to the root), the directories on the way to them
   * and everything below a listed directory. On the source side a listed path not found is an
   * error naming it.
   */
  only?: readonly string[];
}

/** Per-directory rules files larger than this are refused (a rules file is a few lines). */
const RULES_FILE_MAX = 1 << 20;
const utf8 = new TextDecoder();

/** Reads the per-directory rules file `name` of `dir`: undefined when absent; a symlink is not followed. */
function rulesFileReader(dir: DirHandle, rel: string) {
  return (name: string): string | undefined => {
    try {
      return utf8.decode(dir.readFile(name, RULES_FILE_MAX));
    } catch (err) {
      const code = (err as FsError).code;
      if (code === "ENOENT") return undefined;
      const file = rel === "" ? name : `${rel}/${name}`;
      const why = code === "ELOOP" ? "is a symlink, which a rules file is never read through" : (err as Error).message;
      throw Object.assign(new SelectError(`cannot read rules file '${file}': ${why}`), { code: code ?? "EIO", file });
    }
  };
}

/**
 * Walks the directory `root`: a path (opened here; a final symlink is not followed, and a root
 * that is not a directory gives an empty tree with rootExists false) or an open directory fd
 * (a daemon's module root or a pull's destination; it stays open and the caller's).
 * Entries come in walk order: a directory's entries sorted by name, then each subdirectory's
 * in turn (depth first), the same order on every side so trees can be matched in lock step.
 * `reader` is this thread's dirReader() unless a test hands it another; `inodes` false leaves
 * out the dev, ino and nlink columns (a walk for a run without -H).
 */
export function walkTree(root: string | number, rules: readonly string[], side: "source" | "destination", opts: WalkOptions = {}): Tree {
  const reader = opts.reader ?? dirReader();
  const topScope = Scope.top(rules);
  const only = opts.only ? new ListedPaths(opts.only) : undefined;
  const paths: string[] = [];
  const cols = new Columns(opts.inodes ?? true);
  const tree: Tree = { ...emptyTree(), paths, walkOrdered: true };
  cols.fill(tree);
  const fail = (rel: string, err: unknown) => {
    const code = (err as { code?: string }).code ?? "EIO";
    tree.errors.push({ path: rel || ".", side, code, message: err instanceof Error ? err.message : String(err) });
  };

  let top: DirHandle;
  try {
    top = typeof root === "number" ? reader.fromFd(root) : reader.open(root);
  } catch (err) {
    const code = (err as FsError).code;
    if (typeof root === "string" && (code === "ELOOP" || code === "ENOTDIR")) {
      // The root is a symlink or a file: no tree here (unless a component above it is the problem).
      try {
        lstatSync(fsPath(root));
        return tree;
      } catch (e) {
        if ((e as FsError).code !== "ENOENT") fail("", e);
        return tree;
      }
    }
    if (code !== "ENOENT") fail("", err);
    return tree;
  }

  const stack: Frame[] = [];
  try {
    const st = top.self();
    tree.rootExists = true;
    tree.rootMode = st.mode;
    tree.rootMtimeSec = st.mtimeSec;
    tree.rootMtimeNsec = st.mtimeNsec;
    tree.rootUid = st.uid;
    tree.rootGid = st.gid;

    const found = new Set<string>();
    const list = (dir: DirHandle, rel: string, inherited: Scope, whole: boolean): Frame => {
      const frame: Frame = { dir, rel, subdirs: [], next: 0, scope: inherited, whole };
      let names: string[];
      try {
        // This directory's own rules files first: they decide about its entries.
        frame.scope = inherited.enter(rel, rulesFileReader(dir, rel));
        names = dir.names();
      } catch (err) {
        // A rules file that cannot be used leaves the directory unread (never read without its rules).
        fail(err instanceof SelectError ? (err as SelectError & { file?: string }).file ?? rel : rel, err);
        return frame;
      }
      // Sorted so plans and listings are stable.
      names.sort();
      for (const name of names) {
        const childRel = rel === "" ? name : `${rel}/${name}`;
        if (name.startsWith(TEMP_PREFIX)) {
          if (side === "destination") tree.staleTemps.push(childRel);
          continue;
        }
        let childWhole = whole;
        if (only && !whole) {
          if (only.isListed(childRel)) {
            found.add(childRel);
            childWhole = true;
          } else if (!only.isOnTheWay(childRel)) continue;
        }
        let s: EntryStat;
        try {
          s = dir.stat(name);
        } catch (err) {
          if ((err as FsError).code === "ENOENT") continue; // vanished since it was listed
          fail(childRel, err);
          continue;
        }
        const isDir = s.type === "dir";
        if (frame.scope.excluded(childRel, name, isDir)) continue;
        if (only && !childWhole && !isDir) continue; // a file where a listed path's directory was expected
        let target: string | undefined;
        if (s.type === "symlink") {
          // Read before the entry is listed: a symlink replaced since its stat (EINVAL) is left
          // out with an error, never listed without a target (a manifest refuses that).
          try {
            target = dir.readlink(name);
          } catch (err) {
            if ((err as FsError).code !== "ENOENT") fail(childRel, err);
            continue;
          }
        }
        const i = paths.length;
        paths.push(childRel);
        cols.add(s.type === "file" ? T_FILE : isDir ? T_DIR : s.type === "symlink" ? T_LINK : T_OTHER, s);
        if (s.special) (tree.specials ??= {})[i] = s.special;
        if (target !== undefined) tree.links[i] = target;
        if (isDir) {
          frame.subdirs.push(name);
          if (only && childWhole) wholeDirs.add(childRel);
        }
      }
      return frame;
    };
    /** --files-from: listed directories (and those below them) not entered yet. */
    const wholeDirs = new Set<string>();

    // Depth first; only the handles of the current directory's ancestors are open.
    stack.push(list(top, "", topScope, !only));
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.next >= frame.subdirs.length) {
        frame.dir.close();
        stack.pop();
        continue;
      }
      const name = frame.subdirs[frame.next++]!;
      const rel = frame.rel === "" ? name : `${frame.rel}/${name}`;
      let child: DirHandle;
      try {
        // Refuses a symlink or non-directory swapped in since the stat (ENOTDIR, or ELOOP).
        child = frame.dir.openDir(name);
      } catch (err) {
        fail(rel, err);
        continue;
      }
      stack.push(list(child, rel, frame.scope, wholeDirs.delete(rel) || frame.whole));
    }
    if (only && side === "source") {
      for (const p of only.all) {
        if (!found.has(p)) tree.errors.push({ path: p, side, code: "ENOENT", message: "listed in --files-from but not found in the source (a symlink on the way is not followed)" });
      }
    }
  } catch (err) {
    fail("", err);
  } finally {
    for (const f of stack) f.dir.close();
    top.close();
    cols.fill(tree);
  }
  return tree;
}
