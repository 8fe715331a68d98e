// Windows backend: CopyFileExW (the system's own copy engine: server-side copies on SMB, block
// cloning where the volume offers it) into a `.blit-tmp-*` name beside the target, then
// SetFileTime and MoveFileExW into place, through kernel32 via bun:ffi; the portable read/write
// stream when CopyFileExW cannot serve. kernel32 is opened only when the backend is created, so
// importing this module on another OS is safe; the decision logic and conversions below are
// pure and tested on any OS.
import { dlopen, FFIType, JSCallback } from "bun:ffi";
import { chmodSync, closeSync } from "node:fs";
import { win32 } from "node:path";
import { describeCode } from "./errno.ts";
import {
  blameMissing,
  cancelledError,
  closeQuiet,
  KEEPS_NOTHING,
  openSource,
  openTemp,
  streamFd,
  tempPathFor,
  toFsError,
  unlinkQuiet,
} from "./portable.ts";
import {
  FsError,
  type Backend,
  type Capabilities,
  type CopyOptions,
  type CopyOutcome,
  type FastPath,
  type FileMeta,
} from "./types.ts";

// <winbase.h>
export const COPY_FILE_FAIL_IF_EXISTS = 0x0000_0001;
export const COPY_FILE_NO_BUFFERING = 0x0000_1000;
export const MOVEFILE_REPLACE_EXISTING = 0x0000_0001;
export const MOVEFILE_WRITE_THROUGH = 0x0000_0008;

/**
 * Files at least this large are copied with COPY_FILE_NO_BUFFERING. Unbuffered I/O bypasses the
 * cache manager: for a very large file that avoids filling the system cache with data nobody
 * will read again (evicting everyone else's) and an extra memory copy, and Microsoft recommends
 * it for very large transfers. For smaller files it is slower: every I/O must be
 * sector-aligned, and there is no read-ahead or lazy write to overlap disk and copy. 256 MiB is
 * well past where the cache helps and well below where cache pollution starts to hurt.
 */
export const NO_BUFFERING_MIN_BYTES = 256 * 1024 * 1024;

export interface WindowsCopyFlagOptions {
  /** Size from which to copy unbuffered; Infinity never does. @default NO_BUFFERING_MIN_BYTES */
  noBufferingMinBytes?: number;
  /** Refuse to overwrite: blit always copies to a fresh temp name, so an existing one is a clash. @default true */
  failIfExists?: boolean;
}

/** CopyFileExW's dwCopyFlags for a file of `size` bytes. */
export function windowsCopyFlags(size: number, opts: WindowsCopyFlagOptions = {}): number {
  const { noBufferingMinBytes = NO_BUFFERING_MIN_BYTES, failIfExists = true } = opts;
  let flags = 0;
  if (failIfExists) flags |= COPY_FILE_FAIL_IF_EXISTS;
  if (size >= noBufferingMinBytes) flags |= COPY_FILE_NO_BUFFERING;
  return flags;
}

/**
 * MoveFileExW's flags for putting a finished temp in place. REPLACE_EXISTING makes it replace
 * an existing target. WRITE_THROUGH only matters when the move turns into a copy and delete
 * across volumes (with COPY_ALLOWED), which blit never asks for: its temp sits beside the
 * target, so the move is a rename within one volume.
 */
export const MOVE_FLAGS = MOVEFILE_REPLACE_EXISTING;

/** 100 ns ticks from 1601-01-01 (the FILETIME epoch) to 1970-01-01 (the Unix epoch). */
export const FILETIME_UNIX_EPOCH = 116_444_736_000_000_000n;
/** Latest FILETIME that SetFileTime accepts (the high bit must be clear): year 30828. */
export const FILETIME_MAX = 0x7fff_ffff_ffff_ffffn;
const TICKS_PER_SEC = 10_000_000n;

/**
 * A Unix time (seconds, plus 0..999_999_999 ns) as a FILETIME (100 ns ticks since 1601).
 * Nanoseconds are truncated to whole ticks. Times Windows cannot store are clamped to the
 * nearest it can: before 1601 to the first tick (1, since 0 means "leave unchanged" to
 * SetFileTime), after year 30828 to FILETIME_MAX.
 */
export function unixToFiletime(sec: number, nsec: number): bigint {
  const ft = (BigInt(Math.trunc(sec)) * TICKS_PER_SEC) + BigInt(Math.floor(nsec / 100)) + FILETIME_UNIX_EPOCH;
  if (ft < 1n) return 1n;
  return ft > FILETIME_MAX ? FILETIME_MAX : ft;
}

/** A FILETIME as Unix seconds and nanoseconds (nsec always 0..999_999_900, also before 1970). */
export function filetimeToUnix(ft: bigint): { sec: number; nsec: number } {
  const t = ft - FILETIME_UNIX_EPOCH;
  let sec = t / TICKS_PER_SEC;
  let rem = t % TICKS_PER_SEC;
  if (rem < 0n) {
    rem += TICKS_PER_SEC;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(rem) * 100 };
}

/** Longest path the ANSI-era API limit (MAX_PATH = 260, with the NUL) lets through unprefixed. */
export const MAX_PATH_CHARS = 259;

/**
 * The path as Win32 should see it: an absolute path longer than MAX_PATH_CHARS gets the `\\?\`
 * prefix (`\\?\UNC\server\share\...` for UNC), which lifts the limit but also turns off
 * Win32's own normalization, so the path is normalized here (separators, `.` and `..`).
 * Shorter, relative and already-prefixed paths are returned unchanged.
 */
export function longPathForm(path: string): string {
  if (path.length <= MAX_PATH_CHARS) return path;
  if (path.startsWith("\\\\?\\") || path.startsWith("\\\\.\\")) return path;
  const p = path.replace(/\//g, "\\");
  if (/^[A-Za-z]:\\/.test(p)) return `\\\\?\\${win32.normalize(p)}`;
  if (p.startsWith("\\\\")) return `\\\\?\\UNC\\${win32.normalize(p).slice(2)}`;
  return path;
}

/** The path as a NUL-terminated UTF-16 string for the W functions (Windows is little-endian). */
export function toWide(path: string): Uint16Array {
  const s = longPathForm(path);
  const out = new Uint16Array(s.length + 1);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// GetLastError values (<winerror.h>) as the errno-style codes Node's fs and libuv use on Windows.
const WIN_ERRORS: Record<number, string> = {
  1: "ENOSYS", // ERROR_INVALID_FUNCTION
  2: "ENOENT", // ERROR_FILE_NOT_FOUND
  3: "ENOENT", // ERROR_PATH_NOT_FOUND
  4: "EMFILE", // ERROR_TOO_MANY_OPEN_FILES
  5: "EACCES", // ERROR_ACCESS_DENIED
  6: "EBADF", // ERROR_INVALID_HANDLE
  8: "ENOMEM", // ERROR_NOT_ENOUGH_MEMORY
  14: "ENOMEM", // ERROR_OUTOFMEMORY
  15: "ENOENT", // ERROR_INVALID_DRIVE
  17: "EXDEV", // ERROR_NOT_SAME_DEVICE
  19: "EROFS", // ERROR_WRITE_PROTECT
  23: "EIO", // ERROR_CRC
  32: "EBUSY", // ERROR_SHARING_VIOLATION
  33: "EBUSY", // ERROR_LOCK_VIOLATION
  39: "ENOSPC", // ERROR_HANDLE_DISK_FULL
  50: "ENOTSUP", // ERROR_NOT_SUPPORTED
  53: "ENOENT", // ERROR_BAD_NETPATH
  67: "ENOENT", // ERROR_BAD_NET_NAME
  80: "EEXIST", // ERROR_FILE_EXISTS
  87: "EINVAL", // ERROR_INVALID_PARAMETER
  112: "ENOSPC", // ERROR_DISK_FULL
  123: "EINVAL", // ERROR_INVALID_NAME
  145: "ENOTEMPTY", // ERROR_DIR_NOT_EMPTY
  161: "ENOENT", // ERROR_BAD_PATHNAME
  183: "EEXIST", // ERROR_ALREADY_EXISTS
  206: "ENAMETOOLONG", // ERROR_FILENAME_EXCED_RANGE
  267: "ENOTDIR", // ERROR_DIRECTORY
  1117: "EIO", // ERROR_IO_DEVICE
  1235: "ECANCELED", // ERROR_REQUEST_ABORTED: the progress routine returned PROGRESS_CANCEL
  1295: "EDQUOT", // ERROR_DISK_QUOTA_EXCEEDED
  1314: "EPERM", // ERROR_PRIVILEGE_NOT_HELD
  1920: "EACCES", // ERROR_CANT_ACCESS_FILE
  1921: "ELOOP", // ERROR_CANT_RESOLVE_FILENAME
};

/** A GetLastError value as an errno-style code; unknown values as `WINERR_<n>`. */
export function winErrorCode(err: number): string {
  return WIN_ERRORS[err] ?? `WINERR_${err}`;
}

/**
 * What a failed CopyFileExW means for this copy:
 * - "new-temp-name": the temp name was taken; retry with another.
 * - "buffered": some volumes and redirectors refuse unbuffered I/O; retry without NO_BUFFERING.
 * - "next-path": CopyFileExW cannot serve this file here; the stream runs.
 * - "fail": the copy itself cannot succeed.
 */
export type WindowsCopyAction = "new-temp-name" | "buffered" | "next-path" | "fail";

export function windowsCopyAction(code: string, flags: number): WindowsCopyAction {
  if (code === "EEXIST") return "new-temp-name";
  if (code === "EINVAL" && flags & COPY_FILE_NO_BUFFERING) return "buffered";
  return code === "ENOTSUP" || code === "ENOSYS" || code === "EINVAL" ? "next-path" : "fail";
}

// CopyProgressRoutine results and CreateFileW arguments.
const PROGRESS_CONTINUE = 0;
const PROGRESS_CANCEL = 1;
const FILE_WRITE_ATTRIBUTES = 0x100;
const FILE_SHARE_ALL = 0x1 | 0x2 | 0x4;
const OPEN_EXISTING = 3;
/** Opens directories too (setTimes on a directory) and, with OPEN_REPARSE_POINT, not a link's target. */
const FILE_FLAG_BACKUP_SEMANTICS = 0x0200_0000;
const FILE_FLAG_OPEN_REPARSE_POINT = 0x0020_0000;
const INVALID_HANDLE_VALUE = -1n;
const TEMP_ATTEMPTS = 5;

function openKernel32() {
  // HANDLEs are declared as i64: INVALID_HANDLE_VALUE then reads back exactly as -1n.
  return dlopen("kernel32.dll", {
    CopyFileExW: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "u32"], returns: "i32" },
    MoveFileExW: { args: ["ptr", "ptr", "u32"], returns: "i32" },
    CreateFileW: { args: ["ptr", "u32", "u32", "ptr", "u32", "u32", "ptr"], returns: FFIType.i64 },
    SetFileTime: { args: [FFIType.i64, "ptr", "ptr", "ptr"], returns: "i32" },
    CloseHandle: { args: [FFIType.i64], returns: "i32" },
    GetLastError: { args: [], returns: "u32" },
  }).symbols;
}

export function createWindowsBackend(): Backend {
  const k32 = openKernel32();
  // Read right after the failing call, before any other kernel32 call can overwrite it.
  const lastError = () => winErrorCode(k32.GetLastError());
  const ft = new BigUint64Array(1);

  const fail = (syscall: string, path: string): never => {
    const code = lastError();
    throw new FsError(code, syscall, path, describeCode(code));
  };

  function setFileTime(path: string, mtimeSec: number, mtimeNsec: number): void {
    const h = k32.CreateFileW(toWide(path), FILE_WRITE_ATTRIBUTES, FILE_SHARE_ALL, null, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, null);
    if (h === INVALID_HANDLE_VALUE) fail("CreateFileW", path);
    try {
      ft[0] = unixToFiletime(mtimeSec, mtimeNsec);
      if (k32.SetFileTime(h, null, null, ft) === 0) fail("SetFileTime", path);
    } finally {
      k32.CloseHandle(h);
    }
  }

  // One progress routine per thread, pointed at the copy in flight (copies are synchronous).
  // It reports progress to onChunk and turns cancelled() into PROGRESS_CANCEL; an exception
  // must not unwind through kernel32, so it is kept and rethrown after CopyFileExW returns.
  interface InFlight {
    opts: CopyOptions;
    done: number;
    thrown?: unknown;
  }
  let current: InFlight | undefined;
  let progress: JSCallback | undefined;
  function progressRoutine(): JSCallback {
    progress ??= new JSCallback(
      (_total: unknown, transferred: number | bigint) => {
        const c = current;
        if (!c) return PROGRESS_CONTINUE;
        try {
          const now = Number(transferred);
          if (now > c.done) {
            c.opts.onChunk?.(now - c.done);
            c.done = now;
          }
          return c.opts.cancelled?.() ? PROGRESS_CANCEL : PROGRESS_CONTINUE;
        } catch (err) {
          c.thrown = err;
          return PROGRESS_CANCEL;
        }
      },
      { args: ["i64", "i64", "i64", "i64", "u32", "u32", "ptr", "ptr", "ptr"], returns: "u32" },
    );
    return progress;
  }

  /** CopyFileExW into a fresh temp; the temp path and bytes, or the code it refused with. */
  function copyToTemp(src: string, dst: string, meta: FileMeta, opts: CopyOptions): { tmp: string; bytes: number } | { code: string } {
    const watch = opts.onChunk !== undefined || opts.cancelled !== undefined;
    const routine = watch ? progressRoutine().ptr : null;
    const srcW = toWide(src);
    let flags = windowsCopyFlags(meta.size);
    for (let i = 1; ; i++) {
      const tmp = tempPathFor(dst);
      const c: InFlight = { opts, done: 0 };
      current = c;
      let ok: number;
      try {
        ok = k32.CopyFileExW(srcW, toWide(tmp), routine, null, null, flags);
      } finally {
        current = undefined;
      }
      const code = ok !== 0 ? undefined : lastError();
      // EEXIST means the name was someone else's file: never remove that one.
      if (c.thrown !== undefined || (code !== undefined && code !== "EEXIST")) unlinkQuiet(tmp);
      if (c.thrown !== undefined) throw c.thrown;
      if (code === undefined) return { tmp, bytes: watch ? c.done : meta.size };
      if (code === "ECANCELED") throw cancelledError(src);
      const action = windowsCopyAction(code, flags);
      if (action === "buffered") flags &= ~COPY_FILE_NO_BUFFERING;
      else if (action !== "new-temp-name" || i >= TEMP_ATTEMPTS) return { code };
    }
  }

  /** mtime (100 ns kept), the read-only bit from mode, then the move over dst. */
  function finish(tmp: string, dst: string, meta: FileMeta): void {
    setFileTime(tmp, meta.mtimeSec, meta.mtimeNsec);
    try {
      chmodSync(tmp, meta.mode & 0o7777);
    } catch (err) {
      throw toFsError(err, "chmod", dst);
    }
    if (k32.MoveFileExW(toWide(tmp), toWide(dst), MOVE_FLAGS) === 0) fail("MoveFileExW", dst);
  }

  function copyFile(src: string, dst: string, meta: FileMeta, opts: CopyOptions = {}): CopyOutcome {
    if (opts.cancelled?.()) throw cancelledError(src);
    const refused: Partial<Record<FastPath, string>> = {};
    let tmp: string | undefined;
    let sfd = -1;
    let out = -1;
    try {
      if (!opts.allow || opts.allow.has("copyfileexw")) {
        const r = copyToTemp(src, dst, meta, opts);
        if ("tmp" in r) {
          tmp = r.tmp;
          finish(tmp, dst, meta);
          tmp = undefined;
          return { path: "copyfileexw", bytes: r.bytes, refused };
        }
        if (windowsCopyAction(r.code, 0) === "fail") {
          throw new FsError(r.code, "CopyFileExW", blameMissing(r.code, src, dst), describeCode(r.code));
        }
        refused.copyfileexw = r.code;
      }
      sfd = openSource(src);
      ({ fd: out, tmp } = openTemp(dst, meta.mode));
      const bytes = streamFd(sfd, out, meta.size, src, dst, opts);
      const fd = out;
      out = -1;
      try {
        closeSync(fd);
      } catch (err) {
        throw toFsError(err, "close", dst);
      }
      finish(tmp, dst, meta);
      tmp = undefined;
      return { path: "stream", bytes, refused };
    } finally {
      if (sfd >= 0) closeQuiet(sfd);
      if (out >= 0) closeQuiet(out);
      if (tmp !== undefined) unlinkQuiet(tmp);
    }
  }

  function probe(_srcDir: string, _dstDir: string): Capabilities {
    // CopyFileExW is the in-kernel copy here; block cloning, where the volume has it, happens
    // inside it without blit asking, so blit reports no reflink of its own.
    return { reflink: false, copyFileRange: true, anonymousTemp: false };
  }

  return { name: "windows", keeps: KEEPS_NOTHING, copyFile, setTimes: setFileTime, probe };
}
