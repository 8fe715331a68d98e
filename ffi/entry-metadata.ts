// Owner, group and extended attributes of any entry (directory, symlink, special file) named in
// a directory fd, read and applied in one call each, never following a symlink. Regular files
// get theirs inside the backend's copyFile, on the temporary before it is linked in.
import { libc } from "./libc.ts";
import { chownPathFd, ownerOf } from "./owners.ts";
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
