// The worker-thread side of engine/offload.ts: a peer's manifest decoded and checked, a push
// planned against a walk of its target, a pull's source walked and encoded as a manifest. These
// are the long synchronous steps of a daemon's Negotiate (seconds for millions of entries): run
// here, they leave the daemon's event loop free for its other clients. Directory fds come from
// the main thread (fds are per process, so a worker can use the number it is given).
import { adoptRooted, dirReader, TEMP_PREFIX, type EntryStat, type RootHandoff, type XattrSelection } from "../ffi/index.ts";
import { decodeManifest, encodeManifest, type ManifestExtras, type ManifestMsg } from "../proto/index.ts";
import { planTrees, type Plan, type PlanOptions } from "./plan.ts";
import { hashBeneath } from "./remote/receive.ts";
import { mapOwners, readTreeXattrs } from "./remote/metadata.ts";
import { T_DIR, walkTree, type Tree } from "./walk.ts";

/** A Tree as it crosses postMessage: its paths joined by NUL (one string, not millions). */
export type WireTree = Omit<Tree, "paths"> & { joined: string };

type TypedColumn = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array | BigUint64Array;

export function toWire(t: Tree): WireTree {
  const { paths, ...rest } = t;
  return { ...rest, joined: paths.join("\0") };
}

export function fromWire(w: WireTree): Tree {
  const { joined, ...rest } = w;
  return { ...rest, paths: joined === "" ? [] : joined.split("\0") };
}

/** The buffers of the typed columns of `obj` (one level deep), to move instead of copy. */
export function buffersOf(...objs: object[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const o of objs) {
    for (const v of Object.values(o)) {
      if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) out.add(v.buffer);
    }
  }
  return [...out];
}

export interface DecodeOptions {
  /** Map the sender's owner names to this host's ids (mapOwners); absent: keep the numbers. */
  mapOwners?: { numericIds: boolean };
  /** Clear setuid and setgid bits of everything but directories (owners not kept). */
  clearSetIds?: boolean;
}

export interface Decoded {
  tree: WireTree;
  singleFile: boolean;
  /** Entries whose setuid/setgid bits were cleared (clearSetIds). */
  setIdsCleared: number;
}

export function decodeWork(msg: ManifestMsg, o: DecodeOptions): Decoded {
  const { tree, singleFile, names } = decodeManifest(msg);
  if (o.mapOwners) mapOwners(tree, names, o.mapOwners.numericIds);
  const setIdsCleared = o.clearSetIds ? clearSetIds(tree) : 0;
  return { tree: toWire(tree), singleFile, setIdsCleared };
}

function clearSetIds(t: Tree): number {
  let n = 0;
  const modes = t.modes as Uint16Array;
  for (let i = 0; i < modes.length; i++) {
    if (t.types[i] === T_DIR || !(modes[i]! & 0o6000)) continue;
    modes[i] = modes[i]! & ~0o6000;
    n++;
  }
  return n;
}

export interface PlanWork {
  src: WireTree;
  /** The receiving directory (walked) or, for one file or a target that does not exist, its tree. */
  dst: { fd: RootHandoff; rules: string[] } | { tree: WireTree };
  opts: PlanOptions;
  /** --checksum: hash the destination files the plan compares by content (beneath dstHashFd). */
  hashFd?: RootHandoff;
}

export interface Planned {
  dst: WireTree;
  plan: Plan;
  /** With hashFd: BLAKE2b-256 of plan.checkDst's files, position by position (null: unreadable). */
  hashes: (Uint8Array | null)[];
}

export function planWork(w: PlanWork): Planned {
  const src = fromWire(w.src);
  const dst = "fd" in w.dst ? walkTree(w.dst.fd, w.dst.rules, "destination") : fromWire(w.dst.tree);
  const plan = planTrees(src, dst, w.opts);
  const hashRoot = w.hashFd === undefined ? undefined : adoptRooted(w.hashFd);
  const hashes = hashRoot === undefined ? [] : plan.checkDst.map((j) => hashBeneath(hashRoot, dst.paths[j]!));
  return { dst: toWire(dst), plan, hashes };
}

export interface SourceWork {
  fd: RootHandoff;
  /** Canonical selection rules (engine/select). */
  rules: string[];
  /** -H: keep dev, ino and nlink (the manifest's link groups). */
  inodes: boolean;
  xattrSel?: XattrSelection;
  extras: Omit<ManifestExtras, "xattrs" | "rootXattrs">;
}

export interface Sourced {
  tree: WireTree;
  manifest: ManifestMsg;
}

export function sourceWork(w: SourceWork): Sourced {
  const tree = walkTree(w.fd, w.rules, "source", { inodes: w.inodes });
  let xattrs: Pick<ManifestExtras, "xattrs" | "rootXattrs"> = {};
  if (w.xattrSel) {
    const read = readTreeXattrs(adoptRooted(w.fd), tree, w.xattrSel, (e) => tree.errors.push(e));
    xattrs = { xattrs: read.xattrs, rootXattrs: read.root };
  }
  const manifest = encodeManifest(tree, false, { ...w.extras, ...xattrs });
  return { tree: toWire(tree), manifest };
}

export interface Listed {
  /** The first `max` names in sorted order (blit's temporaries left out), each with its lstat; null when it vanished. */
  entries: { name: string; stat: EntryStat | null }[];
  truncated: boolean;
}

/** The directory open as `fd`: its names sorted, the first `max` described by lstat (nothing opened). */
export function listWork(fd: RootHandoff, max: number): Listed {
  const dir = typeof fd === "number" ? dirReader().fromFd(fd) : dirReader().open(fd);
  try {
    const names = dir.names().filter((n) => !n.startsWith(TEMP_PREFIX)).sort();
    const entries = names.slice(0, max).map((name) => {
      try {
        return { name, stat: dir.stat(name) };
      } catch {
        return { name, stat: null };
      }
    });
    return { entries, truncated: names.length > max };
  } finally {
    dir.close();
  }
}

/** BLAKE2b-256 of each regular file `paths[i]` beneath the directory open as `fd` (null: unreadable). */
export function hashWork(fd: RootHandoff, paths: string[]): (Uint8Array | null)[] {
  const root = adoptRooted(fd);
  return paths.map((p) => hashBeneath(root, p));
}

/** Columns of a manifest message as compact copies (a received message's fields may be views of one large buffer). */
export function compactManifest(m: ManifestMsg): ManifestMsg {
  const own = (b: Uint8Array | undefined) => (b ? new Uint8Array(b) : b);
  return {
    ...m,
    paths: own(m.paths)!, types: own(m.types)!, sizes: own(m.sizes)!, modes: own(m.modes)!, mtime_sec: own(m.mtime_sec)!,
    mtime_nsec: own(m.mtime_nsec)!, link_group: own(m.link_group), uids: own(m.uids), gids: own(m.gids),
  };
}

export type { TypedColumn };
