// The Linux RootedDir (rooted.ts): the root is an open directory fd; a path below it is resolved
// with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) from that fd (or,
// before kernel 5.6, a walk that opens each component with O_NOFOLLOW), and the last name is then
// used with the *at call of its parent's fd. The check and the use are the same system call, so a
// directory another user swaps for a symlink at any moment makes the operation fail with ELOOP,
// never act elsewhere. /proc/self/fd/N is used only here in ffi/, where the kernel offers no *at
// call that leaves a symlink alone (chmod of an entry through an O_PATH fd).
import { ptr } from "bun:ffi";
import { describeCode } from "./errno.ts";
import { FsError } from "./types.ts";
import { createLinuxDirReader } from "./dir-reader-linux.ts";
import type { EntryStat } from "./dir-reader.ts";
import { AT_FDCWD, AT_REMOVEDIR, cstr, errno, fail, libc, O_CLOEXEC, O_DIRECTORY, O_RDONLY } from "./libc.ts";
import {
  chmodAt, closeFd, createExclusive, dupFd, fchmod, fchmodIfNeeded, futimes, openat2, openat2Available, openBeneath, openFileBeneath, readSome,
  RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, utimesAt, writeAll, cloneFd, readSomeAt, writeAllAt,
} from "./openat2.ts";
import { chownAt } from "./owners.ts";
import { isPlainName, relParts, splitRel } from "./rooted-path.ts";
import type { RootedDir, RootedFile } from "./rooted.ts";
import { mknodAt, type SpecialKind } from "./specials.ts";

const reader = createLinuxDirReader();
const RENAME_EXCHANGE = 2;

class LinuxFile implements RootedFile {
  constructor(public fd: number, private readonly what: string) {}
  read(buf: Uint8Array, off: number, len: number): number {
    return readSome(this.fd, buf, off, len, this.what);
  }
  write(buf: Uint8Array, off = 0, len = buf.length - off): void {
    writeAll(this.fd, buf, off, len, this.what);
  }
  readAt(buf: Uint8Array, off: number, len: number, pos: number): number {
    return readSomeAt(this.fd, buf, off, len, pos, this.what);
  }
  writeAt(buf: Uint8Array, off: number, len: number, pos: number): void {
    writeAllAt(this.fd, buf, off, len, pos, this.what);
  }
  cloneFrom(src: RootedFile): boolean {
    return cloneFd(this.fd, src.fd);
  }
  setMode(mode: number, always = false): void {
    if (always) fchmod(this.fd, mode, this.what);
    else fchmodIfNeeded(this.fd, mode, this.what);
  }
  setTimes(mtimeSec: number, mtimeNsec: number): void {
    futimes(this.fd, mtimeSec, mtimeNsec, this.what);
  }
  close(): void {
    closeFd(this.fd);
    this.fd = -1;
  }
}

export class LinuxRooted implements RootedDir {
  readonly impl = "linux" as const;
  private open = true;
  constructor(readonly fd: number, private readonly owns: boolean) {}

  handoff(): number {
    return this.fd;
  }

  /** Runs f on (fd of rel's parent, rel's last name); "" is (root, "."). */
  private at<T>(rel: string, op: string, f: (dfd: number, name: string) => T): T {
    if (isPlainName(rel)) return f(this.fd, rel); // a name in this directory: no walk (the common case, per file)
    if (relParts(rel, op).length === 0) return f(this.fd, ".");
    const [dir, name] = splitRel(rel, op);
    const dfd = dir === "" ? this.fd : openBeneath(this.fd, dir, O_RDONLY | O_DIRECTORY);
    try {
      return f(dfd, name);
    } finally {
      if (dfd !== this.fd) closeFd(dfd);
    }
  }

  /** Like at() for an operation that cannot act on the root itself. */
  private entry<T>(rel: string, op: string, f: (dfd: number, name: string) => T): T {
    if (isPlainName(rel)) return f(this.fd, rel);
    splitRel(rel, op);
    return this.at(rel, op, f);
  }

  openDir(rel: string): RootedDir {
    relParts(rel, "open");
    return new LinuxRooted(rel === "" ? dupFd(this.fd) : openBeneath(this.fd, rel, O_RDONLY | O_DIRECTORY), true);
  }

  openRootBelow(rel: string): RootedDir {
    relParts(rel, "open");
    const flags = O_RDONLY | O_DIRECTORY;
    return new LinuxRooted(openat2Available() ? openat2(this.fd, rel, flags, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) : openBeneath(this.fd, rel, flags), true);
  }

  openFile(rel: string): RootedFile {
    splitRel(rel, "open");
    return new LinuxFile(openFileBeneath(this.fd, rel), rel);
  }

  createFile(rel: string, mode: number): RootedFile {
    return this.entry(rel, "open", (dfd, name) => new LinuxFile(createExclusive(dfd, name, mode), rel));
  }

  names(rel = ""): string[] {
    relParts(rel, "opendir");
    const fd = rel === "" ? this.fd : openBeneath(this.fd, rel, O_RDONLY | O_DIRECTORY);
    try {
      const d = reader.fromFd(fd);
      try {
        return d.names();
      } finally {
        d.close();
      }
    } finally {
      if (fd !== this.fd) closeFd(fd);
    }
  }

  lstat(rel: string): EntryStat {
    return this.at(rel, "lstat", (dfd, name) => {
      const d = reader.fromFd(dfd);
      try {
        return d.stat(name);
      } catch (err) {
        throw relabel(err, rel);
      } finally {
        d.close();
      }
    });
  }

  readlink(rel: string): string {
    return this.entry(rel, "readlink", (dfd, name) => {
      const d = reader.fromFd(dfd);
      try {
        return d.readlink(name);
      } catch (err) {
        throw relabel(err, rel);
      } finally {
        d.close();
      }
    });
  }

  mkdir(rel: string, mode: number): void {
    this.entry(rel, "mkdir", (dfd, name) => {
      if (libc().mkdirat(dfd, ptr(cstr(name)), mode & 0o7777) < 0) fail("mkdir", rel);
    });
  }

  symlink(target: string, rel: string): void {
    this.entry(rel, "symlink", (dfd, name) => {
      if (libc().symlinkat(ptr(cstr(target)), dfd, ptr(cstr(name))) < 0) fail("symlink", rel);
    });
  }

  mknod(rel: string, kind: SpecialKind, mode: number, rdev: bigint = 0n): void {
    this.entry(rel, "mknod", (dfd, name) => mknodAt(dfd, name, kind, mode, rdev));
  }

  link(existing: string, rel: string): void {
    this.entry(existing, "link", (odfd, oname) =>
      this.entry(rel, "link", (ndfd, nname) => {
        if (libc().linkat(odfd, ptr(cstr(oname)), ndfd, ptr(cstr(nname)), 0) < 0) fail("link", rel);
      }),
    );
  }

  rename(from: string, to: string): void {
    this.entry(from, "rename", (fdfd, fname) =>
      this.entry(to, "rename", (tdfd, tname) => {
        if (libc().renameat(fdfd, ptr(cstr(fname)), tdfd, ptr(cstr(tname))) < 0) fail("rename", to);
      }),
    );
  }

  exchange(a: string, b: string): boolean {
    return this.entry(a, "rename", (adfd, aname) =>
      this.entry(b, "rename", (bdfd, bname) => {
        if (libc().renameat2(adfd, ptr(cstr(aname)), bdfd, ptr(cstr(bname)), RENAME_EXCHANGE) === 0) return true;
        const code = errno();
        if (code === "EINVAL" || code === "ENOSYS" || code === "EOPNOTSUPP") return false;
        fail("rename", b);
      }),
    );
  }

  unlink(rel: string, isDir = false): void {
    this.entry(rel, "unlink", (dfd, name) => {
      if (libc().unlinkat(dfd, ptr(cstr(name)), isDir ? AT_REMOVEDIR : 0) < 0) fail(isDir ? "rmdir" : "unlink", rel);
    });
  }

  unlinkQuiet(rel: string): void {
    try {
      this.unlink(rel);
    } catch {}
  }

  chmod(rel: string, mode: number): void {
    this.at(rel, "chmod", (dfd, name) => {
      try {
        chmodAt(dfd, name, mode);
      } catch (err) {
        throw relabel(err, rel);
      }
    });
  }

  utimes(rel: string, mtimeSec: number, mtimeNsec: number): void {
    this.at(rel, "utimes", (dfd, name) => {
      try {
        utimesAt(dfd, name, mtimeSec, mtimeNsec);
      } catch (err) {
        throw relabel(err, rel);
      }
    });
  }

  chown(rel: string, uid: number | undefined, gid: number | undefined): void {
    this.at(rel, "chown", (dfd, name) => {
      try {
        chownAt(dfd, name, uid, gid);
      } catch (err) {
        throw relabel(err, rel);
      }
    });
  }

  close(): void {
    if (this.open && this.owns) closeFd(this.fd);
    this.open = false;
  }
}

/** The same error naming the whole relative path instead of the last name. */
function relabel(err: unknown, rel: string): unknown {
  if (err instanceof FsError && err.path !== rel) return new FsError(err.code, err.syscall, rel, describeCode(err.code));
  return err;
}

/** Opens the trusted directory `path` (a module's configured path, a destination the user named) as a root. */
export function openLinuxRooted(path: string): LinuxRooted {
  const fd = libc().openat(AT_FDCWD, ptr(cstr(path)), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) fail("open", path);
  return new LinuxRooted(fd, true);
}

/**
 * renameat or linkat (never following the entry) between two directory fds: `name` in `fromFd`
 * becomes `toName` in `toFd`. Both names are single components, so nothing is resolved.
 */
export function moveBetweenFds(how: "rename" | "link", fromFd: number, name: string, toFd: number, toName: string): void {
  const rc = how === "rename"
    ? libc().renameat(fromFd, ptr(cstr(name)), toFd, ptr(cstr(toName)))
    : libc().linkat(fromFd, ptr(cstr(name)), toFd, ptr(cstr(toName)), 0);
  if (rc < 0) fail(how, toName);
}
