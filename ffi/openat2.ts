// Sandboxed file access for paths that come from a peer (blitd modules, a pulling client's
// destination). Every name is resolved relative to a root directory fd with openat2(2) and
// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so neither `..` nor a symlink can lead out, and the
// check and the use are one system call (no race). Everything after the open is fd-relative
// (openat/renameat/unlinkat/mkdirat on a directory fd that is itself beneath the root).
// Kernels without openat2 (ENOSYS, before 5.6) fall back to a component-by-component walk with
// O_NOFOLLOW, which refuses every symlink on the way: stricter, still safe.
//
// Buffers handed to the kernel are views of a real ArrayBuffer and ptr() is taken at each call:
// JSC may move the storage of a small typed array made with `new Int32Array(n)`.
import { dlopen, FFIType, ptr, read } from "bun:ffi";
import { describeCode, errnoName } from "./errno.ts";
import { FsError } from "./types.ts";

/** openat2(2) is 437 in the generic syscall table, which x86_64 and aarch64 share. */
const SYS_OPENAT2 = 437;
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;

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
const AT_FDCWD = -100;
const AT_REMOVEDIR = 0x200;
const AT_SYMLINK_NOFOLLOW = 0x100;
const UTIME_OMIT = (1 << 30) - 2;

function openLibc() {
  return dlopen("libc.so.6", {
    syscall: { args: ["i64", "i32", "ptr", "ptr", "u64"], returns: FFIType.i64_fast },
    openat: { args: ["i32", "ptr", "i32", "u32"], returns: "i32" },
    close: { args: ["i32"], returns: "i32" },
    read: { args: ["i32", "ptr", "u64"], returns: FFIType.i64_fast },
    write: { args: ["i32", "ptr", "u64"], returns: FFIType.i64_fast },
    fchmod: { args: ["i32", "u32"], returns: "i32" },
    futimens: { args: ["i32", "ptr"], returns: "i32" },
    utimensat: { args: ["i32", "ptr", "ptr", "i32"], returns: "i32" },
    fchmodat: { args: ["i32", "ptr", "u32", "i32"], returns: "i32" },
    mkdirat: { args: ["i32", "ptr", "u32"], returns: "i32" },
    renameat: { args: ["i32", "ptr", "i32", "ptr"], returns: "i32" },
    unlinkat: { args: ["i32", "ptr", "i32"], returns: "i32" },
    symlinkat: { args: ["ptr", "i32", "ptr"], returns: "i32" },
    umask: { args: ["u32"], returns: "u32" },
    __errno_location: { args: [], returns: "ptr" },
  }).symbols;
}

type Libc = ReturnType<typeof openLibc>;
let libc: Libc | undefined;
let errnoPtr: ReturnType<Libc["__errno_location"]>;
let processMask = 0o022;
let haveOpenat2: boolean | undefined;
const encoder = new TextEncoder();
// struct open_how { u64 flags; u64 mode; u64 resolve; }
const howBuf = new ArrayBuffer(24);
const howView = new DataView(howBuf);
// struct timespec[2] as 32-bit words.
const timesBuf = new ArrayBuffer(32);
const times = new Int32Array(timesBuf);

function lib(): Libc {
  if (!libc) {
    libc = openLibc();
    errnoPtr = libc.__errno_location();
    processMask = libc.umask(0o022);
    libc.umask(processMask);
  }
  return libc;
}

function cstr(s: string): Uint8Array {
  const b = encoder.encode(s + "\0");
  // A fresh buffer each call; encode() gives its own ArrayBuffer, so ptr() on it is stable for the call.
  return b;
}

function errno(): string {
  return errnoName(read.i32(errnoPtr!, 0));
}

function fail(syscall: string, path: string): never {
  const code = errno();
  throw new FsError(code, syscall, path, describeCode(code));
}

/** True when the kernel has openat2(2); learned on first use. */
export function openat2Available(): boolean {
  if (haveOpenat2 === undefined) {
    const l = lib();
    howView.setBigUint64(0, BigInt(O_RDONLY | O_DIRECTORY | O_CLOEXEC), true);
    howView.setBigUint64(8, 0n, true);
    howView.setBigUint64(16, BigInt(RESOLVE_BENEATH), true);
    const fd = Number(l.syscall(SYS_OPENAT2, AT_FDCWD, ptr(cstr(".")), ptr(howBuf), 24));
    if (fd >= 0) {
      l.close(fd);
      haveOpenat2 = true;
    } else haveOpenat2 = errno() !== "ENOSYS";
  }
  return haveOpenat2;
}

/**
 * openat2(dirFd, rel, {flags, mode, resolve}) through libc's syscall(). Throws FsError.
 * EAGAIN (a concurrent rename during a `..`-aware lookup) is retried a few times.
 */
export function openat2(dirFd: number, rel: string, flags: number, mode = 0, resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): number {
  const l = lib();
  const path = cstr(rel === "" ? "." : rel);
  for (let attempt = 0; ; attempt++) {
    howView.setBigUint64(0, BigInt(flags | O_CLOEXEC), true);
    howView.setBigUint64(8, BigInt(mode), true);
    howView.setBigUint64(16, BigInt(resolve), true);
    const fd = Number(l.syscall(SYS_OPENAT2, dirFd, ptr(path), ptr(howBuf), 24));
    if (fd >= 0) return fd;
    const code = errno();
    if (code === "EAGAIN" && attempt < 8) continue;
    throw new FsError(code, "openat2", rel || ".", code === "EXDEV" ? "path leads outside its root" : describeCode(code));
  }
}

/**
 * Opens `rel` beneath the directory `rootFd`; a symlink or `..` that would leave the root fails
 * with EXDEV (openat2) or ELOOP (fallback). `rel` is "/"-separated and relative; "" is the root.
 */
export function openBeneath(rootFd: number, rel: string, flags: number, mode = 0): number {
  if (openat2Available()) return openat2(rootFd, rel, flags, mode);
  return openNoFollowWalk(rootFd, rel, flags, mode);
}

// The fallback: each directory component opened with O_NOFOLLOW, so no symlink is followed at all.
function openNoFollowWalk(rootFd: number, rel: string, flags: number, mode: number): number {
  const l = lib();
  const parts = rel === "" ? [] : rel.split("/");
  for (const p of parts) if (p === ".." || p === "." || p === "") throw new FsError("EXDEV", "open", rel, "path leads outside its root");
  let cur = rootFd;
  try {
    for (let k = 0; k < parts.length - 1; k++) {
      const next = l.openat(cur, ptr(cstr(parts[k]!)), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
      if (next < 0) fail("openat", rel);
      if (cur !== rootFd) l.close(cur);
      cur = next;
    }
    const last = parts.length ? parts[parts.length - 1]! : ".";
    const fd = l.openat(cur, ptr(cstr(last)), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) fail("openat", rel);
    return fd;
  } finally {
    if (cur !== rootFd) l.close(cur);
  }
}

/** Opens a trusted absolute directory (a module's configured path) as a root fd. */
export function openRootDir(path: string): number {
  const fd = lib().openat(AT_FDCWD, ptr(cstr(path)), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) fail("open", path);
  return fd;
}

export function closeFd(fd: number): void {
  if (fd >= 0) lib().close(fd);
}

/** Creates `name` exclusively in dirFd (never following a symlink); returns the fd. */
export function createExclusive(dirFd: number, name: string, mode: number): number {
  const fd = lib().openat(dirFd, ptr(cstr(name)), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0o7777);
  if (fd < 0) fail("open", name);
  return fd;
}

/** Opens `name` in dirFd for reading, refusing a symlink. */
export function openReadAt(dirFd: number, name: string): number {
  const fd = lib().openat(dirFd, ptr(cstr(name)), O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) fail("open", name);
  return fd;
}

/** Writes all of buf[off, off+len) to fd. */
export function writeAll(fd: number, buf: Uint8Array, off = 0, len = buf.length - off, what = "write"): void {
  const l = lib();
  while (len > 0) {
    const n = Number(l.write(fd, ptr(buf, off), len));
    if (n < 0) {
      if (errno() === "EINTR") continue;
      fail("write", what);
    }
    off += n;
    len -= n;
  }
}

/** Reads up to len bytes into buf at off; returns the count (0 at end of file). */
export function readSome(fd: number, buf: Uint8Array, off: number, len: number, what = "read"): number {
  const l = lib();
  for (;;) {
    const n = Number(l.read(fd, ptr(buf, off), len));
    if (n >= 0) return n;
    if (errno() !== "EINTR") fail("read", what);
  }
}

/** Sets permission bits unless the create mode already produced them (umask). */
export function fchmodIfNeeded(fd: number, mode: number, what: string): void {
  const m = mode & 0o7777;
  lib();
  if ((m & ~processMask) !== m || m & 0o7000) {
    if (libc!.fchmod(fd, m) < 0) fail("fchmod", what);
  }
}

export function fchmod(fd: number, mode: number, what: string): void {
  if (lib().fchmod(fd, mode & 0o7777) < 0) fail("fchmod", what);
}

function setTimes(sec: number, nsec: number) {
  times[0] = 0;
  times[1] = 0;
  times[2] = UTIME_OMIT;
  times[3] = 0;
  times[4] = sec | 0;
  times[5] = Math.floor(sec / 0x100000000);
  times[6] = nsec;
  times[7] = 0;
}

/** Sets the mtime of an open file (atime untouched). */
export function futimes(fd: number, sec: number, nsec: number, what: string): void {
  setTimes(sec, nsec);
  if (lib().futimens(fd, ptr(timesBuf)) < 0) fail("futimens", what);
}

/** Sets the mtime of `name` in dirFd without following a final symlink. */
export function utimesAt(dirFd: number, name: string, sec: number, nsec: number): void {
  setTimes(sec, nsec);
  if (lib().utimensat(dirFd, ptr(cstr(name)), ptr(timesBuf), AT_SYMLINK_NOFOLLOW) < 0) fail("utimensat", name);
}

/** mkdirat; EEXIST is reported as an FsError like any other code. */
export function mkdirAt(dirFd: number, name: string, mode: number): void {
  if (lib().mkdirat(dirFd, ptr(cstr(name)), mode & 0o7777) < 0) fail("mkdir", name);
}

export function renameAt(dirFd: number, from: string, to: string): void {
  if (lib().renameat(dirFd, ptr(cstr(from)), dirFd, ptr(cstr(to))) < 0) fail("rename", to);
}

/** Removes `name` from dirFd; never follows a symlink (unlinkat does not). */
export function unlinkAt(dirFd: number, name: string, isDir = false): void {
  if (lib().unlinkat(dirFd, ptr(cstr(name)), isDir ? AT_REMOVEDIR : 0) < 0) fail("unlink", name);
}

/** Removes `name` from dirFd, ignoring errors (cleanup of temporaries). */
export function unlinkQuiet(dirFd: number, name: string): void {
  lib().unlinkat(dirFd, ptr(cstr(name)), 0);
}

export function symlinkAt(target: string, dirFd: number, name: string): void {
  if (lib().symlinkat(ptr(cstr(target)), dirFd, ptr(cstr(name))) < 0) fail("symlink", name);
}

/** The process umask (read once). */
export function umaskOf(): number {
  lib();
  return processMask;
}
