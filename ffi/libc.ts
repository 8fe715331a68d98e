// The one libc binding of this thread (bun:ffi handles belong to a thread), its errno, and the
// Linux constants and helpers the Linux backend and the sandboxed file access share.
//
// Buffers handed to the kernel are views of a real ArrayBuffer and ptr() is taken at each call:
// JSC may move the storage of a small typed array made with `new Int32Array(n)`, which leaves a
// pointer taken earlier stale.
import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { describeCode, errnoName } from "./errno.ts";
import { cBytesOfName } from "./name-bytes.ts";
import { FsError } from "./types.ts";

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_NOFOLLOW = 0o400000;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
export const O_TMPFILE = 0o20000000 | O_DIRECTORY;
export const O_NONBLOCK = 0o4000;
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_EMPTY_PATH = 0x1000;
export const UTIME_OMIT = (1 << 30) - 2;

function openLibc() {
  return dlopen("libc.so.6", {
    syscall: { args: ["i64", "i32", "ptr", "ptr", "u64"], returns: FFIType.i64_fast },
    openat: { args: ["i32", "ptr", "i32", "u32"], returns: "i32" },
    close: { args: ["i32"], returns: "i32" },
    read: { args: ["i32", "ptr", "u64"], returns: FFIType.i64_fast },
    write: { args: ["i32", "ptr", "u64"], returns: FFIType.i64_fast },
    pread: { args: ["i32", "ptr", "u64", "i64"], returns: FFIType.i64_fast },
    pwrite: { args: ["i32", "ptr", "u64", "i64"], returns: FFIType.i64_fast },
    copy_file_range: { args: ["i32", "ptr", "i32", "ptr", "u64", "u32"], returns: FFIType.i64_fast },
    sendfile: { args: ["i32", "i32", "ptr", "u64"], returns: FFIType.i64_fast },
    lseek: { args: ["i32", "i64", "i32"], returns: FFIType.i64_fast },
    ftruncate: { args: ["i32", "i64"], returns: "i32" },
    ioctl: { args: ["i32", "u64", "i32"], returns: "i32" },
    fchmod: { args: ["i32", "u32"], returns: "i32" },
    fchmodat: { args: ["i32", "ptr", "u32", "i32"], returns: "i32" },
    futimens: { args: ["i32", "ptr"], returns: "i32" },
    utimensat: { args: ["i32", "ptr", "ptr", "i32"], returns: "i32" },
    linkat: { args: ["i32", "ptr", "i32", "ptr", "i32"], returns: "i32" },
    mkdirat: { args: ["i32", "ptr", "u32"], returns: "i32" },
    renameat: { args: ["i32", "ptr", "i32", "ptr"], returns: "i32" },
    renameat2: { args: ["i32", "ptr", "i32", "ptr", "u32"], returns: "i32" },
    unlinkat: { args: ["i32", "ptr", "i32"], returns: "i32" },
    symlinkat: { args: ["ptr", "i32", "ptr"], returns: "i32" },
    statx: { args: ["i32", "ptr", "i32", "u32", "ptr"], returns: "i32" },
    readlinkat: { args: ["i32", "ptr", "ptr", "u64"], returns: FFIType.i64_fast },
    umask: { args: ["u32"], returns: "u32" },
    poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
    fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
    // Extended attributes of an open fd, and by path (used on /proc/self/fd/N; see xattrs.ts).
    flistxattr: { args: ["i32", "ptr", "u64"], returns: FFIType.i64_fast },
    fgetxattr: { args: ["i32", "ptr", "ptr", "u64"], returns: FFIType.i64_fast },
    fsetxattr: { args: ["i32", "ptr", "ptr", "u64", "i32"], returns: "i32" },
    fremovexattr: { args: ["i32", "ptr"], returns: "i32" },
    listxattr: { args: ["ptr", "ptr", "u64"], returns: FFIType.i64_fast },
    getxattr: { args: ["ptr", "ptr", "ptr", "u64"], returns: FFIType.i64_fast },
    setxattr: { args: ["ptr", "ptr", "ptr", "u64", "i32"], returns: "i32" },
    removexattr: { args: ["ptr", "ptr"], returns: "i32" },
    fchown: { args: ["i32", "u32", "u32"], returns: "i32" },
    fchownat: { args: ["i32", "ptr", "u32", "u32", "i32"], returns: "i32" },
    chmod: { args: ["ptr", "u32"], returns: "i32" },
    mknodat: { args: ["i32", "ptr", "u32", "u64"], returns: "i32" },
    getpagesize: { args: [], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
  }).symbols;
}

export type Libc = ReturnType<typeof openLibc>;

let bound: Libc | undefined;
let errnoPtr: NonNullable<ReturnType<Libc["__errno_location"]>>;
let mask = 0o022;

/** libc for this thread, opened on first use. */
export function libc(): Libc {
  if (!bound) {
    bound = openLibc();
    errnoPtr = bound.__errno_location()!;
    mask = bound.umask(0o022);
    bound.umask(mask);
  }
  return bound;
}

/** The process umask, read once (modes passed to open are masked by it). */
export function processUmask(): number {
  libc();
  return mask;
}

/** The errno name (ENOENT, ...) of the last failed call on this thread. */
export function errno(): string {
  libc();
  return errnoName(read.i32(errnoPtr, 0));
}

/** Throws an FsError for the last failed call. */
export function fail(syscall: string, path: string): never {
  const code = errno();
  throw new FsError(code, syscall, path, describeCode(code));
}

/**
 * The exact bytes of the path `s` (name-bytes.ts: escaped undecodable bytes become those bytes
 * again), NUL-terminated, in an ArrayBuffer of its own (stable for the call it is passed to).
 */
export function cstr(s: string): Uint8Array {
  return cBytesOfName(s);
}

/** getdents64(2): 217 on x86_64, 61 in the generic table (aarch64, riscv64). */
export const SYS_GETDENTS64 = process.arch === "x64" ? 217 : 61;

/**
 * getdents64(fd, buf, len) through libc's syscall(): bytes of `struct linux_dirent64` records
 * written to buf, 0 at the end of the directory, -1 on error (errno set).
 */
export function getdents64(fd: number, buf: Uint8Array): number {
  // syscall()'s third and fourth parameters are declared as pointers; a count travels as one.
  return Number(libc().syscall(SYS_GETDENTS64, fd, ptr(buf), buf.length as unknown as Pointer, 0));
}

/** struct timespec[2] for futimens/utimensat: atime left alone, mtime set; 32-bit words, no BigInt. */
export function fillMtimeTimespecs(times: Int32Array, sec: number, nsec: number): void {
  times[0] = 0;
  times[1] = 0;
  times[2] = UTIME_OMIT;
  times[3] = 0;
  times[4] = sec | 0;
  times[5] = Math.floor(sec / 0x100000000);
  times[6] = nsec;
  times[7] = 0;
}
