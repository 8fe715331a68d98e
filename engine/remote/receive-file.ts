// How a received file is written: under a temporary name in its directory, with its mode and
// mtime, then renamed into place, so no partial file ever has the final name. Used by
// TreeReceiver for whole small files and by the shard-writer threads. blitd removes names with
// this prefix that an interrupted transfer left behind.
import {
  closeFd, createExclusive, fchmod, fchmodIfNeeded, fchown, futimes, renameAt, TEMP_PREFIX, unlinkQuiet, writeAll, writeXattrs,
} from "../../ffi/index.ts";
import type { EntryMeta } from "./metadata.ts";

export function tempName(name: string): string {
  const rand = crypto.getRandomValues(new Uint32Array(2));
  const tail = name.length > 200 ? name.slice(0, 200) : name;
  return `${TEMP_PREFIX}${rand[0]!.toString(16)}${rand[1]!.toString(16)}-${tail}`;
}

/**
 * Gives the open temporary `fd` the owner, group and attributes of `meta`, then `mode`: owner
 * first (a change of owner clears setuid, setgid and security.capability), attributes next, the
 * mode after both (set again when an ACL changed its group bits, or the umask or the chown cut it).
 */
export function applyFileMeta(fd: number, mode: number, meta: EntryMeta | undefined, what: string): void {
  if (meta && (meta.uid !== undefined || meta.gid !== undefined)) fchown(fd, meta.uid, meta.gid, what);
  const acl = meta?.sel ? writeXattrs(fd, meta.xattrs ?? [], meta.sel, what) : false;
  if (acl) fchmod(fd, mode & 0o7777, what);
  else fchmodIfNeeded(fd, mode & 0o7777, what);
}

/**
 * Writes buf[off, off+len) as `name` in the directory dirFd: a temporary created exclusively,
 * the bytes, `meta`'s owner and attributes, the mode and the mtime, then a rename into place. On
 * failure the temporary is removed and the error (FsError) is thrown; `what` names the file in it.
 */
export function writeFileAt(
  dirFd: number, name: string, buf: Uint8Array, off: number, len: number, mode: number, mtimeSec: number, mtimeNsec: number, what: string,
  meta?: EntryMeta,
): void {
  const tmp = tempName(name);
  let fd = -1;
  try {
    fd = createExclusive(dirFd, tmp, mode & 0o7777);
    if (len > 0) writeAll(fd, buf, off, len, what);
    applyFileMeta(fd, mode, meta, what);
    futimes(fd, mtimeSec, mtimeNsec, what);
    closeFd(fd);
    fd = -1;
    renameAt(dirFd, tmp, name);
  } catch (err) {
    if (fd >= 0) closeFd(fd);
    unlinkQuiet(dirFd, tmp);
    throw err;
  }
}
