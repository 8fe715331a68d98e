// The portable RootedDir (rooted.ts): node:fs on path strings (byte-exact through name-bytes.ts),
// for systems without the Linux calls (on Linux only the contract suite uses it). Before each
// operation every directory component of the path is lstat'ed from the root down, and a symlink or non-directory
// among them is refused (ELOOP / ENOTDIR); final names are used with the calls that do not follow
// a symlink (lstat, lutimes, lchown, rename, unlink, open with O_NOFOLLOW where the OS has it).
//
// THE RACE IT CANNOT CLOSE: the check and the use are separate system calls on a path. Another
// user who can write to a directory below the root and swaps one of its subdirectories for a
// symlink between the lstat and the operation makes that operation act where the symlink points,
// possibly outside the root. Only an implementation with directory handles and beneath-only
// resolution (rooted-linux.ts; on other systems openat with O_NOFOLLOW per component, or
// Windows handles with FILE_FLAG_OPEN_REPARSE_POINT) closes it. So on a system that uses this
// implementation, a blitd module or a pull destination must not be writable by untrusted users.
// test/ffi/rooted.contract.test.ts skips its swap attack for this implementation for that reason.
import {
  closeSync, constants, fchmodSync, fstatSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync,
  readSync, renameSync, rmdirSync, statSync, symlinkSync, unlinkSync, writeSync, chmodSync,
} from "node:fs";
import { createPortableDirReader } from "./dir-reader-portable.ts";
import type { EntryStat } from "./dir-reader.ts";
import { describeCode } from "./errno.ts";
import { fsPath } from "./name-bytes.ts";
import { nameFs } from "./name-path.ts";
import { fsTime, toFsError } from "./portable.ts";
import { relParts, splitRel } from "./rooted-path.ts";
import type { RootedDir, RootedFile } from "./rooted.ts";
import type { SpecialKind } from "./specials.ts";
import { FsError } from "./types.ts";

const reader = createPortableDirReader();
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
let umask: number | undefined;
const processUmask = () => (umask ??= process.platform === "win32" ? 0 : process.umask());

function attempt<T>(syscall: string, rel: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toFsError(err, syscall, rel);
  }
}

class PortableFile implements RootedFile {
  constructor(public fd: number, private readonly what: string) {}
  read(buf: Uint8Array, off: number, len: number): number {
    return attempt("read", this.what, () => readSync(this.fd, buf, off, len, null));
  }
  write(buf: Uint8Array, off = 0, len = buf.length - off): void {
    while (len > 0) {
      const n = attempt("write", this.what, () => writeSync(this.fd, buf, off, len));
      off += n;
      len -= n;
    }
  }
  readAt(buf: Uint8Array, off: number, len: number, pos: number): number {
    return attempt("read", this.what, () => readSync(this.fd, buf, off, len, pos));
  }
  writeAt(buf: Uint8Array, off: number, len: number, pos: number): void {
    while (len > 0) {
      const n = attempt("write", this.what, () => writeSync(this.fd, buf, off, len, pos));
      off += n;
      len -= n;
      pos += n;
    }
  }
  cloneFrom(): boolean {
    return false; // node:fs has no fd-to-fd clone; callers copy instead
  }
  setMode(mode: number, always = false): void {
    const m = mode & 0o7777;
    if (always || (m & ~processUmask()) !== m || m & 0o7000) attempt("fchmod", this.what, () => fchmodSync(this.fd, m));
  }
  setTimes(mtimeSec: number, mtimeNsec: number): void {
    attempt("futimes", this.what, () => futimesSync(this.fd, fstatSync(this.fd).atime, fsTime(mtimeSec, mtimeNsec)));
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export class PortableRooted implements RootedDir {
  readonly impl = "portable" as const;
  readonly fd = undefined;
  /** `root` is a trusted directory path (the root itself is not checked for symlinks). */
  constructor(private readonly root: string) {}

  handoff(): string {
    return this.root;
  }

  /**
   * The path of `rel` after checking, from the root down, that each directory on the way (not
   * the last name) is a real directory. Racy: see the header.
   */
  private path(rel: string, op: string, checkLast = false): string {
    const parts = relParts(rel, op);
    let p = this.root;
    const upTo = checkLast ? parts.length : parts.length - 1;
    for (let k = 0; k < parts.length; k++) {
      p = p.endsWith("/") ? p + parts[k] : `${p}/${parts[k]}`;
      if (k < upTo) this.requireDir(p, parts.slice(0, k + 1).join("/"), op);
    }
    return p;
  }

  private requireDir(path: string, label: string, op: string): void {
    const st = attempt(op, label, () => lstatSync(fsPath(path)));
    if (st.isSymbolicLink()) throw new FsError("ELOOP", op, label, "a symlink below the root is never followed");
    if (!st.isDirectory()) throw new FsError("ENOTDIR", op, label, describeCode("ENOTDIR"));
  }

  private entry(rel: string, op: string): string {
    splitRel(rel, op);
    return this.path(rel, op);
  }

  openDir(rel: string): RootedDir {
    return new PortableRooted(this.path(rel, "open", true));
  }

  openRootBelow(rel: string): RootedDir {
    relParts(rel, "open");
    // realpath, then a prefix check: racy like everything here (see the header).
    const real = attempt("open", rel, () => nameFs.realpathSync(rel === "" ? this.root : `${this.root}/${rel}`));
    const base = attempt("open", ".", () => nameFs.realpathSync(this.root));
    if (real !== base && !real.startsWith(base.endsWith("/") ? base : `${base}/`)) throw new FsError("EXDEV", "open", rel, "path leads outside its root");
    if (!attempt("open", rel, () => statSync(fsPath(real))).isDirectory()) throw new FsError("ENOTDIR", "open", rel, describeCode("ENOTDIR"));
    return new PortableRooted(real);
  }

  openFile(rel: string): RootedFile {
    const p = this.entry(rel, "open");
    const fd = attempt("open", rel, () => openSync(fsPath(p), constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new FsError("NOT_REGULAR", "open", rel, "not a regular file (FIFOs, sockets and devices are never read)");
    } catch (err) {
      closeSync(fd);
      throw toFsError(err, "fstat", rel);
    }
    return new PortableFile(fd, rel);
  }

  createFile(rel: string, mode: number): RootedFile {
    const p = this.entry(rel, "open");
    const flags = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
    return new PortableFile(attempt("open", rel, () => openSync(fsPath(p), flags, mode & 0o7777)), rel);
  }

  names(rel = ""): string[] {
    const p = this.path(rel, "opendir", true);
    const d = reader.open(p);
    try {
      return d.names();
    } catch (err) {
      throw toFsError(err, "scandir", rel || ".");
    } finally {
      d.close();
    }
  }

  lstat(rel: string): EntryStat {
    const p = this.path(rel, "lstat");
    const k = p.lastIndexOf("/");
    // The root itself describes itself; any other entry is described from its parent.
    const d = reader.open(rel === "" || k <= 0 ? p : p.slice(0, k));
    try {
      return rel === "" ? d.self() : d.stat(p.slice(k + 1));
    } catch (err) {
      throw toFsError(err, "lstat", rel || ".");
    } finally {
      d.close();
    }
  }

  readlink(rel: string): string {
    const p = this.entry(rel, "readlink");
    const k = p.lastIndexOf("/");
    const d = reader.open(p.slice(0, k));
    try {
      return d.readlink(p.slice(k + 1));
    } catch (err) {
      throw toFsError(err, "readlink", rel);
    } finally {
      d.close();
    }
  }

  mkdir(rel: string, mode: number): void {
    const p = this.entry(rel, "mkdir");
    attempt("mkdir", rel, () => mkdirSync(fsPath(p), { mode: mode & 0o7777 }));
  }

  symlink(target: string, rel: string): void {
    const p = this.entry(rel, "symlink");
    attempt("symlink", rel, () => symlinkSync(fsPath(target), fsPath(p)));
  }

  mknod(rel: string, kind: SpecialKind): void {
    this.entry(rel, "mknod");
    throw new FsError("EOPNOTSUPP", "mknod", rel, `creating a ${kind} is supported on Linux only`);
  }

  link(existing: string, rel: string): void {
    const from = this.entry(existing, "link");
    const to = this.entry(rel, "link");
    attempt("link", rel, () => linkSync(fsPath(from), fsPath(to)));
  }

  rename(from: string, to: string): void {
    const a = this.entry(from, "rename");
    const b = this.entry(to, "rename");
    attempt("rename", to, () => renameSync(fsPath(a), fsPath(b)));
  }

  exchange(a: string, b: string): boolean {
    this.entry(a, "rename");
    this.entry(b, "rename");
    return false;
  }

  unlink(rel: string, isDir = false): void {
    const p = this.entry(rel, "unlink");
    attempt(isDir ? "rmdir" : "unlink", rel, () => (isDir ? rmdirSync(fsPath(p)) : unlinkSync(fsPath(p))));
  }

  unlinkQuiet(rel: string): void {
    try {
      this.unlink(rel);
    } catch {}
  }

  chmod(rel: string, mode: number): void {
    const p = this.path(rel, "chmod");
    if (attempt("chmod", rel || ".", () => lstatSync(fsPath(p))).isSymbolicLink()) {
      throw new FsError("EOPNOTSUPP", "chmod", rel, "a symlink has no permission bits of its own");
    }
    attempt("chmod", rel || ".", () => chmodSync(fsPath(p), mode & 0o7777));
  }

  utimes(rel: string, mtimeSec: number, mtimeNsec: number): void {
    const p = this.path(rel, "utimes");
    attempt("utimes", rel || ".", () => lutimesSync(fsPath(p), lstatSync(fsPath(p)).atime, fsTime(mtimeSec, mtimeNsec)));
  }

  chown(rel: string, uid: number | undefined, gid: number | undefined): void {
    const p = this.path(rel, "chown");
    attempt("chown", rel || ".", () => lchownSync(fsPath(p), uid ?? -1, gid ?? -1));
  }

  close(): void {}
}

/** The trusted directory `path` as a root (a symlink at `path` itself is followed). */
export function openPortableRooted(path: string): PortableRooted {
  if (!attempt("open", path, () => statSync(fsPath(path))).isDirectory()) throw new FsError("ENOTDIR", "open", path, describeCode("ENOTDIR"));
  return new PortableRooted(path);
}

/** rename or link (the entry itself) between two portable roots' directories, by path (the race of this file's header applies). */
export function moveBetweenPaths(how: "rename" | "link", fromDir: string, name: string, toDir: string, toName: string): void {
  const a = fsPath(`${fromDir}/${name}`);
  const b = fsPath(`${toDir}/${toName}`);
  attempt(how, toName, () => (how === "rename" ? renameSync(a, b) : linkSync(a, b)));
}
