// macOS backend: clonefile (APFS copy-on-write clone), then fcopyfile, then the portable
// read/write stream, through libSystem via bun:ffi. Content goes to a `.blit-tmp-*` name beside
// the target and is renamed into place when complete. libSystem is opened only when the backend
// is created, so importing this module on another OS is safe; the decision logic (darwinPlan,
// darwinErrnoAction) is pure and tested on any OS.
import { dlopen, ptr, read } from "bun:ffi";
import { closeSync, constants, fchmodSync, fstatSync, ftruncateSync, openSync, statSync } from "node:fs";
import { namePath } from "./name-path.ts";
import { describeCode } from "./errno.ts";
import {
  blameMissing,
  cancelledError,
  closeQuiet,
  KEEPS_NOTHING,
  openSource,
  openTemp,
  renameInto,
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

/** clonefile(2): clone a symlink itself rather than what it points to. */
const CLONE_NOFOLLOW = 0x0001;
/** copyfile(3): copy the data fork only; blit sets mode and mtime itself. */
const COPYFILE_DATA = 1 << 3;
// <fcntl.h> and <sys/stat.h> on macOS (not the Linux values).
const AT_FDCWD = -2;
const AT_SYMLINK_NOFOLLOW = 0x20;
const UTIME_OMIT = -2n;
/** How many fresh temp names clonefile may try when one is taken. */
const CLONE_ATTEMPTS = 5;
/** Directory -> device cache bound; a copy touches few directories at a time. */
const DEV_CACHE_MAX = 256;

// macOS <sys/errno.h> numbers that differ from Linux, plus the common ones, by name, so errors
// carry the same codes Node's fs uses on macOS.
const DARWIN_ERRNO: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 4: "EINTR", 5: "EIO", 9: "EBADF", 12: "ENOMEM", 13: "EACCES",
  16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR",
  22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC",
  30: "EROFS", 31: "EMLINK", 35: "EAGAIN", 45: "ENOTSUP", 62: "ELOOP", 63: "ENAMETOOLONG",
  66: "ENOTEMPTY", 69: "EDQUOT", 70: "ESTALE", 78: "ENOSYS", 89: "ECANCELED", 102: "EOPNOTSUPP",
};

/** A macOS errno number as its name ("ENOTSUP" for 45); unknown numbers as `ERRNO_<n>`. */
export function darwinErrnoName(n: number): string {
  return DARWIN_ERRNO[n] ?? `ERRNO_${n}`;
}

/**
 * What a failed clonefile/fcopyfile means for this copy:
 * - "next-path": this path cannot serve this file here (no clone support, other volume, ...);
 *   the next path in the plan runs, and reports the real error if the copy truly cannot succeed.
 * - "new-temp-name": the temp name was taken (another writer, or a crash's leftover); retry.
 * - "fail": the copy itself cannot succeed (no such file, no permission, disk full, ...).
 */
export type DarwinErrnoAction = "next-path" | "new-temp-name" | "fail";

const NEXT_PATH = new Set(["ENOTSUP", "EOPNOTSUPP", "EXDEV", "EINVAL", "ENOSYS", "EPERM", "EBADF", "EFTYPE"]);

export function darwinErrnoAction(code: string): DarwinErrnoAction {
  if (code === "EEXIST") return "new-temp-name";
  return NEXT_PATH.has(code) ? "next-path" : "fail";
}

/**
 * Clone refusals that hold for the whole pair of volumes (the filesystem cannot clone, or the
 * two are different volumes), so later files skip clonefile; others (EPERM on one file) do not.
 */
export function cloneRefusalSticks(code: string): boolean {
  return code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EXDEV" || code === "ENOSYS";
}

export interface DarwinPlanInput {
  /** Source and destination directories are on one volume (clonefile needs that). */
  sameVolume: boolean;
  /** Whether this volume pair clones, as probed or learned from earlier files. */
  cloneSupported: boolean | "unknown";
  size: number;
  /** The code the last clonefile on this volume pair failed with, if it did. */
  lastCloneErrno?: string;
  /** Paths the caller allows; default all. "stream" is always kept as the last resort. */
  allow?: ReadonlySet<FastPath>;
}

/**
 * The paths to try for one file, best first. clonefile shares extents and copies nothing, but
 * only within one volume that supports it; fcopyfile copies across volumes; stream always
 * works. An empty file has no data to share or move, so it is only created (stream).
 */
export function darwinPlan(input: DarwinPlanInput): FastPath[] {
  const allowed = (p: FastPath) => !input.allow || input.allow.has(p);
  if (input.size === 0) return ["stream"];
  const plan: FastPath[] = [];
  const cloneRefused = input.lastCloneErrno !== undefined && cloneRefusalSticks(input.lastCloneErrno);
  if (allowed("reflink") && input.sameVolume && input.cloneSupported !== false && !cloneRefused) plan.push("reflink");
  if (allowed("fcopyfile")) plan.push("fcopyfile");
  plan.push("stream");
  return plan;
}

function openLibSystem() {
  return dlopen("/usr/lib/libSystem.B.dylib", {
    clonefile: { args: ["ptr", "ptr", "u32"], returns: "i32" },
    fcopyfile: { args: ["i32", "i32", "ptr", "u32"], returns: "i32" },
    futimens: { args: ["i32", "ptr"], returns: "i32" },
    utimensat: { args: ["i32", "ptr", "ptr", "i32"], returns: "i32" },
    __error: { args: [], returns: "ptr" },
  }).symbols;
}

const encoder = new TextEncoder();
function cstr(s: string): Uint8Array {
  return encoder.encode(s + "\0");
}

interface VolumePair {
  cloneSupported: boolean | "unknown";
  lastCloneErrno?: string;
}

export function createDarwinBackend(): Backend {
  const sys = openLibSystem();
  const errno = () => {
    const p = sys.__error();
    return p === null ? "EIO" : darwinErrnoName(read.i32(p, 0));
  };
  const devs = new Map<string, number | undefined>();
  const volumes = new Map<string, VolumePair>();

  function devOf(dir: string): number | undefined {
    if (devs.has(dir)) return devs.get(dir);
    if (devs.size >= DEV_CACHE_MAX) devs.clear();
    let dev: number | undefined;
    try {
      dev = statSync(dir).dev;
    } catch {
      dev = undefined; // the copy itself will report why
    }
    devs.set(dir, dev);
    return dev;
  }

  function pairOf(srcDir: string, dstDir: string): { sameVolume: boolean; vol: VolumePair } {
    const a = devOf(srcDir);
    const b = devOf(dstDir);
    const key = `${a}:${b}`;
    let vol = volumes.get(key);
    if (!vol) volumes.set(key, (vol = { cloneSupported: "unknown" }));
    return { sameVolume: a !== undefined && a === b, vol };
  }

  /** clonefile into a fresh temp name; returns the temp path, or the errno name it refused with. */
  function cloneToTemp(src: string, dst: string): { tmp: string } | { code: string } {
    const srcC = cstr(src);
    for (let i = 1; ; i++) {
      const tmp = tempPathFor(dst);
      if (sys.clonefile(srcC, cstr(tmp), CLONE_NOFOLLOW) === 0) return { tmp };
      const code = errno();
      if (darwinErrnoAction(code) !== "new-temp-name" || i >= CLONE_ATTEMPTS) return { code };
    }
  }

  // atime is left alone (UTIME_OMIT); mtime keeps nanoseconds, which APFS stores.
  // A view of a real ArrayBuffer, and its pointer taken at each call: JSC may move the storage of
  // a small typed array, which would leave a pointer taken once stale.
  const times = new BigInt64Array(new ArrayBuffer(32));
  function setTimespec(sec: number, nsec: number): void {
    times[0] = 0n;
    times[1] = UTIME_OMIT;
    times[2] = BigInt(sec);
    times[3] = BigInt(nsec);
  }

  /** Mode and mtime through `fd`, which it closes, then the rename over dst. */
  function finish(fd: number, tmp: string, meta: FileMeta, dst: string): void {
    try {
      try {
        fchmodSync(fd, meta.mode & 0o7777);
      } catch (err) {
        throw toFsError(err, "fchmod", dst);
      }
      setTimespec(meta.mtimeSec, meta.mtimeNsec);
      if (sys.futimens(fd, ptr(times)) !== 0) {
        const code = errno();
        throw new FsError(code, "futimens", dst, describeCode(code));
      }
    } catch (err) {
      closeQuiet(fd);
      throw err;
    }
    try {
      closeSync(fd);
    } catch (err) {
      throw toFsError(err, "close", dst);
    }
    renameInto(tmp, dst);
  }

  function copyFile(src: string, dst: string, meta: FileMeta, opts: CopyOptions = {}): CopyOutcome {
    if (opts.cancelled?.()) throw cancelledError(src);
    const { sameVolume, vol } = pairOf(namePath.dirname(src), namePath.dirname(dst));
    const plan = darwinPlan({ sameVolume, cloneSupported: vol.cloneSupported, size: meta.size, lastCloneErrno: vol.lastCloneErrno, allow: opts.allow });
    const refused: Partial<Record<FastPath, string>> = {};
    let sfd = -1;
    let out = -1;
    let tmp: string | undefined;
    try {
      for (const path of plan) {
        if (path === "reflink") {
          const r = cloneToTemp(src, dst);
          if ("code" in r) {
            if (darwinErrnoAction(r.code) === "fail") throw new FsError(r.code, "clonefile", blameMissing(r.code, src, dst), describeCode(r.code));
            refused.reflink = r.code;
            if (cloneRefusalSticks(r.code)) {
              vol.cloneSupported = false;
              vol.lastCloneErrno = r.code;
            }
            continue;
          }
          tmp = r.tmp;
          vol.cloneSupported = true;
          // O_NOFOLLOW: had src become a symlink, the clone is one, and is refused here.
          try {
            out = openSync(tmp, constants.O_RDONLY | constants.O_NOFOLLOW);
          } catch (err) {
            throw toFsError(err, "open", dst);
          }
          const fd = out;
          out = -1;
          finish(fd, tmp, meta, dst);
          tmp = undefined;
          opts.onChunk?.(meta.size);
          return { path: "reflink", bytes: meta.size, refused };
        }
        if (sfd < 0) sfd = openSource(src);
        if (out < 0) ({ fd: out, tmp } = openTemp(dst, meta.mode));
        let bytes: number;
        if (path === "fcopyfile") {
          if (sys.fcopyfile(sfd, out, null, COPYFILE_DATA) !== 0) {
            const code = errno();
            if (darwinErrnoAction(code) !== "next-path") throw new FsError(code, "fcopyfile", blameMissing(code, src, dst), describeCode(code));
            refused.fcopyfile = code;
            // Whatever fcopyfile wrote is discarded; the stream starts over at offset 0.
            try {
              ftruncateSync(out, 0);
            } catch (err) {
              throw toFsError(err, "ftruncate", dst);
            }
            continue;
          }
          try {
            bytes = fstatSync(out).size;
          } catch (err) {
            throw toFsError(err, "fstat", dst);
          }
          opts.onChunk?.(bytes);
        } else {
          bytes = streamFd(sfd, out, meta.size, src, dst, opts);
        }
        const fd = out;
        out = -1;
        finish(fd, tmp!, meta, dst);
        tmp = undefined;
        return { path, bytes, refused };
      }
      throw new FsError("EIO", "copy", src, "no copy path left"); // unreachable: the plan ends in stream
    } finally {
      if (sfd >= 0) closeQuiet(sfd);
      if (out >= 0) closeQuiet(out);
      if (tmp !== undefined) unlinkQuiet(tmp);
    }
  }

  function setTimes(path: string, mtimeSec: number, mtimeNsec: number): void {
    setTimespec(mtimeSec, mtimeNsec);
    if (sys.utimensat(AT_FDCWD, cstr(path), ptr(times), AT_SYMLINK_NOFOLLOW) !== 0) {
      const code = errno();
      throw new FsError(code, "utimensat", path, describeCode(code));
    }
  }

  function probe(srcDir: string, dstDir: string): Capabilities {
    const caps: Capabilities = { reflink: "unknown", copyFileRange: false, anonymousTemp: false };
    const { sameVolume, vol } = pairOf(srcDir, dstDir);
    if (!sameVolume) {
      caps.reflink = false;
      return caps;
    }
    // Clone a small file within dstDir: a copy must not assume write access to srcDir.
    let probeSrc: string | undefined;
    let clone: string | undefined;
    try {
      const { fd, tmp } = openTemp(`${dstDir}/probe`, 0o600);
      probeSrc = tmp;
      closeQuiet(fd);
      const r = cloneToTemp(probeSrc, `${dstDir}/probe-clone`);
      if ("tmp" in r) {
        clone = r.tmp;
        caps.reflink = vol.cloneSupported = true;
      } else if (cloneRefusalSticks(r.code)) {
        caps.reflink = vol.cloneSupported = false;
        vol.lastCloneErrno = r.code;
      }
    } catch {
      // An unwritable dstDir leaves reflink "unknown"; the first real file decides.
    } finally {
      if (clone !== undefined) unlinkQuiet(clone);
      if (probeSrc !== undefined) unlinkQuiet(probeSrc);
    }
    return caps;
  }

  return { name: "darwin", keeps: KEEPS_NOTHING, copyFile, setTimes, probe };
}
