// --files-from: the paths, relative to SRC, a copy transfers and nothing else. A listed
// directory brings everything below it (as rsync -r --files-from does); the directories on the
// way to a listed path are created in DST (their mode and mtime copied, not their other
// entries). The walk reaches each listed path through its own directory handles, so a symlink
// on the way is never followed: a listed path behind one is reported missing.
import { readListFile, SelectError } from "./rules.ts";

/**
 * The entries of a --files-from file's text: one path per line, blank lines left out, a
 * leading '/' or './' dropped (paths are always relative to SRC). Throws SelectError for a
 * path that leaves SRC ('..') or holds a NUL.
 */
export function parseFilesFrom(text: string, file: string): string[] {
  const out = new Set<string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    const parts = line.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.includes("..") || line.includes("\0")) {
      throw new SelectError(`--files-from file '${file}' line ${i + 1}: '${line}' leaves SRC ('..'); list paths inside SRC`);
    }
    if (parts.length > 0) out.add(parts.join("/"));
  });
  return [...out];
}

/** Reads and parses the --files-from file `file` ('-': stdin). */
export function readFilesFrom(file: string, stdin?: () => string): string[] {
  return parseFilesFrom(readListFile(file, "--files-from file", stdin), file);
}

/** What a walk restricted to listed paths checks per entry. */
export class ListedPaths {
  private readonly listed: Set<string>;
  private readonly ancestors = new Set<string>();

  constructor(paths: readonly string[]) {
    this.listed = new Set(paths);
    for (const p of paths) {
      for (let i = p.indexOf("/"); i >= 0; i = p.indexOf("/", i + 1)) this.ancestors.add(p.slice(0, i));
    }
  }

  /** The listed paths. */
  get all(): string[] {
    return [...this.listed];
  }

  /** The entry `rel` is listed (its whole subtree comes along). */
  isListed(rel: string): boolean {
    return this.listed.has(rel);
  }

  /** The entry `rel` is a directory on the way to a listed path. */
  isOnTheWay(rel: string): boolean {
    return this.ancestors.has(rel);
  }
}
