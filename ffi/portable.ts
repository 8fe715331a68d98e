// Portable backend: node:fs only, read/write through userspace. The last-resort fallback on any
// OS (and BLIT_BACKEND=portable), so it must work everywhere node:fs does. The darwin and
// windows backends reuse its temp-name, stream and metadata helpers for their own fallbacks.
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  ftruncateSync,
  futimesSync,
  lstatSync,
  lutimesSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { describeCode } from "./errno.ts";
import { fsPath } from "./name-bytes.ts";
import { namePath } from "./name-path.ts";
import { mayHaveHoles, SPARSE_MIN_BYTES } from "./sparse.ts";
import {
  FsError,
  TEMP_PREFIX,
  type Backend,
  type Capabilities,
  type CopyOptions,
  type CopyOutcome,
  type FileMeta,
  type Keep,
} from "./types.ts";

// Paths may hold escaped bytes (name-bytes.ts), which node:path would lose.
const { basename, dirname, join } = namePath;

const DEFAULT_CHUNK = 8 << 20;
/** Buffers for small files need not be chunk-sized; files that grew past meta.size still copy. */
const MIN_BUFFER = 64 << 10;
/** Longest file name most filesystems take (bytes on POSIX, UTF-16 units on NTFS). */
const NAME_MAX = 255;
/** How many fresh temp names to try when one is taken (another writer, or a crash's leftover). */
const TEMP_ATTEMPTS = 5;

/** `n` random bytes in hex (Web Crypto: no node:crypto to load at start). */
const randomHex = (n: number): string => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("hex");
/** Not following a final symlink on open; Windows has no O_NOFOLLOW. */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/**
 * A temp name beside `dst`: `.blit-tmp-<8 hex>-<basename>`, with the basename cut (on a code
 * point boundary) so the whole name stays within NAME_MAX bytes even for multi-byte names.
 */
export function tempPathFor(dst: string): string {
  const prefix = `${TEMP_PREFIX}${randomHex(4)}-`;
  let room = NAME_MAX - prefix.length;
  let tail = "";
  for (const ch of basename(dst)) {
    room -= Buffer.byteLength(ch);
    if (room < 0) break;
    tail += ch;
  }
  return join(dirname(dst), prefix + tail);
}

/** An FsError carrying a node:fs error's code (ENOENT, EACCES, ...) and the path the caller knows. */
export function toFsError(err: unknown, syscall: string, path: string): FsError {
  if (err instanceof FsError) return err;
  const e = err as { code?: unknown; syscall?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : "EIO";
  const call = typeof e?.syscall === "string" ? e.syscall : syscall;
  const out = new FsError(code, call, path, describeCode(code));
  out.cause = err;
  return out;
}

/** Runs `fn`; a node:fs error becomes an FsError for `path`. */
function attempt<T>(syscall: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toFsError(err, syscall, path);
  }
}

/**
 * The path an error from a call that took both paths should name: for ENOENT the source when
 * it is gone, else the destination (its directory vanished); for any other code the destination.
 */
export function blameMissing(code: string, src: string, dst: string): string {
  if (code !== "ENOENT") return dst;
  try {
    lstatSync(fsPath(src));
    return dst;
  } catch {
    return src;
  }
}

export function cancelledError(src: string): FsError {
  return new FsError("ECANCELED", "copy", src, describeCode("ECANCELED"));
}

export function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Closing is cleanup here; the error that got us here is the one worth reporting.
  }
}

export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(fsPath(path));
  } catch {
    // Already gone (or its directory is): nothing left to clean up.
  }
}

/** Opens the source for reading without following a final symlink; errors name `src`. */
export function openSource(src: string): number {
  return attempt("open", src, () => openSync(fsPath(src), constants.O_RDONLY | O_NOFOLLOW));
}

/**
 * Creates a fresh temp file beside `dst` (O_EXCL, retrying on a taken name) and returns its fd
 * and path. Errors name `dst`, the path the caller asked for.
 */
export function openTemp(dst: string, mode: number): { fd: number; tmp: string } {
  for (let i = 1; ; i++) {
    const tmp = tempPathFor(dst);
    try {
      return { fd: openSync(fsPath(tmp), "wx", mode & 0o777), tmp };
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST" || i >= TEMP_ATTEMPTS) throw toFsError(err, "open", dst);
    }
  }
}

// One buffer per thread, grown on demand: a copy is synchronous, so no two copies share it.
let scratch: Buffer | undefined;
function buffer(size: number): Buffer {
  if (!scratch || scratch.length < size) scratch = Buffer.allocUnsafe(size);
  return scratch;
}

/**
 * Copies all of `sfd` into `out` from offset 0 with positional read/write (so it works after a
 * fast path moved the offsets), chunk by chunk: cancelled() is checked before each chunk and
 * onChunk() told after each. Returns the bytes copied.
 */
export function streamFd(sfd: number, out: number, sizeHint: number, src: string, dst: string, opts: CopyOptions): number {
  const chunk = Math.max(1, opts.chunkBytes ?? DEFAULT_CHUNK);
  const len = Math.min(chunk, Math.max(sizeHint, MIN_BUFFER));
  const buf = buffer(len);
  let done = 0;
  for (;;) {
    if (opts.cancelled?.()) throw cancelledError(src);
    const n = attempt("read", src, () => readSync(sfd, buf, 0, len, done));
    if (n === 0) return done;
    let off = 0;
    while (off < n) off += attempt("write", dst, () => writeSync(out, buf, off, n - off, done + off));
    done += n;
    opts.onChunk?.(n);
  }
}

/** The unit in which the portable copy looks for zeros to leave as holes. */
const HOLE_BLOCK = 4096;
const ZEROS = Buffer.alloc(HOLE_BLOCK);

/**
 * streamFd for a source with holes: blocks of HOLE_BLOCK bytes that are all zeros are not
 * written (the output offset moves past them) and the size is set at the end with ftruncate, so
 * the copy is sparse wherever the filesystem can hold holes, without knowing where the source's
 * holes were. Returns the bytes copied and how many of them were left as holes.
 */
export function streamSparse(sfd: number, out: number, src: string, dst: string, opts: CopyOptions): { bytes: number; holeBytes: number } {
  const chunk = Math.max(HOLE_BLOCK, opts.chunkBytes ?? DEFAULT_CHUNK);
  const len = Math.min(chunk, 1 << 20);
  const buf = buffer(len);
  let done = 0;
  let holes = 0;
  for (;;) {
    if (opts.cancelled?.()) throw cancelledError(src);
    const n = attempt("read", src, () => readSync(sfd, buf, 0, len, done));
    if (n === 0) break;
    // each run of blocks that are not all zeros is written at its own offset
    const writeRun = (from: number, to: number) => {
      for (let w = from; w < to; ) w += attempt("write", dst, () => writeSync(out, buf, w, to - w, done + w));
    };
    let run = -1;
    for (let off = 0; off < n; off += HOLE_BLOCK) {
      const end = Math.min(off + HOLE_BLOCK, n);
      if (buf.compare(ZEROS, 0, end - off, off, end) !== 0) {
        if (run < 0) run = off;
        continue;
      }
      holes += end - off;
      if (run >= 0) writeRun(run, off);
      run = -1;
    }
    if (run >= 0) writeRun(run, n);
    done += n;
    opts.onChunk?.(n);
  }
  attempt("ftruncate", dst, () => ftruncateSync(out, done));
  return { bytes: done, holeBytes: holes };
}

/**
 * A time node:fs keeps: positive seconds as a fractional number (about 0.5 µs of precision
 * today), pre-1970 times as a Date, because node:fs reads a negative number as "now".
 */
export function fsTime(sec: number, nsec: number): number | Date {
  return sec >= 0 ? sec + nsec / 1e9 : new Date(sec * 1000 + nsec / 1e6);
}

/** Sets mode and mtime through the open fd (atime becomes now, as for a freshly written file). */
export function applyMeta(fd: number, meta: FileMeta, dst: string): void {
  attempt("fchmod", dst, () => fchmodSync(fd, meta.mode & 0o7777));
  attempt("futimes", dst, () => futimesSync(fd, Date.now() / 1000, fsTime(meta.mtimeSec, meta.mtimeNsec)));
}

/**
 * Gives the temp the owner and group that `meta` names or, where `keep` asks, the source's.
 * Before applyMeta: a change of owner clears the setuid and setgid bits.
 */
export function applyOwner(sfd: number, out: number, meta: FileMeta, keep: CopyOptions["keep"], dst: string): void {
  let { uid, gid } = meta;
  if ((keep?.owner && uid === undefined) || (keep?.group && gid === undefined)) {
    const st = attempt("fstat", dst, () => fstatSync(sfd));
    if (keep?.owner) uid ??= st.uid;
    if (keep?.group) gid ??= st.gid;
  }
  if (uid === undefined && gid === undefined) return;
  attempt("fchown", dst, () => fchownSync(out, uid ?? -1, gid ?? -1));
}

/** Renames the finished temp over `dst` (replacing a file there); errors name `dst`. */
export function renameInto(tmp: string, dst: string): void {
  attempt("rename", dst, () => renameSync(fsPath(tmp), fsPath(dst)));
}

function copyFile(src: string, dst: string, meta: FileMeta, opts: CopyOptions = {}): CopyOutcome {
  const sfd = openSource(src);
  let out = -1;
  let tmp: string | undefined;
  try {
    ({ fd: out, tmp } = openTemp(dst, meta.mode));
    // Only a source that may have holes is scanned for zeros; others stream as they are.
    const blocks = meta.size < SPARSE_MIN_BYTES ? undefined : meta.blocks ?? attempt("fstat", src, () => fstatSync(sfd).blocks);
    let bytes: number;
    let holeBytes = 0;
    if (blocks !== undefined && Number.isFinite(blocks) && mayHaveHoles(meta.size, blocks)) ({ bytes, holeBytes } = streamSparse(sfd, out, src, dst, opts));
    else bytes = streamFd(sfd, out, meta.size, src, dst, opts);
    applyOwner(sfd, out, meta, opts.keep, dst);
    applyMeta(out, meta, dst);
    opts.beforeLink?.(out);
    const fd = out;
    out = -1;
    // Close before rename: Windows cannot rename an open file, and NFS reports write errors here.
    attempt("close", dst, () => closeSync(fd));
    renameInto(tmp, dst);
    tmp = undefined;
    return holeBytes > 0 ? { path: "stream", bytes, holeBytes } : { path: "stream", bytes };
  } finally {
    closeQuiet(sfd);
    if (out >= 0) closeQuiet(out);
    if (tmp !== undefined) unlinkQuiet(tmp);
  }
}

function setTimes(path: string, mtimeSec: number, mtimeNsec: number): void {
  attempt("lutimes", path, () => lutimesSync(fsPath(path), Date.now() / 1000, fsTime(mtimeSec, mtimeNsec)));
}

function probe(_srcDir: string, _dstDir: string): Capabilities {
  return { reflink: false, copyFileRange: false, anonymousTemp: false };
}

/** node:fs only: works wherever Node's fs does; always path "stream". Keeps owners, not attributes. */
export function createPortableBackend(): Backend {
  const owners = process.platform !== "win32";
  return { name: "portable", keeps: { owner: owners, group: owners, xattrs: false, acls: false }, copyFile, setTimes, probe };
}

/** For backends that keep nothing beyond mode and mtime. */
export const KEEPS_NOTHING: Readonly<Keep> = Object.freeze({ owner: false, group: false, xattrs: false, acls: false });
