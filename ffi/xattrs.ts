// Extended attributes (Linux, through libc): what `rsync -X` keeps, and POSIX ACLs, which the
// kernel stores as the attributes system.posix_acl_access / system.posix_acl_default, so copying
// their raw values is what `rsync -A` keeps.
//
// An open fd uses the f*xattr calls. An entry named in a directory fd (a symlink, a FIFO, a
// device: things that must not be opened for reading) is opened with O_PATH | O_NOFOLLOW, which
// never follows a symlink and has no side effect on a device, and its attributes are reached
// through `/proc/self/fd/N`. The f*xattr calls refuse an O_PATH fd (EBADF), and the l*xattr calls
// on `/proc/self/fd/N` act on that magic link itself (they list nothing), so the following calls
// are used: the kernel resolves the magic link to the very inode the fd holds (the symlink
// itself, not its target; tested in test/ffi/xattrs.test.ts), with no path lookup left to race.
import { ptr } from "bun:ffi";
import { describeCode } from "./errno.ts";
import { cstr, errno, fail, libc, O_CLOEXEC, O_NOFOLLOW, O_PATH } from "./libc.ts";
import { metadataPrivileges } from "./privileges.ts";
import { FsError } from "./types.ts";

/** One extended attribute. A plain object: it can be posted between threads and encoded on a wire. */
export interface Xattr {
  name: string;
  value: Uint8Array;
}

/** Which attributes a copy keeps, as rsync decides it. */
export interface XattrSelection {
  /** `-X`: user.*; also trusted.* and security.* when `privileged`. */
  xattrs: boolean;
  /** `-A`: the POSIX ACLs (system.posix_acl_access, system.posix_acl_default). */
  acls: boolean;
  /**
   * trusted.* and security.* need CAP_SYS_ADMIN to read or set, so an unprivileged copy leaves
   * them out, as rsync does. @default metadataPrivileges().systemXattrs
   */
  privileged?: boolean;
}

export const ACL_ACCESS = "system.posix_acl_access";
export const ACL_DEFAULT = "system.posix_acl_default";

/** True when `sel` keeps the attribute `name`. Other system.* attributes are never copied. */
export function xattrSelected(name: string, sel: XattrSelection): boolean {
  if (name === ACL_ACCESS || name === ACL_DEFAULT) return sel.acls;
  if (name.startsWith("user.")) return sel.xattrs;
  if (name.startsWith("trusted.") || name.startsWith("security.")) {
    return sel.xattrs && (sel.privileged ?? metadataPrivileges().systemXattrs);
  }
  return false;
}

/** The kernel caps a name list and a value at 64 KiB (XATTR_LIST_MAX, XATTR_SIZE_MAX). */
const XATTR_MAX = 65536;
// One buffer per thread for lists and values (a view of a real ArrayBuffer; see libc.ts).
let scratch: Uint8Array | undefined;
const buffer = () => (scratch ??= new Uint8Array(new ArrayBuffer(XATTR_MAX)));
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The calls on one target: an open fd, or a path that names it (/proc/self/fd/N). */
interface Target {
  what: string;
  list(buf: Uint8Array, len: number): number;
  get(name: Uint8Array, buf: Uint8Array, len: number): number;
  set(name: Uint8Array, value: Uint8Array): number;
  remove(name: Uint8Array): number;
}

function fdTarget(fd: number, what: string): Target {
  const l = libc();
  return {
    what,
    list: (buf, len) => Number(l.flistxattr(fd, ptr(buf), len)),
    get: (name, buf, len) => Number(l.fgetxattr(fd, ptr(name), ptr(buf), len)),
    set: (name, value) => l.fsetxattr(fd, ptr(name), value.length ? ptr(value) : null, value.length, 0),
    remove: (name) => l.fremovexattr(fd, ptr(name)),
  };
}

function procTarget(pathFd: number, what: string): Target {
  const l = libc();
  const path = cstr(`/proc/self/fd/${pathFd}`);
  return {
    what,
    list: (buf, len) => Number(l.listxattr(ptr(path), ptr(buf), len)),
    get: (name, buf, len) => Number(l.getxattr(ptr(path), ptr(name), ptr(buf), len)),
    set: (name, value) => l.setxattr(ptr(path), ptr(name), value.length ? ptr(value) : null, value.length, 0),
    remove: (name) => l.removexattr(ptr(path), ptr(name)),
  };
}

function listNames(t: Target): string[] {
  const buf = buffer();
  const n = t.list(buf, buf.length);
  if (n < 0) {
    // A filesystem without extended attributes has none to keep.
    if (errno() === "EOPNOTSUPP") return [];
    fail("listxattr", t.what);
  }
  const names: string[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    if (buf[i] !== 0) continue;
    if (i > start) {
      try {
        names.push(strictUtf8.decode(buf.subarray(start, i)));
      } catch {
        throw new FsError("EILSEQ", "listxattr", t.what, "an extended attribute name is not valid UTF-8");
      }
    }
    start = i + 1;
  }
  return names;
}

function readSelected(t: Target, sel: XattrSelection | undefined): Xattr[] {
  const out: Xattr[] = [];
  const buf = buffer();
  for (const name of listNames(t)) {
    if (sel && !xattrSelected(name, sel)) continue;
    const n = t.get(cstr(name), buf, buf.length);
    if (n < 0) {
      // Removed since it was listed: it is not there to keep.
      if (errno() === "ENODATA") continue;
      fail("getxattr", `${t.what} (${name})`);
    }
    out.push({ name, value: buf.slice(0, n) });
  }
  return out;
}

/**
 * Sets every attribute of `attrs`; with `sel`, also removes the attributes `sel` covers that
 * `attrs` lacks (a default ACL the new file inherited, say), so the result is exactly `attrs`.
 * Returns true when an ACL was set or removed (which changes the group bits of the mode).
 */
function writeAll(t: Target, attrs: readonly Xattr[], sel: XattrSelection | undefined): boolean {
  let acl = false;
  for (const a of attrs) {
    if (t.set(cstr(a.name), a.value) < 0) {
      const code = errno();
      throw new FsError(code, "setxattr", t.what, `${a.name}: ${describeCode(code)}`);
    }
    acl ||= isAcl(a.name);
  }
  if (!sel) return acl;
  const keep = new Set(attrs.map((a) => a.name));
  for (const name of listNames(t)) {
    if (keep.has(name) || !xattrSelected(name, sel)) continue;
    if (t.remove(cstr(name)) < 0 && errno() !== "ENODATA") fail("removexattr", `${t.what} (${name})`);
    acl ||= isAcl(name);
  }
  return acl;
}

const isAcl = (name: string) => name === ACL_ACCESS || name === ACL_DEFAULT;

/** Names of the extended attributes of an open file or directory ([] where the filesystem has none). */
export function listXattrs(fd: number, what = `fd ${fd}`): string[] {
  return listNames(fdTarget(fd, what));
}

/** The attributes of an open file or directory; only those `sel` keeps when given. */
export function readXattrs(fd: number, sel?: XattrSelection, what = `fd ${fd}`): Xattr[] {
  return readSelected(fdTarget(fd, what), sel);
}

/**
 * Gives an open file or directory the attributes `attrs`. With `sel`, attributes of the kinds
 * `sel` keeps that `attrs` lacks are removed. Throws FsError (EOPNOTSUPP where the filesystem
 * takes none, EPERM for a namespace this process may not write). Returns true when an ACL was
 * set or removed: that changes the group bits of the mode, so a caller keeping the mode sets it after.
 */
export function writeXattrs(fd: number, attrs: readonly Xattr[], sel?: XattrSelection, what = `fd ${fd}`): boolean {
  return writeAll(fdTarget(fd, what), attrs, sel);
}

/** Opens `name` in dirFd as O_PATH without following it; the caller closes the fd. */
export function openPathAt(dirFd: number, name: string): number {
  const fd = libc().openat(dirFd, ptr(cstr(name)), O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) fail("open", name);
  return fd;
}

/** readXattrs for an O_PATH fd (openPathAt), which may hold a symlink, a FIFO or a device. */
export function readPathFdXattrs(pathFd: number, sel?: XattrSelection, what = `fd ${pathFd}`): Xattr[] {
  return readSelected(procTarget(pathFd, what), sel);
}

/** writeXattrs for an O_PATH fd (openPathAt). */
export function writePathFdXattrs(pathFd: number, attrs: readonly Xattr[], sel?: XattrSelection, what = `fd ${pathFd}`): boolean {
  return writeAll(procTarget(pathFd, what), attrs, sel);
}

/** The attributes of the entry `name` in dirFd, never following a symlink (any file type). */
export function readXattrsAt(dirFd: number, name: string, sel?: XattrSelection): Xattr[] {
  const fd = openPathAt(dirFd, name);
  try {
    return readPathFdXattrs(fd, sel, name);
  } finally {
    libc().close(fd);
  }
}

/** writeXattrs for the entry `name` in dirFd, never following a symlink (any file type). */
export function writeXattrsAt(dirFd: number, name: string, attrs: readonly Xattr[], sel?: XattrSelection): boolean {
  const fd = openPathAt(dirFd, name);
  try {
    return writePathFdXattrs(fd, attrs, sel, name);
  } finally {
    libc().close(fd);
  }
}

/** The same attribute (name and bytes) on both sides. */
export function sameXattrs(a: readonly Xattr[], b: readonly Xattr[]): boolean {
  if (a.length !== b.length) return false;
  const byName = new Map(b.map((x) => [x.name, x.value]));
  for (const x of a) {
    const v = byName.get(x.name);
    if (!v || v.length !== x.value.length || v.some((byte, i) => byte !== x.value[i])) return false;
  }
  return true;
}
