// The path rules every RootedDir implementation (rooted.ts) applies before it touches anything.
import { FsError } from "./types.ts";

/**
 * Checks that `rel` is a plain relative path and returns its components ([] for the root).
 * Throws before anything is touched.
 */
export function relParts(rel: string, op: string): string[] {
  if (rel === "") return [];
  if (rel.startsWith("/")) throw new FsError("EXDEV", op, rel, "path leads outside its root (absolute paths are refused)");
  const parts = rel.split("/");
  for (const p of parts) {
    if (p === "..") throw new FsError("EXDEV", op, rel, "path leads outside its root ('..' is refused)");
    if (p === "" || p === ".") throw new FsError("EINVAL", op, rel, "not a plain relative path (empty or '.' component)");
    if (p.includes("\0")) throw new FsError("EINVAL", op, rel, "a name holds a NUL byte");
  }
  return parts;
}

/** [parent, name] of a checked non-root `rel`. */
export function splitRel(rel: string, op: string): [string, string] {
  const parts = relParts(rel, op);
  if (parts.length === 0) throw new FsError("EINVAL", op, rel, "the root itself cannot be created, renamed or removed");
  const k = rel.lastIndexOf("/");
  return k < 0 ? ["", rel] : [rel.slice(0, k), rel.slice(k + 1)];
}

/**
 * True for one plain name (no "/", not "", "." or "..", no NUL): what relParts accepts as a
 * single component, checked without splitting (the per-file path of a writer).
 */
export function isPlainName(rel: string): boolean {
  return rel !== "" && rel !== "." && rel !== ".." && !rel.includes("/") && !rel.includes("\0");
}
