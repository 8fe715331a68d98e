// Writing the report: to a temporary name beside FILE, then renamed over it, so that FILE is
// either the old file or the whole new one, never half a page; on any error the temporary file is
// removed and the error names FILE and the cause.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export class ReportWriteError extends Error {
  constructor(readonly path: string, cause: unknown) {
    const e = cause as NodeJS.ErrnoException;
    super(`cannot write the report to ${path}: ${e.code ? `${e.code} (${e.message.replace(/^[A-Z]+: /, "").split(",")[0]})` : e.message}`, { cause });
    this.name = "ReportWriteError";
  }
}

/** Writes `text` to `path` atomically (same directory, so the rename cannot cross filesystems). */
export function writeFileAtomic(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, "wx", 0o644);
    writeSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    throw new ReportWriteError(path, e);
  }
}
