// Sandboxed file access: a directory tree reached from its root, where no path below the root
// follows a symlink and nothing resolves outside it. This is the one interface blit's remote side
// (blitd modules, a pull's destination, a push's source) and the local engine's destination tree
// use for every entry beneath a root, so a port to another OS implements this and nothing else.
//
// Contract (test/ffi/rooted.contract.test.ts runs the same cases against every implementation):
// - Paths are relative, "/"-separated names in the project's byte-escaped form (name-bytes.ts);
//   "" is the root itself. An absolute path or a `..` component is refused with FsError code
//   EXDEV ("path leads outside its root"); an empty or "." component with EINVAL. Nothing is
//   touched before the refusal.
// - No symlink is followed anywhere below the root, not even one that stays beneath it: a
//   symlink in the middle of a path fails with ELOOP (or ENOTDIR), and an operation on a final
//   symlink acts on the link itself (lstat, readlink, rename, unlink, link, utimes, chown) or
//   fails (open: ELOOP; chmod: EOPNOTSUPP, as Linux keeps no symlink modes).
// - Errors are FsError with the errno name as code and the relative path as path.
//
// Implementations: rooted-linux.ts (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS
// and *at calls on directory fds: the check and the use are one system call, race-free) and
// rooted-portable.ts (node:fs on paths with an lstat of every component: NOT race-free, see there).
import { FsError } from "./types.ts";
import { LinuxRooted, moveBetweenFds, openLinuxRooted } from "./rooted-linux.ts";
import { moveBetweenPaths, openPortableRooted } from "./rooted-portable.ts";
import { isPlainName } from "./rooted-path.ts";
import type { EntryStat } from "./dir-reader.ts";
import type { SpecialKind } from "./specials.ts";

/** What reaches a root from another thread: RootedDir.handoff() (an fd on Linux, a path elsewhere). */
export type RootHandoff = number | string;

/** A file opened beneath a root; for reading (openFile) or writing a new file (createFile). */
export interface RootedFile {
  /**
   * The OS file descriptor, for the fast paths that need one (sendfile, holes, attributes on
   * Linux; node:fs calls elsewhere). Owned by this object: close() closes it.
   */
  readonly fd: number;
  /** Reads up to len bytes into buf at off; 0 at end of file. */
  read(buf: Uint8Array, off: number, len: number): number;
  /** Writes all of buf[off, off+len). */
  write(buf: Uint8Array, off?: number, len?: number): void;
  /** Reads up to len bytes at file offset pos (the file's own offset unchanged); 0 at end of file. */
  readAt(buf: Uint8Array, off: number, len: number, pos: number): number;
  /** Writes all of buf[off, off+len) at file offset pos (the file's own offset unchanged). */
  writeAt(buf: Uint8Array, off: number, len: number, pos: number): void;
  /**
   * Makes this file (created by createFile, still empty) share all of `src`'s blocks: a reflink
   * clone where the filesystem has them (XFS, Btrfs). False, with nothing changed, elsewhere.
   */
  cloneFrom(src: RootedFile): boolean;
  /** Sets the permission bits; unless `always`, only when the create mode and umask did not already give them. */
  setMode(mode: number, always?: boolean): void;
  /** Sets the mtime (atime untouched where the OS allows). */
  setTimes(mtimeSec: number, mtimeNsec: number): void;
  /** Safe to call twice. */
  close(): void;
}

/** A directory tree reached from its root (see the contract above). */
export interface RootedDir {
  readonly impl: "linux" | "portable";
  /**
   * The root directory's OS fd where the implementation has one (Linux), for the metadata and
   * data-plane helpers that work on fds; undefined for the portable implementation.
   */
  readonly fd: number | undefined;
  /** What another thread passes to adoptRooted/openRooted to reach the same root (an fd number, or a path). */
  handoff(): RootHandoff;
  /** The subdirectory `rel` as a handle of its own (a symlink or non-directory there fails). */
  openDir(rel: string): RootedDir;
  /**
   * The directory `rel` as a new root, where symlinks on the way to it ARE followed as long as
   * they stay beneath this root (a module path that names a pull's root through a symlink inside
   * the module, as a local SRC given as a symlink is followed); one leading out fails with EXDEV.
   * Nothing below the new root is followed.
   */
  openRootBelow(rel: string): RootedDir;
  /**
   * The regular file `rel`, opened for reading without blocking: a FIFO, socket or device put
   * where a file was listed is refused with code NOT_REGULAR and never read.
   */
  openFile(rel: string): RootedFile;
  /** Creates the file `rel` exclusively (EEXIST if anything, a symlink included, is there) for writing (and reading back). */
  createFile(rel: string, mode: number): RootedFile;
  /** The names in directory `rel` except "." and "..", decoded byte-exactly. */
  names(rel?: string): string[];
  /** lstat of `rel` (a symlink describes itself). */
  lstat(rel: string): EntryStat;
  /** The target of the symlink `rel`, decoded like a name. */
  readlink(rel: string): string;
  mkdir(rel: string, mode: number): void;
  /** Creates the symlink `rel` pointing at `target` (the target is stored, never resolved). */
  symlink(target: string, rel: string): void;
  /** Creates a FIFO, socket or device node (EOPNOTSUPP where the implementation cannot). */
  mknod(rel: string, kind: SpecialKind, mode: number, rdev?: bigint): void;
  /** Makes `rel` another name of `existing` (a hard link; a final symlink is linked, not followed). */
  link(existing: string, rel: string): void;
  /** Renames `from` to `to`, replacing a non-directory (or empty directory) at `to`. */
  rename(from: string, to: string): void;
  /** Swaps `a` and `b` atomically, whatever their types. False when the OS or filesystem cannot. */
  exchange(a: string, b: string): boolean;
  /** Removes a file, symlink or special (isDir: an empty directory). */
  unlink(rel: string, isDir?: boolean): void;
  /** unlink ignoring every error (cleanup of temporaries). */
  unlinkQuiet(rel: string): void;
  /** Sets the permission bits of `rel` itself (a symlink: EOPNOTSUPP). */
  chmod(rel: string, mode: number): void;
  /** Sets the mtime of `rel` itself (a symlink's own time). */
  utimes(rel: string, mtimeSec: number, mtimeNsec: number): void;
  /** Sets owner and group of `rel` itself (undefined leaves one unchanged). */
  chown(rel: string, uid: number | undefined, gid: number | undefined): void;
  /** Releases the handle (never an fd it adopted without owning); safe to call twice. */
  close(): void;
}

/**
 * True when openRooted uses the Linux implementation: on Linux always. BLIT_BACKEND=portable
 * selects the node:fs copy backend and directory reader, not this: it would give up the race
 * guarantee (and mknod) for nothing the Linux calls cannot do. The portable implementation is
 * tested directly (rootedImplementations.portable) by the contract suite.
 */
export function rootedIsLinux(): boolean {
  return process.platform === "linux";
}

/**
 * Opens the trusted directory `path` (a module's configured path, a destination the user named;
 * a symlink at `path` itself is followed, none below it) as a root, with this thread's
 * implementation.
 */
export function openRooted(path: string): RootedDir {
  return rootedIsLinux() ? openLinuxRooted(path) : openPortableRooted(path);
}

/**
 * A root from another thread's handoff(): an fd (Linux; stays the caller's unless `owns`) or a
 * path (portable).
 */
export function adoptRooted(handoff: RootHandoff, owns = false): RootedDir {
  return typeof handoff === "number" ? new LinuxRooted(handoff, owns) : openPortableRooted(handoff);
}

/** Both implementations, for the contract suite (test/ffi/rooted.contract.test.ts). */
export const rootedImplementations = {
  linux: openLinuxRooted,
  portable: openPortableRooted,
} as const;

/**
 * The directory fd of a Linux RootedDir, for the Linux-only extras that work on fds (extended
 * attributes and ACLs, owners through O_PATH). Elsewhere they are not offered: EOPNOTSUPP.
 */
export function linuxFd(dir: RootedDir, what: string): number {
  if (dir.fd === undefined) throw new FsError("EOPNOTSUPP", "open", what, "extended attributes, ACLs and owners of entries are read and written on Linux only");
  return dir.fd;
}

/**
 * Moves (rename) or gives a second name to (link) the entry `name` of directory handle `from`:
 * it becomes `toName` in directory handle `to`. The two may belong to different roots on one
 * filesystem (a backup directory outside the destination); a rename replaces a non-directory at
 * `toName`. Both names are single components of their handles' directories, so no symlink is
 * followed, the entry itself included; another filesystem fails with EXDEV.
 */
export function moveBetween(how: "rename" | "link", from: RootedDir, name: string, to: RootedDir, toName: string): void {
  if (!isPlainName(name) || !isPlainName(toName)) throw new FsError("EINVAL", how, isPlainName(name) ? toName : name, "a single name is expected");
  if (from.fd !== undefined && to.fd !== undefined) moveBetweenFds(how, from.fd, name, to.fd, toName);
  else moveBetweenPaths(how, String(from.handoff()), name, String(to.handoff()), toName);
}
