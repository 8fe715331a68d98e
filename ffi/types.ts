// The contract every platform backend satisfies. Callers see capabilities and outcomes,
// never OS names: ffi/index.ts picks one backend once, by process.platform.
import type { FastPath } from "../engine/index.ts";
import { displayName } from "./name-bytes.ts";
import type { Keep } from "./entry-metadata.ts";
import type { Xattr } from "./xattrs.ts";

export type { FastPath, Keep };

/** Metadata the destination must carry when a copy completes. */
export interface FileMeta {
  size: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  mtimeSec: number;
  /** 0..999_999_999; backends keep what the OS can store. */
  mtimeNsec: number;
  /**
   * 512-byte blocks the source had allocated when the caller stat'ed it. When given, the backend
   * decides from it whether to look for holes; when absent, it stats the open source itself
   * (only files large enough for a hole to matter).
   */
  blocks?: number;
  /** Owner to give the copy (a value from elsewhere, e.g. a manifest); absent: see CopyOptions.keep. */
  uid?: number;
  /** Group to give the copy; absent: see CopyOptions.keep. */
  gid?: number;
  /** Extended attributes (ACLs included) to give the copy; absent: see CopyOptions.keep. */
  xattrs?: Xattr[];
}

export interface CopyOptions {
  /** Fast paths this copy may try, best first is decided by the backend. Default: all. */
  allow?: ReadonlySet<FastPath>;
  /** Called after each chunk with the bytes just written; may block (sleep) to enforce a rate. */
  onChunk?: (bytes: number) => void;
  /** Checked between chunks; when it returns true the copy stops, cleans up and throws ECANCELED. */
  cancelled?: () => boolean;
  /** Chunk size for chunked paths; default 8 MiB. */
  chunkBytes?: number;
  /**
   * Metadata to take from the source file (its open fd, so it is the file whose content was
   * copied) where `FileMeta` does not give it. Applied to the temporary before it gets its final
   * name: owner and group, then attributes, then mode, then mtime. Backends that cannot keep a
   * kind (see Backend.keeps) leave it out. @default nothing
   */
  keep?: Partial<Keep>;
  /**
   * Runs on the complete temporary (its fd), after its metadata is set and before it is linked
   * in under its final name; a throw fails the copy and removes the temporary.
   */
  beforeLink?: (fd: number) => void;
}

export interface CopyOutcome {
  path: FastPath;
  /** The file's bytes, holes included (its size as copied). */
  bytes: number;
  /** Bytes of `bytes` that were holes in the source and are holes in the copy (not written). */
  holeBytes?: number;
  /** Set when a better path was tried and refused, e.g. { reflink: "EOPNOTSUPP" }. */
  refused?: Partial<Record<FastPath, string>>;
}

/** What a filesystem (a pair of mounts) can do, learned by probing, cached per device pair. */
export interface Capabilities {
  reflink: boolean | "unknown";
  copyFileRange: boolean | "unknown";
  /** Anonymous temporary files (Linux O_TMPFILE) that are linked in when complete. */
  anonymousTemp: boolean | "unknown";
}

/**
 * An error from a system call, classified by its errno-style code (ENOENT, EACCES, ENOSPC, ...).
 * `path` is the path as blit holds it (name-bytes.ts); the message shows it with displayName.
 */
export class FsError extends Error {
  readonly code: string;
  readonly syscall: string;
  readonly path: string;
  constructor(code: string, syscall: string, path: string, detail?: string) {
    super(`${syscall} ${displayName(path)}: ${detail ?? code}`);
    this.name = "FsError";
    this.code = code;
    this.syscall = syscall;
    this.path = path;
  }
}

export interface Backend {
  readonly name: "linux" | "darwin" | "windows" | "portable";
  /** Which kinds of CopyOptions.keep / FileMeta metadata this backend's copyFile applies. */
  readonly keeps: Readonly<Keep>;
  /**
   * Copy the regular file `src` to `dst` so that `dst` appears complete, with meta.mode and
   * meta.mtime, or not at all: content is written to a temporary (anonymous where the OS allows,
   * else `.blit-tmp-*` beside dst) and renamed/linked into place, replacing an existing dst.
   * On any failure the temporary is removed and an FsError is thrown. Synchronous: it runs in a
   * worker thread. The parent directory of dst must exist.
   */
  copyFile(src: string, dst: string, meta: FileMeta, opts?: CopyOptions): CopyOutcome;
  /** Set mtime (ns precision where kept) without following a final symlink. */
  setTimes(path: string, mtimeSec: number, mtimeNsec: number): void;
  /** Probe what copying from srcDir to dstDir can use; both directories must exist. */
  probe(srcDir: string, dstDir: string): Capabilities;
}

/** Prefix of every temporary name blit writes beside a destination file. */
export const TEMP_PREFIX = ".blit-tmp-";
