// Tree generators for the benchmark: many small files, big random files, and the one-file rewrite
// that the deep-change scenario does before each round. Written for speed (a reused buffer and
// synchronous writes), yielding to the event loop now and then so that SIGINT/SIGTERM are handled.
import { randomFillSync } from "node:crypto";
import { closeSync, mkdirSync, openSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

export interface Tree {
  /** Directory whose contents are the tree (mirror SRC). */
  root: string;
  files: number;
  bytes: number;
  /** Directories below root (not counting root). */
  dirs: number;
}

export interface SmallTree extends Tree {
  /** Path of the file that sits deep in the tree (DIR/a/b/c/d/deep.dat), if one was made. */
  deepFile?: string;
}

const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * `files` files of `size` bytes spread evenly over `dirs` directories root/[sub/]dNNN/.
 * With `deep`, the last file goes to root/[sub/]d000/a/b/c/d/deep.dat instead (still counted).
 * Every file has different content (random bytes with the file's index stamped in front).
 */
export async function makeSmallTree(
  root: string,
  opts: { files: number; dirs: number; size: number; deep?: boolean; sub?: string },
): Promise<SmallTree> {
  const base = opts.sub ? join(root, opts.sub) : root;
  const dirNames: string[] = [];
  for (let d = 0; d < opts.dirs; d++) {
    const dir = join(base, `d${String(d).padStart(3, "0")}`);
    mkdirSync(dir, { recursive: true });
    dirNames.push(dir);
  }
  let dirs = opts.dirs + (opts.sub ? 1 : 0);
  const buf = Buffer.allocUnsafe(opts.size);
  randomFillSync(buf);
  const regular = opts.deep ? opts.files - 1 : opts.files;
  for (let i = 0; i < regular; i++) {
    if (buf.length >= 4) buf.writeUInt32LE(i, 0);
    writeFileSync(join(dirNames[i % opts.dirs]!, `f${String(i).padStart(6, "0")}.dat`), buf);
    if (i % 2000 === 1999) await yieldNow();
  }
  let deepFile: string | undefined;
  if (opts.deep) {
    deepFile = join(dirNames[0]!, "a", "b", "c", "d", "deep.dat");
    mkdirSync(dirname(deepFile), { recursive: true });
    dirs += 4;
    randomFillSync(buf);
    writeFileSync(deepFile, buf);
  }
  return { root, files: opts.files, bytes: opts.files * opts.size, dirs, deepFile };
}

/** One file of `bytes` random bytes (incompressible, no runs of zeros, so no sparse shortcuts). */
export async function makeRandomFile(path: string, bytes: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const chunk = Buffer.allocUnsafe(Math.min(8 << 20, Math.max(bytes, 1)));
  const fd = openSync(path, "w");
  try {
    let left = bytes;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      let off = 0;
      while (off < n) off += writeSync(fd, chunk, off, n - off);
      left -= n;
      await yieldNow();
    }
  } finally {
    closeSync(fd);
  }
}

/** Rewrites `path` in place with `size` new random bytes and sets its mtime (and atime) to `mtimeSec`. */
export function rewriteFile(path: string, size: number, mtimeSec: number): void {
  const buf = Buffer.allocUnsafe(size);
  randomFillSync(buf);
  writeFileSync(path, buf);
  utimesSync(path, mtimeSec, mtimeSec);
}
