// How a received file is written: under a temporary name in its directory, with its mode and
// mtime, then renamed into place, so no partial file ever has the final name. Used by
// TreeReceiver for whole small files and by the shard-writer threads. blitd removes names with
// this prefix that an interrupted transfer left behind.
import { fchown, TEMP_PREFIX, writeXattrs, type RootedDir, type RootedFile } from "../../ffi/index.ts";
import type { EntryMeta } from "./metadata.ts";

export function tempName(name: string): string {
  const rand = crypto.getRandomValues(new Uint32Array(2));
  const tail = name.length > 200 ? name.slice(0, 200) : name;
  return `${TEMP_PREFIX}${rand[0]!.toString(16)}${rand[1]!.toString(16)}-${tail}`;
}

/**
 * Gives the open temporary `f` the owner, group and attributes of `meta`, then `mode`: owner
 * first (a change of owner clears setuid, setgid and security.capability), attributes next, the
 * mode after both (set again when an ACL changed its group bits, or the umask or the chown cut it).
 */
export function applyFileMeta(f: RootedFile, mode: number, meta: EntryMeta | undefined, what: string): void {
  // Owners and attributes are only asked for where they are kept (Linux): they work on the fd.
  if (meta && (meta.uid !== undefined || meta.gid !== undefined)) fchown(f.fd, meta.uid, meta.gid, what);
  const acl = meta?.sel ? writeXattrs(f.fd, meta.xattrs ?? [], meta.sel, what) : false;
  f.setMode(mode & 0o7777, acl);
}

/**
 * Writes buf[off, off+len) as `name` in the directory `dir`: a temporary created exclusively,
 * the bytes, `meta`'s owner and attributes, the mode and the mtime, then a rename into place. On
 * failure the temporary is removed and the error (FsError) is thrown; `what` names the file in it.
 */
export function writeFileAt(
  dir: RootedDir, name: string, buf: Uint8Array, off: number, len: number, mode: number, mtimeSec: number, mtimeNsec: number, what: string,
  meta?: EntryMeta,
): void {
  const tmp = tempName(name);
  let f: RootedFile | undefined;
  try {
    f = dir.createFile(tmp, mode & 0o7777);
    if (len > 0) f.write(buf, off, len);
    applyFileMeta(f, mode, meta, what);
    f.setTimes(mtimeSec, mtimeNsec);
    f.close();
    f = undefined;
    dir.rename(tmp, name);
  } catch (err) {
    f?.close();
    dir.unlinkQuiet(tmp);
    throw err;
  }
}
