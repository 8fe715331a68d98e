// The platform fast paths. One backend is chosen once, by process.platform; callers see
// capabilities and outcomes, not OS names.
import { lstatSync } from "node:fs";
import { createLinuxBackend, type StatRecord } from "./linux.ts";
import { createPortableBackend, fsTime, tempPathFor } from "./portable.ts";
import { cloneRefusalSticks, createDarwinBackend, darwinErrnoAction, darwinErrnoName, darwinPlan } from "./darwin.ts";
import {
  COPY_FILE_FAIL_IF_EXISTS, COPY_FILE_NO_BUFFERING, createWindowsBackend, FILETIME_MAX, FILETIME_UNIX_EPOCH,
  filetimeToUnix, longPathForm, MAX_PATH_CHARS, MOVE_FLAGS, MOVEFILE_REPLACE_EXISTING, MOVEFILE_WRITE_THROUGH,
  NO_BUFFERING_MIN_BYTES, toWide, unixToFiletime, windowsCopyAction, windowsCopyFlags, winErrorCode,
} from "./windows.ts";
import type { Backend } from "./types.ts";
import { fsPath } from "./name-bytes.ts";

export { FsError, TEMP_PREFIX } from "./types.ts";
export type { Backend, Capabilities, CopyOptions, CopyOutcome, FastPath, FileMeta } from "./types.ts";
export type { StatRecord } from "./linux.ts";
export { describeCode } from "./errno.ts";
// File names are bytes: the codec every path to or from the OS and the wire goes through.
export { nameFromBytes, bytesOfName, byteLengthOfName, displayName, fsPath, hasEscapedBytes } from "./name-bytes.ts";
export { namePath, nameFs } from "./name-path.ts";
// Walking a tree through directory handles (no symlink followed below the root).
export { dirReader, createLinuxDirReader, createPortableDirReader, namesInFd } from "./dir-reader.ts";
export type { DirHandle, DirReader, EntryStat } from "./dir-reader.ts";
export { filesystemType } from "./mounts.ts";
export { residentShare } from "./page-cache.ts";
export { createLinuxBackend, createPortableBackend, createDarwinBackend, createWindowsBackend };
// The pure decision logic of the backends that cannot run here, exported so it is tested on any OS.
export { fsTime, tempPathFor };
export { cloneRefusalSticks, darwinErrnoAction, darwinErrnoName, darwinPlan };
export {
  COPY_FILE_FAIL_IF_EXISTS, COPY_FILE_NO_BUFFERING, FILETIME_MAX, FILETIME_UNIX_EPOCH, filetimeToUnix, longPathForm,
  MAX_PATH_CHARS, MOVE_FLAGS, MOVEFILE_REPLACE_EXISTING, MOVEFILE_WRITE_THROUGH, NO_BUFFERING_MIN_BYTES, toWide,
  unixToFiletime, windowsCopyAction, windowsCopyFlags, winErrorCode,
};

/** A backend plus a fast lstat that reports nanosecond mtimes. */
export type PlatformBackend = Backend & {
  lstat(path: string): StatRecord;
  /** lstat of `name` inside directory `dir` (cheaper: the directory handle is reused). */
  lstatAt(dir: string, name: string): StatRecord;
  /** Close cached directory handles (call when a worker is done). */
  closeCache(): void;
  /** Forget a cached directory handle after the directory was removed or replaced. */
  forgetDir(dir: string): void;
  /**
   * From now on, every directory at or below `root` that this backend opens (copyFile, lstatAt)
   * is reached from root's fd without following any symlink; a symlink in the way fails with
   * ELOOP. The portable backend cannot promise this (node:fs resolves paths) and does nothing.
   */
  confine(root: string): void;
};

function portableLstat(path: string): StatRecord {
  const st = lstatSync(fsPath(path), { bigint: true });
  const type = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other";
  return {
    type,
    size: Number(st.size),
    mode: Number(st.mode) & 0o7777,
    mtimeSec: Number(st.mtimeNs / 1_000_000_000n),
    mtimeNsec: Number(st.mtimeNs % 1_000_000_000n),
    dev: Number(st.dev),
    ino: Number(st.ino),
  };
}

function withPortableStat(b: Backend): PlatformBackend {
  return Object.assign(b, { lstat: portableLstat, lstatAt: (dir: string, name: string) => portableLstat(`${dir}/${name}`), closeCache() {}, forgetDir() {}, confine() {} });
}

/**
 * The backend for this process, created on first use (each worker thread has its own, since
 * bun:ffi handles are per thread). BLIT_BACKEND=portable forces the node:fs fallback.
 */
let chosen: PlatformBackend | undefined;
export function backend(): PlatformBackend {
  if (chosen) return chosen;
  if (process.env.BLIT_BACKEND === "portable") chosen = withPortableStat(createPortableBackend());
  else if (process.platform === "linux") chosen = createLinuxBackend();
  else if (process.platform === "darwin") chosen = withPortableStat(createDarwinBackend());
  else if (process.platform === "win32") chosen = withPortableStat(createWindowsBackend());
  else chosen = withPortableStat(createPortableBackend());
  return chosen;
}
// Holes in sparse files (Linux): allocation, data segments, seek and truncate on an open fd.
export { dataSegments, fdAllocation, fdChangeStamp, mayHaveHoles, seekTo, truncateTo, SPARSE_MIN_BYTES } from "./sparse.ts";
// Direct reads and sendfile on a data-plane socket's fd (Linux).
export { directSocketIoAvailable, pollWritable, socketRead, socketSendFile } from "./socket-io.ts";
// Metadata beyond mode and mtime (rsync -o -g -X -A, --specials, --devices), Linux: extended
// attributes and POSIX ACLs, owners and their names, special files, what this process may keep.
// The calls that take an fd are Linux-only extras; the fd of a directory beneath a root comes
// from a RootedDir (linuxFd), files and special nodes are made through RootedDir itself.
export {
  ACL_ACCESS, ACL_DEFAULT, listXattrs, openPathAt, readPathFdXattrs, readXattrs, readXattrsAt, sameXattrs,
  writePathFdXattrs, writeXattrs, writeXattrsAt, xattrSelected,
} from "./xattrs.ts";
export type { Xattr, XattrSelection } from "./xattrs.ts";
export { chownPathFd, fchown, gidOf, groupName, ownerOf, parseIdFile, uidOf, userName } from "./owners.ts";
export type { IdNames } from "./owners.ts";
export { makeDev, specialKind, splitDev } from "./specials.ts";
export type { SpecialKind } from "./specials.ts";
export { applyMetadataAt, applyMetadataToNewAt, keepsAny, readMetadataAt } from "./entry-metadata.ts";
export type { EntryMetadata, Keep } from "./entry-metadata.ts";
export { metadataPrivileges } from "./privileges.ts";
export type { MetadataPrivileges } from "./privileges.ts";
// The sandboxed tree beneath a root: the one interface a port implements (docs/architecture.md).
export { adoptRooted, linuxFd, moveBetween, openRooted, rootedImplementations, rootedIsLinux } from "./rooted.ts";
export type { RootedDir, RootedFile, RootHandoff } from "./rooted.ts";
