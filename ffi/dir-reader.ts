// Reading a directory tree through open directories: each directory is opened relative to its
// parent's handle and no symlink is ever followed below the root, so swapping a directory for a
// symlink during a walk makes that open fail (ELOOP/ENOTDIR) instead of leading elsewhere.
// Names come back decoded with name-bytes.ts, so every name (valid UTF-8 or not) survives.
// Two implementations, chosen once per thread: Linux (openat/getdents64/statx through bun:ffi)
// and portable (node:fs with Buffer paths; checks then opens, so it is not race-free).
import { createLinuxDirReader } from "./dir-reader-linux.ts";
import type { SpecialKind } from "./specials.ts";
import { createPortableDirReader } from "./dir-reader-portable.ts";

/** What a walk records of one entry (lstat: a symlink describes itself). */
export interface EntryStat {
  type: "file" | "dir" | "symlink" | "other";
  size: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  mtimeSec: number;
  mtimeNsec: number;
  /** st_dev as stat(2) gives it (makedev(major, minor)). */
  dev: number;
  /** Exact even past 2^53 (overlayfs and some network filesystems use the high bits). */
  ino: bigint;
  nlink: number;
  uid: number;
  gid: number;
  /** 512-byte blocks allocated (less than size/512 for a sparse file). */
  blocks: number;
  /** type "other": which special file it is, and for a device its st_rdev. */
  special?: { kind: SpecialKind; rdev: bigint };
}

/**
 * One open directory. Every call names an entry of this directory, follows no symlink, and
 * throws FsError (code ENOENT, EACCES, ELOOP, ...) naming the entry.
 */
export interface DirHandle {
  /** The entry names except "." and "..", in the order the OS lists them. Call once. */
  names(): string[];
  /** lstat of the entry `name`. */
  stat(name: string): EntryStat;
  /** The target of the symlink `name`, decoded like a name. */
  readlink(name: string): string;
  /** Opens the subdirectory `name`; a symlink or non-directory there fails (ENOTDIR; ELOOP on some kernels). */
  openDir(name: string): DirHandle;
  /**
   * The content of the regular file `name`, at most `max` bytes (more fails with EFBIG). A
   * symlink there is not followed (ELOOP); a FIFO, socket or device is refused (NOT_REGULAR)
   * without blocking. For small files the walk itself reads (per-directory rules files).
   */
  readFile(name: string, max: number): Uint8Array;
  /** stat of this directory itself. */
  self(): EntryStat;
  /** Releases the handle; safe to call twice. Never closes an fd given to fromFd. */
  close(): void;
}

export interface DirReader {
  readonly name: "linux" | "portable";
  /** Opens the directory `path`; a final symlink is not followed (it fails with ENOTDIR or ELOOP). */
  open(path: string): DirHandle;
  /** A handle on the directory open as `fd` (a daemon's module root); `fd` stays the caller's. */
  fromFd(fd: number): DirHandle;
}

let chosen: DirReader | undefined;
/** The directory reader of this thread: Linux unless BLIT_BACKEND=portable or another OS. */
export function dirReader(): DirReader {
  if (!chosen) chosen = process.platform === "linux" && process.env.BLIT_BACKEND !== "portable" ? createLinuxDirReader() : createPortableDirReader();
  return chosen;
}

export { createLinuxDirReader, createPortableDirReader };

/** The names in the directory open as `fd` (not "." or ".."), decoded byte-exactly; fd stays open. */
export function namesInFd(fd: number): string[] {
  const dir = dirReader().fromFd(fd);
  try {
    return dir.names();
  } finally {
    dir.close();
  }
}
