// Owner, group and extended attributes of any entry (directory, symlink, special file) named in
// a directory fd, read and applied in one call each, never following a symlink. Regular files
// get theirs inside the backend's copyFile, on the temporary before it is linked in.
import { ptr } from "bun:ffi";
import { AT_EMPTY_PATH, cstr, fail, libc } from "./libc.ts";
import { chownPathFd, ownerOf } from "./owners.ts";
import type { SpecialKind } from "./specials.ts";
import { FsError } from "./types.ts";
import { openPathAt, readPathFdXattrs, writePathFdXattrs, type Xattr, type XattrSelection } from "./xattrs.ts";

/** What a copy keeps beyond content, mode and mtime (rsync -o, -g, -X, -A). */
export interface Keep {
  /** Give the copy the source's owner (root only). */
  owner: boolean;
  /** Give the copy the source's group. */
  group: boolean;
  /** user.* attributes; trusted.* and security.* too where privileged. */
  xattrs: boolean;
  /** POSIX ACLs (system.posix_acl_access and _default). */
  acls: boolean;
}

/** The metadata of one entry as it travels: a plain object (threads, wire). */
export interface EntryMetadata {
  uid?: number;
  gid?: number;
  xattrs?: Xattr[];
}

/** True when `keep` asks for anything. */
export function keepsAny(keep: Partial<Keep> | undefined): boolean {
  return !!keep && !!(keep.owner || keep.group || keep.xattrs || keep.acls);
}

/** The metadata of `name` in dirFd that `keep` asks for (only those fields are set). */
export function readMetadataAt(dirFd: number, name: string, keep: Partial<Keep>): EntryMetadata {
  const fd = openPathAt(dirFd, name);
  try {
    const meta: EntryMetadata = {};
    if (keep.owner || keep.group) {
      const o = ownerOf(fd, name);
      if (keep.owner) meta.uid = o.uid;
      if (keep.group) meta.gid = o.gid;
    }
    if (keep.xattrs || keep.acls) meta.xattrs = readPathFdXattrs(fd, { xattrs: !!keep.xattrs, acls: !!keep.acls }, name);
    return meta;
  } finally {
    libc().close(fd);
  }
}

/**
 * Gives `name` in dirFd the owner, group and attributes in `meta` (absent fields are left
 * alone), never following a symlink: a symlink itself gets them. Owner first, since a change of
 * owner clears security.capability; the mode is the caller's to set afterwards (it also clears
 * setuid and setgid bits). With `keep`, attributes of the kinds it keeps that `meta.xattrs`
 * lacks are removed, so the result is exact.
 */
export function applyMetadataAt(dirFd: number, name: string, meta: EntryMetadata, keep?: Partial<Keep>): void {
  const fd = openPathAt(dirFd, name);
  try {
    if (meta.uid !== undefined || meta.gid !== undefined) chownPathFd(fd, meta.uid, meta.gid, name);
    if (meta.xattrs) {
      const sel: XattrSelection | undefined = keep && (keep.xattrs || keep.acls) ? { xattrs: !!keep.xattrs, acls: !!keep.acls } : undefined;
      writePathFdXattrs(fd, meta.xattrs, sel, name);
    }
  } finally {
    libc().close(fd);
  }
}

const S_IFMT = 0o170000;
const KIND_BITS: Record<"symlink" | SpecialKind, number> = { symlink: 0o120000, fifo: 0o010000, char: 0o020000, block: 0o060000, socket: 0o140000 };
/** STATX_TYPE */
const STATX_TYPE = 0x1;
let statBuf: Uint8Array | undefined;

/**
 * Gives the entry `name` of dirFd, which this process has just made as a `kind` (a symlink or a
 * special file), the owner, group and attributes of `meta`, through one O_PATH fd and only after
 * checking that the fd holds a `kind`: had someone swapped the name for another entry (a hard
 * link to a file they do not own, say), that entry is not given away (EEXIST is thrown).
 */
export function applyMetadataToNewAt(dirFd: number, name: string, kind: "symlink" | SpecialKind, meta: EntryMetadata): void {
  const fd = openPathAt(dirFd, name);
  try {
    const buf = (statBuf ??= new Uint8Array(new ArrayBuffer(256)));
    if (libc().statx(fd, ptr(cstr("")), AT_EMPTY_PATH, STATX_TYPE, ptr(buf)) < 0) fail("statx", name);
    if ((new DataView(buf.buffer).getUint16(28, true) & S_IFMT) !== KIND_BITS[kind]) {
      throw new FsError("EEXIST", "fchownat", name, "replaced by another entry while it was being made");
    }
    if (meta.uid !== undefined || meta.gid !== undefined) chownPathFd(fd, meta.uid, meta.gid, name);
    if (meta.xattrs && meta.xattrs.length > 0) writePathFdXattrs(fd, meta.xattrs, undefined, name);
  } finally {
    libc().close(fd);
  }
}
