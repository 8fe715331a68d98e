// Holes in sparse files (Linux, through the thread's libc binding): how much of an open file is
// allocated, where its data lies (lseek SEEK_DATA / SEEK_HOLE), and the seek and ftruncate that
// let a writer skip a hole and still give the file its full size. The local copy, the sender
// and the receiver of the data plane share these, so "what is a hole" has one answer.
//
// Buffers handed to the kernel are views of a real ArrayBuffer and ptr() is taken at each call.
import { ptr } from "bun:ffi";
import { AT_EMPTY_PATH, cstr, errno, fail, libc } from "./libc.ts";

export const SEEK_SET = 0;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const STATX_SIZE = 0x200;
const STATX_BLOCKS = 0x400;
/** Files below this size are never treated as sparse: a hole there saves too little to look for. */
export const SPARSE_MIN_BYTES = 64 << 10;

const statBuf = new ArrayBuffer(256);
const statView = new DataView(statBuf);
const EMPTY = cstr("");

/** Size and 512-byte blocks allocated of the open file `fd` (one statx). Throws FsError naming `what`. */
export function fdAllocation(fd: number, what: string): { size: number; blocks: number } {
  if (libc().statx(fd, ptr(EMPTY), AT_EMPTY_PATH, STATX_SIZE | STATX_BLOCKS, ptr(statBuf)) < 0) fail("fstat", what);
  return {
    size: statView.getUint32(40, true) + statView.getUint32(44, true) * 0x100000000,
    blocks: statView.getUint32(48, true) + statView.getUint32(52, true) * 0x100000000,
  };
}

const STATX_MTIME = 0x40;
const STATX_CTIME = 0x80;

/**
 * Size, mtime and ctime of the open file `fd` as one string: a write, truncate or attribute
 * change between two calls shows as a different string (as closely as the filesystem's clock
 * ticks). Throws FsError naming `what`.
 */
export function fdChangeStamp(fd: number, what: string): string {
  if (libc().statx(fd, ptr(EMPTY), AT_EMPTY_PATH, STATX_SIZE | STATX_MTIME | STATX_CTIME, ptr(statBuf)) < 0) fail("fstat", what);
  const v = statView;
  const size = v.getUint32(40, true) + v.getUint32(44, true) * 0x100000000;
  return `${size}:${v.getBigInt64(112, true)}.${v.getUint32(120, true)}:${v.getBigInt64(96, true)}.${v.getUint32(104, true)}`;
}

/**
 * True when a file of `size` bytes with `blocks` 512-byte blocks allocated may hold holes worth
 * keeping. Only a hint (a compressed filesystem also allocates fewer blocks than the size):
 * dataSegments() gives the real answer.
 */
export function mayHaveHoles(size: number, blocks: number): boolean {
  return size >= SPARSE_MIN_BYTES && blocks * 512 < size;
}

/** Moves fd's offset to `offset` from the start. Throws FsError naming `what`. */
export function seekTo(fd: number, offset: number, what: string): void {
  if (Number(libc().lseek(fd, offset, SEEK_SET)) < 0) fail("lseek", what);
}

/** Sets fd's size to `size`: bytes past the last write become a hole. Throws FsError naming `what`. */
export function truncateTo(fd: number, size: number, what: string): void {
  for (;;) {
    if (libc().ftruncate(fd, size) === 0) return;
    if (errno() !== "EINTR") fail("ftruncate", what);
  }
}

/**
 * The data segments of the open file fd within [0, size), in order, as [start, end) pairs;
 * everything between them is a hole. Lazy: one SEEK_DATA and one SEEK_HOLE per segment. A
 * filesystem that does not know holes reports one segment, the whole file. The file offset is
 * left anywhere: a caller seeks before it reads. A file that shrinks meanwhile ends the list
 * early (the caller's short read then tells it). Throws FsError naming `what` on other errors.
 */
export function* dataSegments(fd: number, size: number, what: string): Generator<[number, number]> {
  const l = libc();
  let pos = 0;
  while (pos < size) {
    const start = Number(l.lseek(fd, pos, SEEK_DATA));
    if (start < 0) {
      const code = errno();
      if (code === "ENXIO") return; // no data after pos: the rest is a hole
      if (code === "EINVAL" || code === "EOPNOTSUPP") {
        yield [pos, size]; // no SEEK_DATA here: all data
        return;
      }
      fail("lseek(SEEK_DATA)", what);
    }
    if (start >= size) return;
    const hole = Number(l.lseek(fd, start, SEEK_HOLE));
    if (hole < 0) {
      if (errno() === "ENXIO") return;
      fail("lseek(SEEK_HOLE)", what);
    }
    const end = Math.min(hole, size);
    yield [start, end];
    pos = end;
  }
}
