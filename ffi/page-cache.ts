// How much of some files is in the page cache, through cachestat(2) (Linux 6.5+): a run's
// context notes whether the files it is about to read were already in memory (a cold cache reads
// them from the disk). Nothing is mapped or read; a kernel or system without cachestat gives
// undefined.
import { ptr, type Pointer } from "bun:ffi";
import { AT_FDCWD, errno, libc, O_NONBLOCK, O_RDONLY } from "./libc.ts";
import { openat2, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS } from "./openat2.ts";

/** cachestat(2) is 451 in the generic syscall table, which x86_64 and aarch64 share. */
const SYS_CACHESTAT = 451;
// struct cachestat_range { u64 off; u64 len; } (len 0: to the end of the file)
const rangeBuf = new ArrayBuffer(16);
// struct cachestat { u64 nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; }
const statBuf = new ArrayBuffer(40);
const statView = new DataView(statBuf);
let unavailable = process.platform !== "linux";

/**
 * The share (0..1) of the pages of the regular files at `paths` (with their sizes in bytes) that
 * are in the page cache, weighted by size; undefined without cachestat or without a file it
 * could open. No symlink is followed, in any component of a path.
 */
export function residentShare(files: readonly { path: string; size: number }[]): number | undefined {
  if (unavailable) return undefined;
  const l = libc();
  const page = l.getpagesize() || 4096;
  let cached = 0;
  let pages = 0;
  for (const f of files) {
    if (f.size <= 0) continue;
    // No symlink anywhere on the way (a directory another user swaps for one leads nowhere), and
    // non-blocking (a FIFO put in a file's place never holds the run). cachestat needs a kernel
    // that has openat2 too. A path that cannot be opened so is left out of the sample.
    let fd: number;
    try {
      fd = openat2(AT_FDCWD, f.path, O_RDONLY | O_NONBLOCK, 0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    } catch {
      continue;
    }
    try {
      // syscall()'s third and fourth parameters are declared as pointers; flags travel as the fifth.
      const r = Number(l.syscall(SYS_CACHESTAT, fd, ptr(new Uint8Array(rangeBuf)), ptr(new Uint8Array(statBuf)) as Pointer, 0));
      if (r < 0) {
        if (errno() !== "ENOSYS") continue; // a filesystem without it (hugetlbfs): the next file may have it
        unavailable = true; // an older kernel: the answer will not change
        return undefined;
      }
      cached += Math.min(Number(statView.getBigUint64(0, true)), Math.ceil(f.size / page));
      pages += Math.ceil(f.size / page);
    } finally {
      l.close(fd);
    }
  }
  return pages > 0 ? cached / pages : undefined;
}
