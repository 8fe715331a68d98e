// ListDir: one directory of a module (or one entry), entries sorted, at most MAX_LIST_ENTRIES.
// Entries are described by lstat only: a FIFO, socket or device is listed by its kind and never
// opened, so nothing placed in a module can block the daemon.
import { bytesOfName, displayName, hasEscapedBytes, type EntryStat, type FsError, type RootedDir } from "../../ffi/index.ts";
import { printable } from "../../proto/index.ts";
import { DaemonError } from "../errors.ts";
import { findModule, openModule, requestPath, unary, type RpcContext } from "./context.ts";

const MAX_LIST_ENTRIES = 10_000;

export function listDir(ctx: RpcContext) {
  return unary(ctx, async (req: any) => {
    const mod = findModule(ctx, req.module);
    const path = requestPath(req.path, "path");
    const modRoot = openModule(mod);
    let dir: RootedDir | undefined;
    try {
      try {
        // Opened as a directory: anything but a directory fails in the lookup, before it is
        // opened, so a FIFO or device is never opened (an open of a FIFO blocks until a writer comes).
        dir = modRoot.openDir(path);
      } catch (err) {
        const code = (err as FsError).code;
        if (code === "ENOTDIR") return { entries: [oneEntry(modRoot, mod.name, path)], truncated: false, is_file: true };
        throw notReachable(err, mod.name, path);
      }
      // Reading and sorting a directory of millions of names takes seconds: a worker thread does it.
      const listed = await ctx.workers.list(dir.handoff(), MAX_LIST_ENTRIES);
      const entries = listed.entries.flatMap(({ name, stat }) => (stat ? [describe(name, stat)] : []));
      const truncated = listed.truncated;
      return { entries, truncated, is_file: false };
    } finally {
      dir?.close();
      modRoot.close();
    }
  });
}

/** `path` names something other than a directory: its entry, from an lstat (never opened). */
function oneEntry(modRoot: RootedDir, modName: string, path: string) {
  try {
    return describe(path.slice(path.lastIndexOf("/") + 1), modRoot.lstat(path));
  } catch (err) {
    throw notReachable(err, modName, path);
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
function describe(name: string, s: EntryStat) {
  return {
    name: displayName(name), name_bytes: hasEscapedBytes(name) ? bytesOfName(name) : new Uint8Array(0),
    type: s.type, size: s.size, mode: s.mode, mtime_sec: s.mtimeSec, link_target: "",
  };
}
