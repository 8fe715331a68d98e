// Everything the engine creates, renames and deletes beneath a destination root outside the
// file copy itself: directories, symlinks, the swap of a replaced entry, mirror deletes and
// directory metadata. Used by the local run's main thread and by the remote receiver.
//
// Callers may rely on: every path is relative to the root, "/"-separated; no symlink below the
// root is ever followed. All of it goes through one RootedDir (ffi/rooted.ts) and the handles it
// opens for subdirectories, so the guarantee is the implementation's: on Linux race-free (another
// user who swaps a directory for a symlink at any moment makes the operation fail with ELOOP,
// never act elsewhere); the portable implementation documents the race it cannot close.
import {
  applyMetadataAt, applyMetadataToNewAt, fchown, openRooted, writeXattrs, type EntryMetadata, type FsError, type Keep, type RootedDir,
  type SpecialKind,
} from "../ffi/index.ts";
import { stageName, writePath, type Plan } from "./plan.ts";
import { T_DIR, type Tree } from "./walk.ts";
import type { Backups } from "./backup.ts";
import type { EntryMeta } from "./remote/index.ts";

export interface DestTree {
  /** Creates the directory `rel` (its parent must exist). EEXIST is thrown like any error. */
  mkdir(rel: string, mode: number): void;
  /**
   * Makes `rel` a symlink to `target` with the given mtime (and `meta`'s owner and attributes,
   * the link itself getting them), replacing a symlink or file there atomically.
   */
  symlink(target: string, rel: string, mtimeSec: number, mtimeNsec: number, meta?: EntryMeta): void;
  /**
   * Makes `rel` a FIFO, socket or device node like the source's (mode, mtime, and `meta`'s owner
   * and attributes), replacing a non-directory there atomically.
   */
  mknod(rel: string, kind: SpecialKind, mode: number, rdev: bigint, mtimeSec: number, mtimeNsec: number, meta?: EntryMeta): void;
  /** Makes `rel` another name of the file `existing` (a hard link), replacing what is at `rel` atomically. */
  link(existing: string, rel: string): void;
  /**
   * Gives the entry `rel` (any type; a symlink itself) owner, group and attributes from `meta`,
   * then, unless undefined, the permission bits `mode` (after the owner: chown clears setuid).
   */
  setMeta(rel: string, meta: EntryMetadata, keep: Keep, mode?: number): void;
  /** Removes one entry (a directory only when empty: ENOTEMPTY is thrown). */
  remove(rel: string, isDir: boolean): void;
  /** Removes `rel` and, for a directory, everything below it. Returns the entries removed. */
  removeTree(rel: string, isDir: boolean): number;
  /**
   * Puts the complete entry `staged` (a sibling of `rel`) in place of `rel`, whatever the types,
   * and removes what was at `rel` (or hands it, under a temporary name beside, to `aside`, which
   * returns what it counts). Atomic where the filesystem can exchange two names. Returns the
   * entries removed.
   */
  swapIn(staged: string, rel: string, oldIsDir: boolean, aside?: (oldAt: string) => number): number;
  /**
   * Sets a directory's owner and attributes (`meta`, when given), then its permission bits and
   * mtime ("" is the root).
   */
  setDirMeta(rel: string, mode: number, mtimeSec: number, mtimeNsec: number, meta?: EntryMeta): void;
  /** Drops cached handles at or below `rel` (after it was removed or replaced). */
  forget(rel: string): void;
  close(): void;
}

/**
 * A mirror's deletes, once its guard passed (local runs and both receivers): each staged
 * replacement is swapped in for the entry of another type, then the extraneous entries are
 * removed one by one in reverse walk order, so every entry goes before the directory holding
 * it; a directory still holding excluded entries (never deleted) stays. Returns the entries
 * removed; each failure goes to `onError` and the rest goes on.
 */
export function replaceAndDelete(
  dest: DestTree, plan: Plan, dst: Tree, onError: (rel: string, err: unknown) => void, keep?: KeepHooks,
): number {
  let removed = 0;
  for (const j of plan.replace) {
    const rel = dst.paths[j]!;
    const isDir = dst.types[j] === T_DIR;
    try {
      const aside = keep?.backups && ((at: string) => (keep.backups!.moveAside(rel, at), entriesAt(dst, j)));
      removed += dest.swapIn(writePath(plan, rel), rel, isDir, aside || undefined);
      keep?.onRemoved?.(rel, isDir, !!aside, true);
    } catch (err) {
      onError(rel, err);
      // Kept where it was (its backup failed): the replacement written beside it goes.
      if (keep?.backups) removeStagedAt(dest, rel, plan.staged.get(rel));
    }
  }
  for (let k = plan.extraneous.length - 1; k >= 0; k--) {
    const j = plan.extraneous[k]!;
    const rel = dst.paths[j]!;
    const isDir = dst.types[j] === T_DIR;
    try {
      // A deleted file is renamed into the backups; a directory goes once empty (with backups
      // kept beside their entries, it keeps them and stays).
      if (keep?.backups && !isDir) keep.backups.moveAside(rel);
      else dest.remove(rel, isDir);
      removed++;
      keep?.onRemoved?.(rel, isDir, !!keep.backups && !isDir, false);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT") onError(rel, err);
    }
  }
  return removed;
}

/** What a mirror's deletes keep and report (local runs; remote receivers pass none). */
export interface KeepHooks {
  /** --backup: deleted and replaced entries are moved here instead of removed. */
  backups?: Backups;
  /**
   * Called for each entry removed (`replaced`: by one of another type; `backedUp`: it was moved
   * into the backups).
   */
  onRemoved?: (rel: string, isDir: boolean, backedUp: boolean, replaced: boolean) => void;
}

/** Entry j with everything the tree lists below it (what a replacement removes). */
function entriesAt(dst: Tree, j: number): number {
  if (dst.types[j] !== T_DIR) return 1;
  const prefix = `${dst.paths[j]!}/`;
  let n = 1;
  for (const p of dst.paths) if (p.startsWith(prefix)) n++;
  return n;
}

/** Removes the staged replacements of a run whose guard held them back (or that broke off). */
export function removeStaged(dest: DestTree, plan: Plan): void {
  for (const [rel, staged] of plan.staged) removeStagedAt(dest, rel, staged);
}

/** Removes the replacement of `rel` written under the temporary name `staged` beside it, if it is there. */
function removeStagedAt(dest: DestTree, rel: string, staged: string | undefined): void {
  if (staged === undefined) return;
  const k = rel.lastIndexOf("/");
  const at = k < 0 ? staged : `${rel.slice(0, k)}/${staged}`;
  for (const isDir of [true, false]) {
    try {
      dest.removeTree(at, isDir);
      break;
    } catch {}
  }
}

/** The destination tree at `root` (an existing directory the user named: trusted, opened once). */
export function openDestTree(root: string): DestTree {
  return new RootedDestTree(openRooted(root), true);
}

function split(rel: string): [string, string] {
  const k = rel.lastIndexOf("/");
  return k < 0 ? ["", rel] : [rel.slice(0, k), rel.slice(k + 1)];
}

/**
 * The DestTree over a RootedDir, with the handles of recently used directories cached (each is
 * opened beneath the root once, then its entries are named by one component).
 */
export class RootedDestTree implements DestTree {
  private dirs = new Map<string, RootedDir>();
  constructor(readonly root: RootedDir, private ownsRoot = false) {}

  /** The handle of directory `rel` ("" is the root), opened beneath the root and cached. */
  dir(rel: string): RootedDir {
    if (rel === "") return this.root;
    let d = this.dirs.get(rel);
    if (d === undefined) {
      if (this.dirs.size >= 256) this.closeDirs();
      d = this.root.openDir(rel);
      this.dirs.set(rel, d);
    }
    return d;
  }

  /** Linux: the fd of directory `rel`, for the attribute calls that work on fds (undefined elsewhere). */
  dirFd(rel: string): number | undefined {
    return this.dir(rel).fd;
  }

  mkdir(rel: string, mode: number): void {
    const [dir, name] = split(rel);
    this.dir(dir).mkdir(name, mode);
  }

  symlink(target: string, rel: string, mtimeSec: number, mtimeNsec: number, meta?: EntryMeta): void {
    const [dir, name] = split(rel);
    this.makeAndRename(this.dir(dir), name, "symlink", meta, mtimeSec, mtimeNsec, (d, tmp) => d.symlink(target, tmp));
  }

  mknod(rel: string, kind: SpecialKind, mode: number, rdev: bigint, mtimeSec: number, mtimeNsec: number, meta?: EntryMeta): void {
    const [dir, name] = split(rel);
    this.makeAndRename(this.dir(dir), name, kind, meta, mtimeSec, mtimeNsec, (d, tmp) => d.mknod(tmp, kind, mode, rdev));
  }

  /** Makes a new entry under a temporary name, gives it owner, attributes and mtime, then renames it over `name`. */
  private makeAndRename(
    d: RootedDir, name: string, kind: "symlink" | SpecialKind, meta: EntryMeta | undefined, mtimeSec: number, mtimeNsec: number,
    make: (d: RootedDir, tmp: string) => void,
  ): void {
    const tmp = stageName(name);
    try {
      make(d, tmp);
      applyToNew(d, tmp, kind, meta);
      d.utimes(tmp, mtimeSec, mtimeNsec);
      d.rename(tmp, name);
    } catch (err) {
      d.unlinkQuiet(tmp);
      throw err;
    }
  }

  link(existing: string, rel: string): void {
    const [edir, ename] = split(existing);
    const [dir, name] = split(rel);
    const d = this.dir(dir);
    const tmp = stageName(name);
    try {
      // Both names in one directory (the common case): its cached handle; else from the root.
      if (edir === dir) d.link(ename, tmp);
      else this.root.link(existing, `${dir ? dir + "/" : ""}${tmp}`);
      d.rename(tmp, name);
    } catch (err) {
      d.unlinkQuiet(tmp);
      throw err;
    }
  }

  setMeta(rel: string, meta: EntryMetadata, keep: Keep, mode?: number): void {
    const [dir, name] = rel === "" ? ["", ""] : split(rel);
    const d = this.dir(dir);
    if (meta.uid !== undefined || meta.gid !== undefined || meta.xattrs) {
      if (d.fd !== undefined) applyMetadataAt(d.fd, name || ".", meta, keep);
      else if (meta.uid !== undefined || meta.gid !== undefined) d.chown(name, meta.uid, meta.gid);
    }
    if (mode !== undefined) d.chmod(name, mode);
  }

  remove(rel: string, isDir: boolean): void {
    const [dir, name] = split(rel);
    this.dir(dir).unlink(name, isDir);
    if (isDir) this.forget(rel);
  }

  removeTree(rel: string, isDir: boolean): number {
    if (!isDir) {
      this.remove(rel, false);
      return 1;
    }
    this.forget(rel);
    return removeTreeAt(this.root, rel);
  }

  swapIn(staged: string, rel: string, oldIsDir: boolean, aside?: (oldAt: string) => number): number {
    const [dir, name] = split(rel);
    const stagedName = split(staged)[1];
    const d = this.dir(dir);
    this.forget(rel);
    this.forget(staged);
    if (d.exchange(stagedName, name)) {
      if (!aside) return this.removeTree(staged, oldIsDir);
      try {
        return aside(staged);
      } catch (err) {
        // The old entry could not be kept: it takes its name back (the new one returns to its
        // temporary name, removed by the next run), never left under a temporary name itself.
        this.forget(rel);
        d.exchange(stagedName, name);
        throw err;
      }
    }
    // No exchange here: move the old entry aside under another temporary name first, so that
    // nothing is removed before the new entry holds the name.
    const asideName = stageName(name);
    const asideRel = `${dir ? dir + "/" : ""}${asideName}`;
    d.rename(name, asideName);
    try {
      d.rename(stagedName, name);
    } catch (err) {
      d.rename(asideName, name);
      throw err;
    }
    if (!aside) return this.removeTree(asideRel, oldIsDir);
    try {
      return aside(asideRel);
    } catch (err) {
      this.forget(rel);
      d.rename(name, stagedName);
      d.rename(asideName, name);
      throw err;
    }
  }

  setDirMeta(rel: string, mode: number, mtimeSec: number, mtimeNsec: number, meta?: EntryMeta): void {
    const d = rel === "" ? this.root : this.root.openDir(rel);
    try {
      // Owner first (it clears setgid), then attributes (an ACL changes the group bits), then the mode.
      if (meta && (meta.uid !== undefined || meta.gid !== undefined)) {
        if (d.fd !== undefined) fchown(d.fd, meta.uid, meta.gid, rel || ".");
        else d.chown("", meta.uid, meta.gid);
      }
      if (meta?.sel && d.fd !== undefined) writeXattrs(d.fd, meta.xattrs ?? [], meta.sel, rel || ".");
      d.chmod("", mode);
      d.utimes("", mtimeSec, mtimeNsec);
    } finally {
      if (d !== this.root) d.close();
    }
  }

  forget(rel: string): void {
    if (this.dirs.size === 0) return;
    for (const [k, d] of this.dirs) {
      if (k === rel || k.startsWith(rel + "/")) {
        d.close();
        this.dirs.delete(k);
      }
    }
  }

  closeDirs(): void {
    for (const d of this.dirs.values()) d.close();
    this.dirs.clear();
  }

  close(): void {
    this.closeDirs();
    if (this.ownsRoot) this.root.close();
  }
}

/**
 * Gives the new entry `name` of d (a symlink or special file of `kind`, never followed) the
 * owner and attributes of `meta`, if it still is that entry. It is new: no attributes to remove.
 */
function applyToNew(d: RootedDir, name: string, kind: "symlink" | SpecialKind, meta: EntryMeta | undefined): void {
  if (!meta || (meta.uid === undefined && meta.gid === undefined && !meta.xattrs?.length)) return;
  if (d.fd !== undefined) applyMetadataToNewAt(d.fd, name, kind, meta);
  else if (meta.uid !== undefined || meta.gid !== undefined) d.chown(name, meta.uid, meta.gid);
}

/**
 * Removes the directory `rel` beneath `root` and everything in it, never following a symlink:
 * each directory is opened beneath its parent's handle, listed, and its entries removed by name.
 * Returns the number of entries removed (rel included).
 */
export function removeTreeAt(root: RootedDir, rel: string): number {
  const d = root.openDir(rel);
  let n = 0;
  try {
    for (const name of d.names()) {
      try {
        d.unlink(name);
        n++;
      } catch (err) {
        const code = (err as FsError).code;
        if (code === "EISDIR" || code === "EPERM") n += removeTreeAt(d, name);
        else if (code !== "ENOENT") throw err;
      }
    }
  } finally {
    d.close();
  }
  root.unlink(rel, true);
  return n + 1;
}

/**
 * Removes the entry `rel` beneath `root`, a directory with everything in it, never following a
 * symlink (a peer's or a mirror's delete).
 */
export function removeEntryAt(root: RootedDir, rel: string): void {
  try {
    root.unlink(rel);
  } catch (err) {
    if ((err as FsError).code === "EISDIR") removeTreeAt(root, rel);
    else throw err;
  }
}
