// Linux backend: reflink (FICLONE), copy_file_range, sendfile, then read/write, through libc
// via bun:ffi. Content goes into an anonymous O_TMPFILE inode that is linked into place only
// when complete, so neither a crash nor kill -9 can leave a partial file under any name; where
// O_TMPFILE or /proc is missing, a `.blit-tmp-*` name beside the target and rename(2) are used.
import { ptr } from "bun:ffi";
import { readSync, writeSync } from "node:fs";
import { describeCode } from "./errno.ts";
import { fchown, ownerOf } from "./owners.ts";
import { readXattrs, writeXattrs, type XattrSelection } from "./xattrs.ts";
import {
  AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, cstr, errno, fail, fillMtimeTimespecs, libc as bindLibc,
  O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_TMPFILE, O_WRONLY, processUmask, type Libc,
} from "./libc.ts";
import { dupFd, openBeneath } from "./openat2.ts";
import { dataSegments, fdAllocation, mayHaveHoles, seekTo, SPARSE_MIN_BYTES, truncateTo } from "./sparse.ts";
import {
  FsError,
  TEMP_PREFIX,
  type Backend,
  type Capabilities,
  type CopyOptions,
  type CopyOutcome,
  type FastPath,
  type FileMeta,
} from "./types.ts";

// Paths may hold escaped bytes (name-bytes.ts), which node:path would lose.

const FICLONE = 0x40049409;
/** STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME */
const STATX_WANTED = 0x1 | 0x2 | 0x100 | 0x200 | 0x40;
const DEFAULT_CHUNK = 8 << 20;

/** Errors that mean "this path cannot serve here, try the next one", not "the copy failed". */
const FALL_THROUGH = new Set(["EOPNOTSUPP", "EXDEV", "EINVAL", "ENOSYS", "ETXTBSY", "EBADF", "EPERM"]);

/** A stat record as the engine needs it; `type` is "file" | "dir" | "symlink" | "other". */
export interface StatRecord {
  type: "file" | "dir" | "symlink" | "other";
  size: number;
  mode: number;
  mtimeSec: number;
  mtimeNsec: number;
  dev: number;
  ino: number;
}

/**
 * Keeps directory fds open for the directories used most recently; names resolve from them.
 * A directory below a confined root is opened beneath that root's fd with no symlink followed
 * (openBeneath), so a directory another user swaps for a symlink during a run is refused
 * instead of leading the copy somewhere else.
 */
class DirCache {
  private fds = new Map<string, number>();
  private roots: { path: string; fd: number }[] = [];
  constructor(private libc: Libc, private errno: () => string, private max = 64) {}
  private lastDir = "";
  private lastFd = -1;
  /** Confine every directory at or below `root` to it. Idempotent per root path. */
  confine(root: string): void {
    if (this.roots.some((r) => r.path === root)) return;
    const fd = this.libc.openat(AT_FDCWD, cstr(root), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
      const code = this.errno();
      throw new FsError(code, "open", root, describeCode(code));
    }
    this.roots.push({ path: root, fd });
    // Handles opened before the root was confined were resolved by path: forget them.
    for (const dir of [...this.fds.keys()]) if (dir === root || dir.startsWith(root + "/")) this.drop(dir);
  }
  private open(dir: string): number {
    for (const r of this.roots) {
      if (dir === r.path) return dupFd(r.fd);
      if (dir.startsWith(r.path + "/")) {
        try {
          return openBeneath(r.fd, dir.slice(r.path.length + 1), O_RDONLY | O_DIRECTORY);
        } catch (err) {
          const code = (err as FsError).code ?? "EIO";
          throw new FsError(code, "open", dir, code === "ELOOP" || code === "EXDEV" ? "a directory on the way is a symlink (not followed)" : describeCode(code));
        }
      }
    }
    const fd = this.libc.openat(AT_FDCWD, cstr(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
      const code = this.errno();
      throw new FsError(code, "open", dir, describeCode(code));
    }
    return fd;
  }
  get(dir: string): number {
    if (dir === this.lastDir) return this.lastFd;
    const fd = this.lookup(dir);
    this.lastDir = dir;
    this.lastFd = fd;
    return fd;
  }
  private lookup(dir: string): number {
    const hit = this.fds.get(dir);
    if (hit !== undefined) {
      // refresh recency
      this.fds.delete(dir);
      this.fds.set(dir, hit);
      return hit;
    }
    const fd = this.open(dir);
    this.fds.set(dir, fd);
    if (this.fds.size > this.max) {
      const [oldDir, oldFd] = this.fds.entries().next().value as [string, number];
      this.fds.delete(oldDir);
      this.libc.close(oldFd);
      if (oldDir === this.lastDir) this.lastDir = "";
    }
    return fd;
  }
  /** Forget a directory (after it was removed or replaced). */
  drop(dir: string): void {
    this.lastDir = "";
    const fd = this.fds.get(dir);
    if (fd !== undefined) {
      this.fds.delete(dir);
      this.newGids.delete(fd);
      this.libc.close(fd);
    }
  }
  private newGids = new Map<number, number>();
  /**
   * The group a file created in the open directory `fd` gets: the directory's own when it is
   * setgid, else the process's. Learned once per directory handle.
   */
  newFileGid(fd: number, statBuf: Uint8Array, view: DataView): number {
    let gid = this.newGids.get(fd);
    if (gid === undefined) {
      if (this.libc.statx(fd, cstr(""), AT_EMPTY_PATH, STATX_WANTED, ptr(statBuf)) < 0) return -1;
      gid = view.getUint16(28, true) & 0o2000 ? view.getUint32(24, true) : (process.getegid?.() ?? -1);
      this.newGids.set(fd, gid);
    }
    return gid;
  }
  clear(): void {
    this.lastDir = "";
    this.newGids.clear();
    for (const fd of this.fds.values()) this.libc.close(fd);
    this.fds.clear();
    for (const r of this.roots) this.libc.close(r.fd);
    this.roots = [];
  }
}

export function createLinuxBackend(): Backend & {
  lstat(path: string): StatRecord;
  lstatAt(dir: string, name: string): StatRecord;
  closeCache(): void;
  forgetDir(dir: string): void;
  confine(root: string): void;
} {
  const libc = bindLibc();
  const dirs = new DirCache(libc, errno);
  // The process umask decides whether O_TMPFILE/O_CREAT modes need an fchmod afterwards.
  const mask = processUmask();
  const euid = process.geteuid?.() ?? -1;
  // struct timespec[2] for futimens/utimensat (a view of a real ArrayBuffer; see libc.ts).
  const times = new Int32Array(new ArrayBuffer(32));
  const setTimespecs = (sec: number, nsec: number) => fillMtimeTimespecs(times, sec, nsec);
  const statBuf = new Uint8Array(new ArrayBuffer(256));
  const statView = new DataView(statBuf.buffer);
  // Learned once per process: whether O_TMPFILE + linkat through /proc works on this kernel.
  let anonymousOk = true;

  function setFdTimes(fd: number, meta: FileMeta, path: string) {
    setTimespecs(meta.mtimeSec, meta.mtimeNsec);
    if (libc.futimens(fd, ptr(times)) < 0) fail("futimens", path);
  }

  /**
   * Writes src's content into out; returns the path taken and what was refused on the way.
   * `blocks` is what the caller knows of the source's allocation (undefined: not known).
   */
  function copyData(sfd: number, out: number, size: number, blocks: number | undefined, src: string, dst: string, opts: CopyOptions): CopyOutcome {
    const allow = opts.allow;
    let refused: Partial<Record<FastPath, string>> | undefined;
    const chunk = opts.chunkBytes ?? DEFAULT_CHUNK;
    if (size === 0) return { path: "copy_file_range", bytes: 0 };
    if (!allow || allow.has("reflink")) {
      if (libc.ioctl(out, FICLONE, sfd) === 0) {
        opts.onChunk?.(size);
        return { path: "reflink", bytes: size };
      }
      const code = errno();
      if (!FALL_THROUGH.has(code)) fail("ioctl(FICLONE)", src);
      (refused ??= {}).reflink = code;
    }
    // A clone keeps holes by itself; any other path would fill them, so a source with holes
    // copies its data segments only. Small files are not looked at (no extra system call).
    if (size >= SPARSE_MIN_BYTES && mayHaveHoles(size, blocks ?? fdAllocation(sfd, src).blocks)) {
      const sparse = copySparse(sfd, out, size, src, dst, opts, refused);
      if (sparse) return sparse;
    }
    let done = 0;
    if (!allow || allow.has("copy_file_range")) {
      for (;;) {
        if (opts.cancelled?.()) throw new FsError("ECANCELED", "copy", src, "cancelled");
        const n = Number(libc.copy_file_range(sfd, null, out, null, chunk, 0));
        if (n > 0) {
          done += n;
          opts.onChunk?.(n);
          // Stop at the size the plan saw: saves the EOF call; a file growing meanwhile is
          // caught by its new mtime on the next run.
          if (done >= size) return { path: "copy_file_range", bytes: done, refused };
          continue;
        }
        if (n === 0) return { path: "copy_file_range", bytes: done, refused };
        const code = errno();
        if (done > 0 || !FALL_THROUGH.has(code)) fail("copy_file_range", src);
        (refused ??= {}).copy_file_range = code;
        break;
      }
    }
    if (!allow || allow.has("sendfile")) {
      for (;;) {
        if (opts.cancelled?.()) throw new FsError("ECANCELED", "copy", src, "cancelled");
        const n = Number(libc.sendfile(out, sfd, null, chunk));
        if (n > 0) {
          done += n;
          opts.onChunk?.(n);
          if (done >= size) return { path: "sendfile", bytes: done, refused };
          continue;
        }
        if (n === 0) return { path: "sendfile", bytes: done, refused };
        const code = errno();
        if (done > 0 || !FALL_THROUGH.has(code)) fail("sendfile", src);
        (refused ??= {}).sendfile = code;
        break;
      }
    }
    const buf = Buffer.allocUnsafe(Math.min(chunk, 1 << 20));
    for (;;) {
      if (opts.cancelled?.()) throw new FsError("ECANCELED", "copy", src, "cancelled");
      const n = readSync(sfd, buf, 0, buf.length, null);
      if (n === 0) return { path: "stream", bytes: done, refused };
      let off = 0;
      while (off < n) off += writeSync(out, buf, off, n - off);
      done += n;
      opts.onChunk?.(n);
    }
  }

  /**
   * Copies only the data segments of a source with holes (each at its own offset, through
   * copy_file_range, sendfile or read/write, the first that serves), then sets the size with
   * ftruncate, so the copy has the source's holes, trailing ones included. Returns undefined,
   * with the source offset back at 0, when the source has no hole after all (a compressed
   * filesystem also allocates fewer blocks than the size).
   */
  function copySparse(sfd: number, out: number, size: number, src: string, dst: string, opts: CopyOptions, refusedBefore: Partial<Record<FastPath, string>> | undefined): CopyOutcome | undefined {
    const segments = dataSegments(sfd, size, src);
    const first = segments.next();
    if (!first.done && first.value[0] === 0 && first.value[1] >= size) {
      seekTo(sfd, 0, src);
      return undefined;
    }
    const allow = opts.allow;
    const span: Span = {
      cfr: !allow || allow.has("copy_file_range"),
      sendfile: !allow || allow.has("sendfile"),
      path: "copy_file_range",
      refused: refusedBefore,
      copied: 0,
    };
    let end = size;
    for (let seg = first; !seg.done; seg = segments.next()) {
      const [start, stop] = seg.value;
      seekTo(sfd, start, src);
      seekTo(out, start, dst);
      const n = copySpan(sfd, out, stop - start, src, opts, span);
      if (n < stop - start) {
        end = start + n; // the source shrank: the copy ends where it did
        break;
      }
    }
    // a source cut short inside a hole shows no short read: its size tells
    end = Math.min(end, fdAllocation(sfd, src).size);
    truncateTo(out, end, dst);
    return { path: span.path, bytes: end, holeBytes: end - span.copied, refused: span.refused };
  }

  /** What a sparse copy learned so far: which paths still serve, which one was taken. */
  interface Span {
    cfr: boolean;
    sendfile: boolean;
    path: FastPath;
    refused: Partial<Record<FastPath, string>> | undefined;
    /** Data bytes copied so far (all segments). */
    copied: number;
  }

  /** Copies up to len bytes from the current offsets of sfd to out; fewer only when the source ends. */
  function copySpan(sfd: number, out: number, len: number, src: string, opts: CopyOptions, st: Span): number {
    const chunk = opts.chunkBytes ?? DEFAULT_CHUNK;
    let done = 0;
    const step = (n: number) => {
      done += n;
      st.copied += n;
      opts.onChunk?.(n);
    };
    const cancelCheck = () => {
      if (opts.cancelled?.()) throw new FsError("ECANCELED", "copy", src, "cancelled");
    };
    while (st.cfr && done < len) {
      cancelCheck();
      const n = Number(libc.copy_file_range(sfd, null, out, null, Math.min(chunk, len - done), 0));
      if (n > 0) {
        st.path = "copy_file_range";
        step(n);
      } else if (n === 0) return done;
      else {
        const code = errno();
        if (st.copied > 0 || !FALL_THROUGH.has(code)) fail("copy_file_range", src);
        (st.refused ??= {}).copy_file_range = code;
        st.cfr = false;
      }
    }
    while (st.sendfile && done < len) {
      cancelCheck();
      const n = Number(libc.sendfile(out, sfd, null, Math.min(chunk, len - done)));
      if (n > 0) {
        st.path = "sendfile";
        step(n);
      } else if (n === 0) return done;
      else {
        const code = errno();
        if (st.copied > 0 || !FALL_THROUGH.has(code)) fail("sendfile", src);
        (st.refused ??= {}).sendfile = code;
        st.sendfile = false;
      }
    }
    const buf = done < len ? Buffer.allocUnsafe(Math.min(chunk, 1 << 20, len - done)) : undefined;
    while (buf && done < len) {
      cancelCheck();
      const n = readSync(sfd, buf, 0, Math.min(buf.length, len - done), null);
      if (n === 0) return done;
      let off = 0;
      while (off < n) off += writeSync(out, buf, off, n - off);
      st.path = "stream";
      step(n);
    }
    return done;
  }

  /**
   * Gives the finished temporary `out` the owner, group and attributes that meta names or, where
   * opts.keep asks, the source's (read from sfd, the file whose content was copied). Owner first
   * (a change of owner clears security.capability); the caller sets the mode after this, since a
   * change of owner clears setuid bits. Returns true when an ACL was set or removed, which changes
   * the group bits of the mode, so the mode must be set again.
   */
  function applyKeep(sfd: number, out: number, meta: FileMeta, opts: CopyOptions, src: string, dst: string, dstDir: number): boolean {
    const keep = opts.keep;
    let { uid, gid } = meta;
    if ((keep?.owner && uid === undefined) || (keep?.group && gid === undefined)) {
      // Errors reading the source name the source, so the run reports them on the right side.
      const o = ownerOf(sfd, src);
      if (keep.owner) uid ??= o.uid;
      if (keep.group) gid ??= o.gid;
    }
    // A new file is already the process's, in the group its directory gives: chown only to change that.
    if (uid === euid) uid = undefined;
    if (gid !== undefined && gid === dirs.newFileGid(dstDir, statBuf, statView)) gid = undefined;
    if (uid !== undefined || gid !== undefined) fchown(out, uid, gid, dst);
    const sel: XattrSelection | undefined = keep?.xattrs || keep?.acls ? { xattrs: !!keep.xattrs, acls: !!keep.acls } : undefined;
    const attrs = meta.xattrs ?? (sel ? readXattrs(sfd, sel, src) : undefined);
    if (attrs === undefined) return false;
    // With a selection the result is exact: an ACL the temporary inherited from a default ACL
    // of its directory is removed when the source has none.
    return writeXattrs(out, attrs, sel, dst);
  }

  function closeQuiet(fd: number) {
    if (fd >= 0) libc.close(fd);
  }

  function tempName(name: string): string {
    const rand = Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, "0");
    // Keep the temp name within NAME_MAX (255 bytes) even for long names.
    const tail = name.length > 200 ? name.slice(0, 200) : name;
    return `${TEMP_PREFIX}${rand}-${tail}`;
  }

  function copyFile(src: string, dst: string, meta: FileMeta, opts: CopyOptions = {}): CopyOutcome {
    // Absolute paths the engine built: split at the last "/" (the hot path: once per file).
    const sk = src.lastIndexOf("/");
    const dk = dst.lastIndexOf("/");
    const srcDir = dirs.get(sk <= 0 ? "/" : src.slice(0, sk));
    const dstDirPath = dk <= 0 ? "/" : dst.slice(0, dk);
    const dstDir = dirs.get(dstDirPath);
    const name = dst.slice(dk + 1);
    // O_NONBLOCK: a FIFO swapped in for the file since the walk must not block this thread.
    const sfd = libc.openat(srcDir, cstr(src.slice(sk + 1)), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (sfd < 0) fail("open", src);
    let out = -1;
    let tmp: string | undefined;
    let linked = false;
    const mode = meta.mode & 0o7777;
    try {
      if (anonymousOk) {
        out = libc.openat(dstDir, cstr("."), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
        if (out < 0) {
          const code = errno();
          if (code === "EOPNOTSUPP" || code === "EISDIR" || code === "EINVAL" || code === "ENOENT") anonymousOk = false;
          else fail("open(O_TMPFILE)", dst);
        }
      }
      if (out < 0) {
        tmp = tempName(name);
        out = libc.openat(dstDir, cstr(tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (out < 0) {
          tmp = undefined;
          fail("open", dst);
        }
      }
      const outcome = copyData(sfd, out, meta.size, meta.blocks, src, dst, opts);
      const aclsWritten = opts.keep || meta.uid !== undefined || meta.gid !== undefined || meta.xattrs ? applyKeep(sfd, out, meta, opts, src, dst, dstDir) : false;
      if ((mode & ~mask) !== mode || mode & 0o7000 || aclsWritten) {
        if (libc.fchmod(out, mode) < 0) fail("fchmod", dst);
      }
      setFdTimes(out, meta, dst);
      opts.beforeLink?.(out);
      if (tmp === undefined) {
        // Link the finished anonymous inode in. If the name is taken, link under a temp name
        // and rename over the old file, which replaces it atomically.
        if (linkIn(out, dstDir, name)) {
          linked = true;
        } else {
          const code = errno();
          if (code !== "EEXIST") {
            if (code === "ENOENT" && !existsProc()) anonymousOk = false;
            throw new FsError(code, "linkat", dst, describeCode(code));
          }
          tmp = tempName(name);
          if (!linkIn(out, dstDir, tmp)) {
            const code2 = errno();
            tmp = undefined;
            throw new FsError(code2, "linkat", dst, describeCode(code2));
          }
        }
      }
      if (tmp !== undefined) {
        if (libc.renameat(dstDir, cstr(tmp), dstDir, cstr(name)) < 0) fail("rename", dst);
        tmp = undefined;
        linked = true;
      }
      return outcome;
    } finally {
      closeQuiet(sfd);
      closeQuiet(out);
      if (!linked && tmp !== undefined) libc.unlinkat(dstDir, cstr(tmp), 0);
    }
  }

  // linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; without it, go through /proc.
  let emptyPathOk = true;
  const EMPTY = cstr("");
  function linkIn(fd: number, dirFd: number, name: string): boolean {
    if (emptyPathOk) {
      if (libc.linkat(fd, EMPTY, dirFd, cstr(name), AT_EMPTY_PATH) === 0) return true;
      const code = errno();
      if (code !== "EPERM" && code !== "ENOENT" && code !== "EINVAL") return false;
      emptyPathOk = false;
    }
    return libc.linkat(AT_FDCWD, cstr(`/proc/self/fd/${fd}`), dirFd, cstr(name), AT_SYMLINK_FOLLOW) === 0;
  }

  let procChecked: boolean | undefined;
  function existsProc(): boolean {
    if (procChecked === undefined) {
      const fd = libc.openat(AT_FDCWD, cstr("/proc/self/fd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
      procChecked = fd >= 0;
      closeQuiet(fd);
    }
    return procChecked;
  }

  function lstat(path: string): StatRecord {
    const slash = path.lastIndexOf("/");
    return lstatAt(slash <= 0 ? "/" : path.slice(0, slash), path.slice(slash + 1));
  }

  function lstatAt(dir: string, name: string): StatRecord {
    if (libc.statx(dirs.get(dir), cstr(name), AT_SYMLINK_NOFOLLOW, STATX_WANTED, ptr(statBuf)) < 0) fail("lstat", `${dir}/${name}`);
    const mode = statView.getUint16(28, true);
    const fmt = mode & 0o170000;
    return {
      type: fmt === 0o100000 ? "file" : fmt === 0o040000 ? "dir" : fmt === 0o120000 ? "symlink" : "other",
      size: statView.getUint32(40, true) + statView.getUint32(44, true) * 0x100000000,
      mode: mode & 0o7777,
      mtimeSec: statView.getUint32(112, true) + statView.getInt32(116, true) * 0x100000000,
      mtimeNsec: statView.getUint32(120, true),
      dev: statView.getUint32(136, true) * 0x100000000 + statView.getUint32(140, true),
      ino: statView.getUint32(32, true) + statView.getUint32(36, true) * 0x100000000,
    };
  }

  function setTimes(path: string, mtimeSec: number, mtimeNsec: number): void {
    setTimespecs(mtimeSec, mtimeNsec);
    if (libc.utimensat(AT_FDCWD, cstr(path), ptr(times), AT_SYMLINK_NOFOLLOW) < 0) fail("utimensat", path);
  }

  function probe(srcDir: string, dstDir: string): Capabilities {
    // Copy a small probe file through each path and see which one the kernel accepts.
    const caps: Capabilities = { reflink: "unknown", copyFileRange: "unknown", anonymousTemp: "unknown" };
    const probeSrc = `${dstDir}/${tempName("probe-src")}`;
    const sfd = libc.openat(AT_FDCWD, cstr(probeSrc), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
    if (sfd < 0) return caps;
    try {
      writeSync(sfd, Buffer.alloc(4096, 1));
    } finally {
      libc.close(sfd);
    }
    // A file in srcDir is better (same device as the real sources) but needs write access there,
    // which a copy must not assume; reflink is decided per pair later by the first real file.
    void srcDir;
    const rfd = libc.openat(AT_FDCWD, cstr(probeSrc), O_RDONLY | O_CLOEXEC, 0);
    const ofd = libc.openat(dirs.get(dstDir), cstr("."), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0o600);
    caps.anonymousTemp = ofd >= 0;
    try {
      if (rfd >= 0 && ofd >= 0) {
        caps.reflink = libc.ioctl(ofd, FICLONE, rfd) === 0;
        caps.copyFileRange = Number(libc.copy_file_range(rfd, null, ofd, null, 4096, 0)) === 4096;
      }
    } finally {
      closeQuiet(rfd);
      closeQuiet(ofd);
      libc.unlinkat(AT_FDCWD, cstr(probeSrc), 0);
    }
    return caps;
  }

  return {
    name: "linux",
    keeps: { owner: true, group: true, xattrs: true, acls: true },
    copyFile,
    setTimes,
    probe,
    lstat,
    lstatAt,
    closeCache: () => dirs.clear(),
    forgetDir: (dir: string) => dirs.drop(dir),
    confine: (root: string) => dirs.confine(root),
  };
}
