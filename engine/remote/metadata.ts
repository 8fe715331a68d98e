// Owners, groups and extended attributes of a remote transfer: what the sending side reads into
// its manifest, how the receiving side turns the sender's ids into its own (name mapping, as
// rsync does without --numeric-ids), and what each received entry is given.
import {
  gidOf, linuxFd, readXattrsAt, uidOf, xattrSelected, type FsError, type RootedDir, type Xattr,
  type XattrSelection,
} from "../../ffi/index.ts";
import type { OwnerNames } from "../../proto/index.ts";
import type { RunError } from "../report.ts";
import type { Tree } from "../walk.ts";

/** What a receiver gives the entries it writes beyond content, mode and mtime. */
export interface ReceiveKeep {
  /** The manifest's uid (when it has the column). */
  owner: boolean;
  /** The manifest's gid (when it has the column). */
  group: boolean;
  /**
   * The attributes of these kinds are made exactly the manifest's (others it lists are
   * ignored); absent: attributes are left as the entry is created.
   */
  xattrs?: XattrSelection;
}

/** Owner, group and attributes one received entry gets; absent fields are left alone. */
export interface EntryMeta {
  uid?: number;
  gid?: number;
  /** Set with `sel`: the entry's attributes of the kinds `sel` keeps become exactly these. */
  xattrs?: Xattr[];
  sel?: XattrSelection;
}

/** The metadata entry i of `src` gets (i === -1: the root). */
export function entryMeta(src: Tree, i: number, keep: ReceiveKeep | undefined): EntryMeta | undefined {
  if (!keep) return undefined;
  const meta: EntryMeta = {};
  const uid = i < 0 ? src.rootUid : src.uid?.[i];
  const gid = i < 0 ? src.rootGid : src.gid?.[i];
  if (keep.owner && src.uid && uid !== undefined) meta.uid = uid;
  if (keep.group && src.gid && gid !== undefined) meta.gid = gid;
  if (keep.xattrs) {
    const sel = keep.xattrs;
    const attrs = (i < 0 ? src.rootXattrs : src.xattrs?.[i]) ?? [];
    // A peer's list may hold kinds this side does not keep (trusted.*, say): they are dropped.
    meta.xattrs = attrs.filter((a) => xattrSelected(a.name, sel));
    meta.sel = sel;
  }
  return meta.uid === undefined && meta.gid === undefined && !meta.sel ? undefined : meta;
}

/**
 * Rewrites the sender's ids in `tree` (uid, gid and the root's) as this host's: an id whose
 * name the sender gave becomes the local id of that name, any other id stays the number (rsync's
 * rule). With `numericIds` nothing is mapped.
 */
export function mapOwners(tree: Tree, names: OwnerNames, numericIds: boolean): void {
  if (numericIds) return;
  const mapper = (table: Map<number, string>, local: (name: string) => number | undefined) => {
    const cache = new Map<number, number>();
    return (id: number): number => {
      let out = cache.get(id);
      if (out === undefined) {
        const name = table.get(id);
        out = (name === undefined ? undefined : local(name)) ?? id;
        cache.set(id, out);
      }
      return out;
    };
  };
  if (tree.uid && names.users.size > 0) {
    const map = mapper(names.users, uidOf);
    tree.uid = Uint32Array.from(tree.uid, map);
    if (tree.rootUid !== undefined) tree.rootUid = map(tree.rootUid);
  }
  if (tree.gid && names.groups.size > 0) {
    const map = mapper(names.groups, gidOf);
    tree.gid = Uint32Array.from(tree.gid, map);
    if (tree.rootGid !== undefined) tree.rootGid = map(tree.rootGid);
  }
}

/**
 * The attributes `sel` keeps of every entry of `tree` and of its root, read beneath `root`: each
 * entry through its own directory's handle (opened beneath the root, no symlink followed) and
 * O_PATH | O_NOFOLLOW, so a name swapped for a symlink is never followed. An entry that vanished
 * has none; one that cannot be read is reported through onError and sent without attributes.
 */
export function readTreeXattrs(
  rootDir: RootedDir, tree: Tree, sel: XattrSelection, onError: (e: RunError) => void,
): { xattrs: Record<number, Xattr[]>; root: Xattr[] } {
  const xattrs: Record<number, Xattr[]> = {};
  let dir = "";
  let d: RootedDir | undefined = rootDir;
  const fail = (rel: string, err: unknown) => {
    const code = (err as FsError).code ?? "EIO";
    if (code !== "ENOENT") onError({ path: rel || ".", side: "source", code, message: `${rel || "."}: extended attributes not read: ${(err as Error).message}` });
  };
  let root: Xattr[] = [];
  try {
    root = readXattrsAt(linuxFd(rootDir, "."), ".", sel);
  } catch (err) {
    fail("", err);
  }
  try {
    for (let i = 0; i < tree.paths.length; i++) {
      const rel = tree.paths[i]!;
      const k = rel.lastIndexOf("/");
      const parent = k < 0 ? "" : rel.slice(0, k);
      try {
        // Walk order keeps the entries of one directory together: one open per directory.
        if (parent !== dir) {
          if (d !== rootDir) d?.close();
          dir = parent;
          d = undefined; // a directory that cannot be opened: its entries go without attributes
          d = parent === "" ? rootDir : rootDir.openDir(parent);
        }
        if (d === undefined) continue;
        const attrs = readXattrsAt(linuxFd(d, rel), rel.slice(k + 1), sel);
        if (attrs.length > 0) xattrs[i] = attrs;
      } catch (err) {
        fail(rel, err);
      }
    }
  } finally {
    if (d !== rootDir) d?.close();
  }
  return { xattrs, root };
}
