// ListDir: one directory of a module (or one file), entries sorted, at most MAX_LIST_ENTRIES.
import {
  bytesOfName, closeFd, dirReader, displayName, hasEscapedBytes, openBeneath, openRootDir, O_DIRECTORY, O_RDONLY, TEMP_PREFIX,
  type DirHandle, type FsError,
} from "../../ffi/index.ts";
import { checkPath } from "../../proto/index.ts";
import { DaemonError } from "../errors.ts";
import { findModule, unary, type RpcContext } from "./context.ts";

const MAX_LIST_ENTRIES = 10_000;

export function listDir(ctx: RpcContext) {
  return unary(ctx, (req: any) => {
    const mod = findModule(ctx, req.module);
    const path = checkPath(String(req.path ?? ""), "path", true);
    const modFd = openRootDir(mod.path);
    let fd = -1;
    try {
      try {
        fd = openBeneath(modFd, path, O_RDONLY);
      } catch (err) {
        const code = (err as FsError).code;
        if (code === "ENOENT") throw new DaemonError("NOT_FOUND", `'${path}' not found in module '${mod.name}'`);
        if (code === "EXDEV" || code === "ELOOP") throw new DaemonError("BAD_PATH", `path '${path}' leads outside the module`);
        throw err;
      }
      let dir: DirHandle;
      try {
        dir = dirReader().fromFd(fd);
      } catch (err) {
        if ((err as FsError).code !== "ENOTDIR") throw err;
        const k = path.lastIndexOf("/");
        const name = path.slice(k + 1);
        const parentFd = openBeneath(modFd, k < 0 ? "" : path.slice(0, k), O_RDONLY | O_DIRECTORY);
        const parent = dirReader().fromFd(parentFd);
        try {
          return { entries: [dirEntry(name, parent)], truncated: false, is_file: true };
        } finally {
          parent.close();
          closeFd(parentFd);
        }
      }
      const entries = [];
      let truncated = false;
      try {
        const names = dir.names().filter((n) => !n.startsWith(TEMP_PREFIX)).sort();
        truncated = names.length > MAX_LIST_ENTRIES;
        for (const name of names.slice(0, MAX_LIST_ENTRIES)) {
          try {
            entries.push(dirEntry(name, dir));
          } catch {}
        }
      } finally {
        dir.close();
      }
      return { entries, truncated, is_file: false };
    } finally {
      if (fd >= 0) closeFd(fd);
      closeFd(modFd);
    }
  });
}

/** A ListDir entry; a name that is not UTF-8 also travels as its exact bytes (name_bytes). */
function dirEntry(name: string, dir: DirHandle) {
  const s = dir.stat(name);
  return {
    name: displayName(name), name_bytes: hasEscapedBytes(name) ? bytesOfName(name) : new Uint8Array(0),
    type: s.type, size: s.size, mode: s.mode, mtime_sec: s.mtimeSec, link_target: "",
  };
}
