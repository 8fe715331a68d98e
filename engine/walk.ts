// Enumerate one tree without following symlinks. A path that cannot be read is recorded and
// the walk goes on. Runs inside a worker thread; the result is plain arrays so that it crosses
// postMessage cheaply.
import { readdirSync, readlinkSync } from "node:fs";
import { backend, FsError, TEMP_PREFIX } from "../ffi/index.ts";
import type { RunError } from "./report.ts";
import { Excluder } from "./exclude.ts";

export const T_FILE = 1;
export const T_DIR = 2;
export const T_LINK = 3;
export const T_OTHER = 4;

/** Entries in walk order (a directory before its contents); index i describes paths[i]. */
export interface Tree {
  /** Relative to the root, "/"-separated, never "" (the root itself is described by root*). */
  paths: string[];
  types: ArrayLike<number>;
  sizes: ArrayLike<number>;
  modes: ArrayLike<number>;
  mtimeSec: ArrayLike<number>;
  mtimeNsec: ArrayLike<number>;
  /** Symlink targets by index. */
  links: Record<number, string>;
  rootMode: number;
  rootMtimeSec: number;
  rootMtimeNsec: number;
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

/** A Tree as it crosses postMessage: one string for all paths, typed arrays moved, not copied. */
export interface PackedTree extends Omit<Tree, "paths" | "types" | "sizes" | "modes" | "mtimeSec" | "mtimeNsec"> {
  joined: string;
  types: Uint8Array;
  sizes: Float64Array;
  modes: Uint16Array;
  mtimeSec: Float64Array;
  mtimeNsec: Uint32Array;
}

/** NUL cannot occur in a file name, so it separates the paths. */
export function packTree(t: Tree): { packed: PackedTree; transfer: ArrayBuffer[] } {
  const { paths, types, sizes, modes, mtimeSec, mtimeNsec, ...rest } = t;
  const packed: PackedTree = {
    ...rest,
    joined: paths.join("\0"),
    types: Uint8Array.from(types),
    sizes: Float64Array.from(sizes),
    modes: Uint16Array.from(modes),
    mtimeSec: Float64Array.from(mtimeSec),
    mtimeNsec: Uint32Array.from(mtimeNsec),
  };
  const transfer = [packed.types, packed.sizes, packed.modes, packed.mtimeSec, packed.mtimeNsec].map((a) => a.buffer as ArrayBuffer);
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

export function walkTree(root: string, excludes: string[], side: "source" | "destination"): Tree {
  const fs = backend();
  const ex = new Excluder(excludes);
  const paths: string[] = [];
  const types: number[] = [];
  const sizes: number[] = [];
  const modes: number[] = [];
  const mtimeSec: number[] = [];
  const mtimeNsec: number[] = [];
  const tree: Tree = { ...emptyTree(), paths, types, sizes, modes, mtimeSec, mtimeNsec, walkOrdered: true };
  const fail = (rel: string, err: unknown) => {
    const code = (err as { code?: string }).code ?? "EIO";
    tree.errors.push({ path: rel || ".", side, code, message: err instanceof Error ? err.message : String(err) });
  };
  try {
    const st = fs.lstat(root);
    if (st.type !== "dir") return tree;
    tree.rootExists = true;
    tree.rootMode = st.mode;
    tree.rootMtimeSec = st.mtimeSec;
    tree.rootMtimeNsec = st.mtimeNsec;
  } catch (err) {
    if ((err as FsError).code !== "ENOENT") fail("", err);
    return tree;
  }
  // Depth-first with an explicit stack; names sorted so plans and listings are stable.
  const stack: string[] = [""];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const abs = rel === "" ? root : `${root}/${rel}`;
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (err) {
      fail(rel, err);
      continue;
    }
    names.sort();
    const subdirs: string[] = [];
    for (const name of names) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      if (name.startsWith(TEMP_PREFIX)) {
        if (side === "destination") tree.staleTemps.push(childRel);
        continue;
      }
      let st;
      try {
        st = fs.lstatAt(abs, name);
      } catch (err) {
        if ((err as FsError).code === "ENOENT") continue; // vanished since readdir
        fail(childRel, err);
        continue;
      }
      const isDir = st.type === "dir";
      if (ex.excluded(childRel, name, isDir)) continue;
      const i = paths.length;
      paths.push(childRel);
      types.push(st.type === "file" ? T_FILE : isDir ? T_DIR : st.type === "symlink" ? T_LINK : T_OTHER);
      sizes.push(st.type === "file" ? st.size : 0);
      modes.push(st.mode);
      mtimeSec.push(st.mtimeSec);
      mtimeNsec.push(st.mtimeNsec);
      if (st.type === "symlink") {
        try {
          tree.links[i] = readlinkSync(`${abs}/${name}`);
        } catch (err) {
          fail(childRel, err);
        }
      }
      if (isDir) subdirs.push(childRel);
    }
    // Push in reverse so the smallest name is walked first.
    for (let k = subdirs.length - 1; k >= 0; k--) stack.push(subdirs[k]!);
  }
  return tree;
}
