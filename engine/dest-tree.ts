// Everything the engine creates, renames and deletes beneath a destination root outside the
// file copy itself: directories, symlinks, the swap of a replaced entry, mirror deletes and
// directory metadata. Used by the local run's main thread and by the remote receiver.
//
// Callers may rely on: every path is relative to the root, "/"-separated; no symlink below the
// root is ever followed (on Linux each directory is opened from the root's fd with openat2
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, and names are then used with the *at calls of that
// directory's fd), so another user who swaps a directory for a symlink at any moment makes the
// operation fail with ELOOP, never act elsewhere.
import { lchownSync, linkSync as nodeLinkSync } from "node:fs";
import {
  applyMetadataAt, applyMetadataToNewAt, chmodAt, backend, fsPath, closeFd, dirReader, exchangeAt, fchown, linkAt, mknodAt, FsError, type SpecialKind, fchmod, futimes, mkdirAt, nameFs, openBeneath, openRootDir, namesInFd, renameAt, symlinkAt,
  unlinkAt, unlinkQuiet, utimesAt, writeXattrs, O_DIRECTORY, O_RDONLY, type EntryMetadata, type Keep,
} from "../ffi/index.ts";
import { stageName, writePath, type Plan } from "./plan.ts";
import { T_DIR, type Tree } from "./walk.ts";
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
   * and removes what was at `rel`. Atomic where the filesystem can exchange two names. Returns
   * the entries removed.
   */
  swapIn(staged: string, rel: string, oldIsDir: boolean): number;
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
export function replaceAndDelete(dest: DestTree, plan: Plan, dst: Tree, onError: (rel: string, err: unknown) => void): number {
  let removed = 0;
  for (const j of plan.replace) {
    const rel = dst.paths[j]!;
    try {
      removed += dest.swapIn(writePath(plan, rel), rel, dst.types[j] === T_DIR);
    } catch (err) {
      onError(rel, err);
    }
  }
  for (let k = plan.extraneous.length - 1; k >= 0; k--) {
    const j = plan.extraneous[k]!;
    const rel = dst.paths[j]!;
    try {
      dest.remove(rel, dst.types[j] === T_DIR);
      removed++;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT") onError(rel, err);
    }
  }
  return removed;
}

/** Removes the staged replacements of a run whose guard held them back (or that broke off). */
export function removeStaged(dest: DestTree, plan: Plan): void {
  for (const [rel, staged] of plan.staged) {
    const k = rel.lastIndexOf("/");
    const at = k < 0 ? staged : `${rel.slice(0, k)}/${staged}`;
    for (const isDir of [true, false]) {
      try {
        dest.removeTree(at, isDir);
        break;
      } catch {}
    }
  }
}

/** The destination tree at `root` (an existing directory the user named: trusted, opened once). */
export function openDestTree(root: string): DestTree {
  return process.platform === "linux" ? new FdDestTree(openRootDir(root), true) : new PathDestTree(root);
}

function split(rel: string): [string, string] {
  const k = rel.lastIndexOf("/");
  return k < 0 ? ["", rel] : [rel.slice(0, k), rel.slice(k + 1)];
}

/** Linux: directory fds beneath a root fd. */
export class FdDestTree implements DestTree {
  private dirFds = new Map<string, number>();
  constructor(readonly rootFd: number, private ownsRoot = false) {}

  /** The fd of directory `rel` ("" is the root), opened beneath the root and cached. */
  dirFd(rel: string): number {
    if (rel === "") return this.rootFd;
    let fd = this.dirFds.get(rel);
    if (fd === undefined) {
      if (this.dirFds.size >= 256) this.closeDirs();
      fd = openBeneath(this.rootFd, rel, O_RDONLY | O_DIRECTORY);
      this.dirFds.set(rel, fd);
    }
    return fd;
  }

  mkdir(rel: string, mode: number): void {
    const [dir, name] = split(rel);
    mkdirAt(this.dirFd(dir), name, mode);
  }

  symlink(target: string, rel: string, mtimeSec: number, mtimeNsec: number, meta?: EntryMeta): void {
    const [dir, name] = split(rel);
    const dfd = this.dirFd(dir);
    const tmp = stageName(name);
    try {
      symlinkAt(target, dfd, tmp);
      applyAt(dfd, tmp, "symlink", meta);
      utimesAt(dfd, tmp, mtimeSec, mtimeNsec);
      renameAt(dfd, tmp, name);
    } catch (err) {
      unlinkQuiet(dfd, tmp);
      throw err;
    }
  }

  mknod(rel: string, kind: SpecialKind, mode: number, rdev: bigint, mtimeSec: number, mtimeNsec: number, meta?: EntryMeta): void {
    const [dir, name] = split(rel);
    const dfd = this.dirFd(dir);
    const tmp = stageName(name);
    try {
      mknodAt(dfd, tmp, kind, mode, rdev);
      applyAt(dfd, tmp, kind, meta);
      utimesAt(dfd, tmp, mtimeSec, mtimeNsec);
      renameAt(dfd, tmp, name);
    } catch (err) {
      unlinkQuiet(dfd, tmp);
      throw err;
    }
  }

  link(existing: string, rel: string): void {
    const [edir, ename] = split(existing);
    const [dir, name] = split(rel);
    const dfd = this.dirFd(dir);
    const tmp = stageName(name);
    try {
      linkAt(this.dirFd(edir), ename, dfd, tmp);
      renameAt(dfd, tmp, name);
    } catch (err) {
      unlinkQuiet(dfd, tmp);
      throw err;
    }
  }

  setMeta(rel: string, meta: EntryMetadata, keep: Keep, mode?: number): void {
    const [dir, name] = rel === "" ? ["", "."] : split(rel);
    const dfd = this.dirFd(dir);
    if (meta.uid !== undefined || meta.gid !== undefined || meta.xattrs) applyMetadataAt(dfd, name, meta, keep);
    if (mode !== undefined) chmodAt(dfd, name, mode);
  }

  remove(rel: string, isDir: boolean): void {
    const [dir, name] = split(rel);
    unlinkAt(this.dirFd(dir), name, isDir);
    if (isDir) this.forget(rel);
  }

  removeTree(rel: string, isDir: boolean): number {
    if (!isDir) {
      this.remove(rel, false);
      return 1;
    }
    this.forget(rel);
    return removeTreeAt(this.rootFd, rel);
  }

  swapIn(staged: string, rel: string, oldIsDir: boolean): number {
    const [dir, name] = split(rel);
    const stagedName = split(staged)[1];
    const dfd = this.dirFd(dir);
    this.forget(rel);
    this.forget(staged);
    if (exchangeAt(dfd, stagedName, name)) return this.removeTree(staged, oldIsDir);
    // No exchange here: move the old entry aside under another temporary name first, so that
    // nothing is removed before the new entry holds the name.
    const aside = `${dir ? dir + "/" : ""}${stageName(name)}`;
    renameAt(dfd, name, split(aside)[1]);
    try {
      renameAt(dfd, stagedName, name);
    } catch (err) {
      renameAt(dfd, split(aside)[1], name);
      throw err;
    }
    return this.removeTree(aside, oldIsDir);
  }

  setDirMeta(rel: string, mode: number, mtimeSec: number, mtimeNsec: number, meta?: EntryMeta): void {
    const fd = rel === "" ? this.rootFd : openBeneath(this.rootFd, rel, O_RDONLY | O_DIRECTORY);
    try {
      // Owner first (it clears setgid), then attributes (an ACL changes the group bits), then the mode.
      if (meta && (meta.uid !== undefined || meta.gid !== undefined)) fchown(fd, meta.uid, meta.gid, rel || ".");
      if (meta?.sel) writeXattrs(fd, meta.xattrs ?? [], meta.sel, rel || ".");
      fchmod(fd, mode, rel || ".");
      futimes(fd, mtimeSec, mtimeNsec, rel || ".");
    } finally {
      if (fd !== this.rootFd) closeFd(fd);
    }
  }

  forget(rel: string): void {
    if (this.dirFds.size === 0) return;
    for (const [k, fd] of this.dirFds) {
      if (k === rel || k.startsWith(rel + "/")) {
        closeFd(fd);
        this.dirFds.delete(k);
      }
    }
  }

  closeDirs(): void {
    for (const fd of this.dirFds.values()) closeFd(fd);
    this.dirFds.clear();
  }

  close(): void {
    this.closeDirs();
    if (this.ownsRoot) closeFd(this.rootFd);
  }
}

/**
 * Gives the new entry `name` of dfd (a symlink or special file of `kind`, never followed) the
 * owner and attributes of `meta`, if it still is that entry. It is new: no attributes to remove.
 */
function applyAt(dfd: number, name: string, kind: "symlink" | SpecialKind, meta: EntryMeta | undefined): void {
  if (!meta || (meta.uid === undefined && meta.gid === undefined && !meta.xattrs?.length)) return;
  applyMetadataToNewAt(dfd, name, kind, meta);
}

/**
 * Removes the directory `rel` beneath rootFd and everything in it, never following a symlink:
 * each directory is opened beneath the root, its entries listed through its own fd, and removed
 * with unlinkat. Returns the number of entries removed (rel included).
 */
export function removeTreeAt(rootFd: number, rel: string): number {
  let n = 0;
  const fd = openBeneath(rootFd, rel, O_RDONLY | O_DIRECTORY);
  try {
    for (const name of namesInFd(fd)) {
      try {
        unlinkAt(fd, name);
        n++;
      } catch (err) {
        const code = (err as FsError).code;
        if (code === "EISDIR" || code === "EPERM") n += removeTreeAt(rootFd, `${rel}/${name}`);
        else if (code !== "ENOENT") throw err;
      }
    }
  } finally {
    closeFd(fd);
  }
  const [dir, name] = split(rel);
  const parent = dir === "" ? rootFd : openBeneath(rootFd, dir, O_RDONLY | O_DIRECTORY);
  try {
    unlinkAt(parent, name, true);
  } finally {
    if (parent !== rootFd) closeFd(parent);
  }
  return n + 1;
}

// Byte-exact node:fs (names may not be UTF-8).
const { chmodSync, lstatSync, mkdirSync, renameSync, rmdirSync, rmSync, symlinkSync, unlinkSync } = nameFs;
const linkSync = (existing: string, p: string) => nodeLinkSync(fsPath(existing), fsPath(p));

function namesOf(path: string): string[] {
  const d = dirReader().open(path);
  try {
    return d.names();
  } finally {
    d.close();
  }
}

/** Other systems: node:fs on paths, with the same contract except the symlink-race guarantee. */
class PathDestTree implements DestTree {
  constructor(private root: string) {}
  private abs(rel: string): string {
    return rel === "" ? this.root : `${this.root}/${rel}`;
  }
  mkdir(rel: string, mode: number): void {
    mkdirSync(this.abs(rel), { mode });
  }
  symlink(target: string, rel: string, mtimeSec: number, mtimeNsec: number): void {
    const [dir, name] = split(rel);
    const tmp = this.abs(`${dir ? dir + "/" : ""}${stageName(name)}`);
    try {
      symlinkSync(target, tmp);
      backend().setTimes(tmp, mtimeSec, mtimeNsec);
      renameSync(tmp, this.abs(rel));
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
  setMeta(rel: string, meta: EntryMetadata, _keep: Keep, mode?: number): void {
    if (meta.uid !== undefined || meta.gid !== undefined) lchownSync(fsPath(this.abs(rel)), meta.uid ?? -1, meta.gid ?? -1);
    if (mode !== undefined && !lstatSync(this.abs(rel)).isSymbolicLink()) chmodSync(this.abs(rel), mode);
  }
  mknod(rel: string, kind: SpecialKind): void {
    throw new FsError("EOPNOTSUPP", "mknod", rel, `creating a ${kind} is supported on Linux only`);
  }
  link(existing: string, rel: string): void {
    const [dir, name] = split(rel);
    const tmp = this.abs(`${dir ? dir + "/" : ""}${stageName(name)}`);
    try {
      linkSync(this.abs(existing), tmp);
      renameSync(tmp, this.abs(rel));
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }
  remove(rel: string, isDir: boolean): void {
    if (isDir) rmdirSync(this.abs(rel));
    else unlinkSync(this.abs(rel));
  }
  removeTree(rel: string, isDir: boolean): number {
    const count = (p: string): number =>
      lstatSync(p).isDirectory() ? 1 + namesOf(p).reduce((n, c) => n + count(`${p}/${c}`), 0) : 1;
    const n = isDir ? count(this.abs(rel)) : 1;
    rmSync(this.abs(rel), { recursive: true, force: true });
    backend().forgetDir(this.abs(rel));
    return n;
  }
  swapIn(staged: string, rel: string, oldIsDir: boolean): number {
    const [dir, name] = split(rel);
    const aside = `${dir ? dir + "/" : ""}${stageName(name)}`;
    renameSync(this.abs(rel), this.abs(aside));
    try {
      renameSync(this.abs(staged), this.abs(rel));
    } catch (err) {
      renameSync(this.abs(aside), this.abs(rel));
      throw err;
    }
    return this.removeTree(aside, oldIsDir);
  }
  setDirMeta(rel: string, mode: number, mtimeSec: number, mtimeNsec: number): void {
    chmodSync(this.abs(rel), mode);
    backend().setTimes(this.abs(rel), mtimeSec, mtimeNsec);
  }
  forget(rel: string): void {
    backend().forgetDir(this.abs(rel));
  }
  close(): void {}
}
