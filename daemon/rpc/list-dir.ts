// ListDir: one directory of a module (or one entry), entries sorted, at most MAX_LIST_ENTRIES.
// Entries are described by lstat only: a FIFO, socket or device is listed by its kind and never
// opened, so nothing placed in a module can block the daemon.
import {
  bytesOfName, closeFd, dirReader, displayName, hasEscapedBytes, openBeneath, O_DIRECTORY, O_RDONLY,
  type DirHandle, type EntryStat, type FsError,
} from "../../ffi/index.ts";
import { printable } from "../../proto/index.ts";
import { DaemonError } from "../errors.ts";
import { findModule, openModule, requestPath, unary, type RpcContext } from "./context.ts";

const MAX_LIST_ENTRIES = 10_000;

export function listDir(ctx: RpcContext) {
  return unary(ctx, async (req: any) => {
    const mod = findModule(ctx, req.module);
    const path = requestPath(req.path, "path");
    const modFd = openModule(mod);
    let fd = -1;
    try {
      try {
        // O_DIRECTORY: anything but a directory fails in the lookup, before it is opened, so a
        // FIFO or device is never opened (an open of a FIFO blocks until a writer comes).
        fd = openBeneath(modFd, path, O_RDONLY | O_DIRECTORY);
      } catch (err) {
        const code = (err as FsError).code;
        if (code === "ENOTDIR") return { entries: [oneEntry(modFd, mod.name, path)], truncated: false, is_file: true };
        throw notReachable(err, mod.name, path);
      }
      // Reading and sorting a directory of millions of names takes seconds: a worker thread does it.
      const listed = await ctx.workers.list(fd, MAX_LIST_ENTRIES);
      const entries = listed.entries.flatMap(({ name, stat }) => (stat ? [describe(name, stat)] : []));
      const truncated = listed.truncated;
      return { entries, truncated, is_file: false };
    } finally {
      if (fd >= 0) closeFd(fd);
      closeFd(modFd);
    }
  });
}

/** `path` names something other than a directory: its entry, from an lstat in its parent (never opened). */
function oneEntry(modFd: number, modName: string, path: string) {
  const k = path.lastIndexOf("/");
  const name = path.slice(k + 1);
  let parentFd: number;
  try {
    parentFd = openBeneath(modFd, k < 0 ? "" : path.slice(0, k), O_RDONLY | O_DIRECTORY);
  } catch (err) {
    throw notReachable(err, modName, path);
  }
  try {
    const parent = dirReader().fromFd(parentFd);
    try {
      return dirEntry(name, parent);
    } catch (err) {
      throw notReachable(err, modName, path);
    } finally {
      parent.close();
    }
  } finally {
    closeFd(parentFd);
  }
}

/** Why `path` cannot be listed, in words (an unexpected error is passed on as it is). */
function notReachable(err: unknown, modName: string, path: string): unknown {
  const code = (err as FsError).code;
  if (code === "ENOENT" || code === "ENOTDIR") return new DaemonError("NOT_FOUND", `'${printable(path)}' not found in module '${modName}'`);
  if (code === "EXDEV" || code === "ELOOP") return new DaemonError("BAD_PATH", `path '${printable(path)}' leads outside the module`);
  return err;
}

/** A ListDir entry; a name that is not UTF-8 also travels as its exact bytes (name_bytes). */
function dirEntry(name: string, dir: DirHandle) {
  return describe(name, dir.stat(name));
}

function describe(name: string, s: EntryStat) {
  return {
    name: displayName(name), name_bytes: hasEscapedBytes(name) ? bytesOfName(name) : new Uint8Array(0),
    type: s.type, size: s.size, mode: s.mode, mtime_sec: s.mtimeSec, link_target: "",
  };
}
