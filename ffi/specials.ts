// FIFOs, sockets and device nodes, created beneath a directory fd (what `rsync --specials` and
// `--devices` keep). FIFOs and sockets need no privilege; device nodes need CAP_MKNOD
// (metadataPrivileges().devices).
import { ptr } from "bun:ffi";
import { AT_EMPTY_PATH, cstr, fail, libc, processUmask } from "./libc.ts";
import { openPathAt } from "./xattrs.ts";
import { FsError } from "./types.ts";

export type SpecialKind = "fifo" | "socket" | "char" | "block";

const S_IFMT = 0o170000;
const TYPE_BITS: Record<SpecialKind, number> = { fifo: 0o010000, char: 0o020000, block: 0o060000, socket: 0o140000 };

/** The kind of a special file from st_mode, or undefined for files, directories and symlinks. */
export function specialKind(mode: number): SpecialKind | undefined {
  const fmt = mode & S_IFMT;
  return (Object.keys(TYPE_BITS) as SpecialKind[]).find((k) => TYPE_BITS[k] === fmt);
}

/** dev_t from major and minor numbers, as glibc's makedev() builds it. */
export function makeDev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** The major and minor numbers of a dev_t (inverse of makeDev). */
export function splitDev(dev: bigint): { major: number; minor: number } {
  const major = Number(((dev >> 32n) & 0xfffff000n) | ((dev >> 8n) & 0xfffn));
  const minor = Number(((dev >> 12n) & 0xffffff00n) | (dev & 0xffn));
  return { major, minor };
}

let statBuf: Uint8Array | undefined;
/** STATX_TYPE */
const STATX_TYPE = 0x1;

/**
 * Creates the special file `name` in dirFd with permission bits `mode` (umask not applied) and,
 * for a device, the device number `rdev` (makeDev). `name` is one component, so nothing on the
 * way can be a swapped symlink, and mknodat never follows one at the end: an existing entry of
 * any type, a symlink included, makes it fail with EEXIST. Throws FsError (EPERM for a device
 * without CAP_MKNOD).
 */
export function mknodAt(dirFd: number, name: string, kind: SpecialKind, mode: number, rdev: bigint = 0n): void {
  if (name === "" || name === "." || name === ".." || name.includes("/")) {
    throw new FsError("EINVAL", "mknodat", name, "a special file is created by one name beneath its directory");
  }
  const perm = mode & 0o7777;
  const l = libc();
  if (l.mknodat(dirFd, ptr(cstr(name)), TYPE_BITS[kind] | perm, kind === "char" || kind === "block" ? rdev : 0n) < 0) fail("mknodat", name);
  if ((perm & ~processUmask()) === perm && !(perm & 0o7000)) return;
  // The umask cut some bits: set them on the node just made, reached through an O_PATH fd (no
  // open of a FIFO or a device), after checking that the name still holds a node of this kind.
  const fd = openPathAt(dirFd, name);
  try {
    const buf = (statBuf ??= new Uint8Array(new ArrayBuffer(256)));
    if (l.statx(fd, ptr(cstr("")), AT_EMPTY_PATH, STATX_TYPE, ptr(buf)) < 0) fail("statx", name);
    const fmt = new DataView(buf.buffer).getUint16(28, true) & S_IFMT;
    if (fmt !== TYPE_BITS[kind]) throw new FsError("EEXIST", "mknodat", name, "replaced while it was being created");
    if (l.chmod(ptr(cstr(`/proc/self/fd/${fd}`)), perm) < 0) fail("chmod", name);
  } finally {
    l.close(fd);
  }
}
