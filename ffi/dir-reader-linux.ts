// The Linux directory reader: openat(O_NOFOLLOW|O_DIRECTORY) relative to the parent's fd,
// getdents64 for the names, statx(AT_SYMLINK_NOFOLLOW) and readlinkat for the entries.
// Buffers handed to the kernel are views of a real ArrayBuffer, and ptr() is taken at each call.
import { ptr } from "bun:ffi";
import type { DirHandle, DirReader, EntryStat } from "./dir-reader.ts";
import {
  AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, cstr, fail, getdents64, libc, O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY,
} from "./libc.ts";
import { nameFromBuffer, nameFromBytes } from "./name-bytes.ts";
import { makeDev, specialKind } from "./specials.ts";
import { FsError } from "./types.ts";

/** STATX_BASIC_STATS: type, mode, nlink, uid, gid, times, ino, size, blocks. */
const STATX_BASIC = 0x7ff;
const PATH_MAX = 4096;

// One set of buffers per thread: calls are synchronous, so no two share them at once.
const statBuf = new Uint8Array(new ArrayBuffer(256));
const statView = new DataView(statBuf.buffer);
const linkBuf = new Uint8Array(new ArrayBuffer(PATH_MAX + 1));
const dentBuf = Buffer.from(new ArrayBuffer(128 << 10));
const dentView = new DataView(dentBuf.buffer);
const EMPTY = cstr("");
const nameBuf = new Uint8Array(new ArrayBuffer(PATH_MAX * 3 + 1));
const enc = new TextEncoder();
/** `name` NUL-terminated in nameBuf: no allocation per entry for a well-formed name (a walk stats every one). */
function cname(name: string): Uint8Array {
  if (name.length > PATH_MAX || !name.isWellFormed()) return cstr(name);
  const { written } = enc.encodeInto(name, nameBuf);
  nameBuf[written] = 0;
  return nameBuf;
}

/** For a FIFO, socket or device: its kind and st_rdev (statx rdev_major, rdev_minor). */
function special(mode: number, major: number, minor: number): EntryStat["special"] {
  const kind = specialKind(mode);
  return kind ? { kind, rdev: kind === "char" || kind === "block" ? makeDev(major, minor) : 0n } : undefined;
}

/** The entry statBuf holds. */
function parseStatx(): EntryStat {
  const v = statView;
  const mode = v.getUint16(28, true);
  const fmt = mode & 0o170000;
  const major = v.getUint32(136, true);
  const minor = v.getUint32(140, true);
  const type = fmt === 0o100000 ? "file" : fmt === 0o040000 ? "dir" : fmt === 0o120000 ? "symlink" : "other";
  // One object shape for every entry (no spread): this runs once per entry of every walk.
  return {
    type,
    size: v.getUint32(40, true) + v.getUint32(44, true) * 0x100000000,
    mode: mode & 0o7777,
    mtimeSec: v.getUint32(112, true) + v.getInt32(116, true) * 0x100000000,
    mtimeNsec: v.getUint32(120, true),
    dev: makedev(major, minor),
    ino: v.getBigUint64(32, true),
    nlink: v.getUint32(16, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    blocks: v.getUint32(48, true) + v.getUint32(52, true) * 0x100000000,
    special: type === "other" ? special(mode, v.getUint32(128, true), v.getUint32(132, true)) : undefined,
  };
}

/** glibc's makedev, so dev matches what stat(2) and node:fs report. */
function makedev(major: number, minor: number): number {
  return Math.floor(major / 0x1000) * 0x1000 * 0x100000000 + (major & 0xfff) * 0x100 + Math.floor(minor / 0x100) * 0x100000 + (minor & 0xff);
}

class LinuxDir implements DirHandle {
  constructor(private fd: number, private readonly label: string) {}

  private entry(name: string): string {
    return this.label === "" ? name : `${this.label}/${name}`;
  }

  names(): string[] {
    const out: string[] = [];
    for (;;) {
      const n = getdents64(this.fd, dentBuf);
      if (n < 0) fail("getdents64", this.label || ".");
      if (n === 0) return out;
      for (let off = 0; off < n; ) {
        const reclen = dentView.getUint16(off + 16, true);
        const start = off + 19;
        let end = dentBuf.indexOf(0, start);
        if (end < 0 || end > off + reclen) end = off + reclen;
        off += reclen;
        const len = end - start;
        if (dentBuf[start] === 0x2e && (len === 1 || (len === 2 && dentBuf[start + 1] === 0x2e))) continue;
        out.push(nameFromBuffer(dentBuf, start, end));
      }
    }
  }

  stat(name: string): EntryStat {
    if (libc().statx(this.fd, ptr(cname(name)), AT_SYMLINK_NOFOLLOW, STATX_BASIC, ptr(statBuf)) < 0) fail("lstat", this.entry(name));
    return parseStatx();
  }

  readlink(name: string): string {
    const n = Number(libc().readlinkat(this.fd, ptr(cstr(name)), ptr(linkBuf), linkBuf.length));
    if (n < 0) fail("readlink", this.entry(name));
    return nameFromBytes(linkBuf.subarray(0, n));
  }

  openDir(name: string): DirHandle {
    const fd = libc().openat(this.fd, ptr(cstr(name)), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0) fail("open", this.entry(name));
    return new LinuxDir(fd, this.entry(name));
  }

  readFile(name: string, max: number): Uint8Array {
    // O_NONBLOCK: a FIFO put there must not block the walk; it is refused by type below.
    const fd = libc().openat(this.fd, ptr(cstr(name)), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0) fail("open", this.entry(name));
    try {
      if (libc().statx(fd, ptr(EMPTY), AT_EMPTY_PATH, STATX_BASIC, ptr(statBuf)) < 0) fail("stat", this.entry(name));
      const st = parseStatx();
      if (st.type !== "file") throw new FsError("NOT_REGULAR", "open", this.entry(name), "not a regular file");
      if (st.size > max) throw new FsError("EFBIG", "read", this.entry(name), `larger than ${max} bytes`);
      const out = new Uint8Array(new ArrayBuffer(max + 1));
      let n = 0;
      while (n <= max) {
        const got = Number(libc().read(fd, ptr(out, n), out.length - n));
        if (got < 0) fail("read", this.entry(name));
        if (got === 0) break;
        n += got;
      }
      if (n > max) throw new FsError("EFBIG", "read", this.entry(name), `larger than ${max} bytes`);
      return out.subarray(0, n);
    } finally {
      libc().close(fd);
    }
  }

  self(): EntryStat {
    if (libc().statx(this.fd, ptr(EMPTY), AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC, ptr(statBuf)) < 0) fail("stat", this.label || ".");
    return parseStatx();
  }

  close(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
  }
}

export function createLinuxDirReader(): DirReader {
  return {
    name: "linux",
    open(path: string): DirHandle {
      const fd = libc().openat(AT_FDCWD, ptr(cstr(path)), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
      if (fd < 0) fail("open", path);
      return new LinuxDir(fd, "");
    },
    fromFd(fd: number): DirHandle {
      // A fresh open file description: reading names moves its offset, and the caller's stays put.
      const own = libc().openat(fd, ptr(cstr(".")), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
      if (own < 0) fail("open", ".");
      return new LinuxDir(own, "");
    },
  };
}
