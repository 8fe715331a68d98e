// Delta transfer and resume. A receiver that has a basis for a changed file (its old version, or
// the verified part an interrupted transfer kept) builds the new file's temporary from that basis
// (a reflink clone where the filesystem has them, else a copy) and sends the block hashes of what
// it put there (SIGS); the sender reads its file once, hashes the same blocks, and sends KEEP for
// blocks whose hashes match and DATA for the rest. The temporary is renamed into place as with any
// file, so a reader never sees a half-updated file.
//
// Fixed blocks at the same offsets, not rsync's rolling search: the cases delta is for (VM images,
// databases, a file resumed from its first part) change in place, and fixed blocks cost one hash
// per block on each side, read once (docs/remote.md has the measurements). A block hash is two
// xxHash3-64 of the block under a seed the receiver draws per transfer (128 bits, as rsync's
// xxh128): a non-cryptographic hash, so a file whose author wants a collision can make its own
// copy wrong, never another's; --checksum adds the whole-file BLAKE2b check.
import { fdAllocation, fdChangeStamp, TEMP_PREFIX, truncateTo, type RootedDir, type RootedFile } from "../../ffi/index.ts";
import {
  FrameError, readSigs, SIG_BYTES, SIGS_PER_FRAME, sigsFrame, type SigsHeader,
} from "../../proto/index.ts";
import { yieldNow } from "./channel.ts";

/** Files below this size travel whole in shards (send.ts SHARD_FILE_MAX): no delta for them. */
export const DELTA_MIN_BYTES = 256 << 10;
/** What an interrupted transfer keeps of a file (the verified part) is named with this prefix in its directory. */
export const PARTIAL_PREFIX = `${TEMP_PREFIX}partial-`;
/** A kept partial file older than this is removed by the next transfer that sees it (and by blitd's start). */
export const PARTIAL_MAX_AGE_MS = 24 * 3600 * 1000;
/** Less than this of a file is not worth keeping. */
export const PARTIAL_MIN_BYTES = 1 << 20;
const MIN_BLOCK = 8 << 10;
const MAX_BLOCK = 1 << 20;
/** Bytes read (and hashed) per step: a whole number of blocks of any size. */
const STEP_BYTES = 4 << 20;
const SEED_B = 0x9e3779b97f4a7c15n;
/** The least a sender lets a receiver's hashes (SIGS) hold of its memory; more when two of its files need more. */
const MIN_SIGS_HELD = 64 << 20;
const U64 = (1n << 64n) - 1n;

/** The block size for a file of `size` bytes: the power of two nearest above its square root, within 8 KiB..1 MiB (rsync's rule, rounded). */
export function blockSizeFor(size: number): number {
  let b = MIN_BLOCK;
  while (b < MAX_BLOCK && b * b < size) b *= 2;
  return b;
}

/** Writes the 16-byte hash of `block` under `seed` at out[off]. */
export function blockHash(block: Uint8Array, seed: bigint, out: Uint8Array, off: number): void {
  const dv = new DataView(out.buffer, out.byteOffset + off, SIG_BYTES);
  dv.setBigUint64(0, Bun.hash.xxHash3(block, seed), true);
  dv.setBigUint64(8, Bun.hash.xxHash3(block, (seed ^ SEED_B) & U64), true);
}

/** A fresh random seed for one transfer's block hashes. */
export function newSeed(): bigint {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(w[0]!) << 32n) | BigInt(w[1]!);
}

/**
 * The name under which an interrupted transfer keeps the part it received of `name` (a final name
 * in its directory). One per name: the next transfer of that name uses it as a basis, so only the
 * blocks whose hashes match what the sender has now are kept (a part of another version costs a
 * read, never a wrong byte).
 */
export function partialName(name: string): string {
  const key = Bun.hash.xxHash3(name).toString(16).padStart(16, "0");
  const tail = name.length > 100 ? name.slice(0, 100) : name;
  return `${PARTIAL_PREFIX}${key}-${tail}`;
}

/** True for a name partialName() makes. */
export function isPartialName(name: string): boolean {
  return name.startsWith(PARTIAL_PREFIX);
}

/**
 * The kept partial file of `name` in directory `dirRel` beneath `root`, as a path relative to
 * root, when a regular file is there (a one-file transfer walks nothing, so it looks for this
 * one name).
 */
export function findPartial(root: RootedDir, dirRel: string, name: string): string | undefined {
  const rel = `${dirRel ? `${dirRel}/` : ""}${partialName(name)}`;
  try {
    return root.lstat(rel).type === "file" ? rel : undefined;
  } catch {
    return undefined;
  }
}

// "s": a name may hold a newline.
const CRASH_TEMP = new RegExp(`^${TEMP_PREFIX.replace(/[.]/g, "\\.")}[0-9a-f]+-(.+)$`, "s");

/**
 * Turns the temporaries a killed process left (`.blit-tmp-<random>-<name>` among `temps`, paths
 * relative to root) into the partial files of their names, when they hold at least
 * PARTIAL_MIN_BYTES and no larger partial of that name is there; the rest stay as they are.
 * Only for a root no transfer is writing (blitd's start, a pull's own destination). Returns
 * `temps` with the adopted ones renamed.
 */
export function adoptCrashTemps(root: RootedDir, temps: readonly string[]): string[] {
  return temps.map((rel) => {
    const k = rel.lastIndexOf("/");
    const m = CRASH_TEMP.exec(rel.slice(k + 1));
    if (!m || isPartialName(rel.slice(k + 1)) || m[1]!.length >= 200) return rel; // a name cut to 200 characters is not known
    const to = `${k < 0 ? "" : rel.slice(0, k + 1)}${partialName(m[1]!)}`;
    try {
      const st = root.lstat(rel);
      if (st.type !== "file" || st.size < PARTIAL_MIN_BYTES) return rel;
      let other = -1;
      try {
        other = root.lstat(to).size;
      } catch {}
      if (other >= st.size) return rel;
      root.rename(rel, to);
      return to;
    } catch {
      return rel;
    }
  });
}

/**
 * Removes the kept partial files among `temps` (relative paths of `.blit-tmp-*` names, from a
 * walk) that are older than a day; younger ones are left for the transfer that resumes them.
 * Returns the paths still kept.
 */
export function sweepPartials(root: RootedDir, temps: readonly string[], now = Date.now()): string[] {
  const kept: string[] = [];
  for (const rel of temps) {
    const name = rel.slice(rel.lastIndexOf("/") + 1);
    if (!isPartialName(name)) continue;
    try {
      const st = root.lstat(rel);
      if (st.type === "file" && now - st.mtimeSec * 1000 < PARTIAL_MAX_AGE_MS) kept.push(rel);
      else root.unlinkQuiet(rel);
    } catch {
      /* gone already */
    }
  }
  return kept;
}

// ---------------------------------------------------------------- receiving side

/** A temporary built from a basis, ready for the sender's KEEP and DATA. */
export interface DeltaTemp {
  index: number;
  dir: RootedDir;
  tmp: string;
  file: RootedFile;
  /** Bytes of the temporary filled from the basis and hashed so far (KEEP may not go past them while building). */
  built: number;
  building: boolean;
  /** The basis was a kept partial file (its name in `dir`), removed once the file is in place. */
  partial: string | undefined;
  /** Bytes of the basis (min with the new size) the blocks cover. */
  basisBytes: number;
  /** Blocks whose hashes went out so far. */
  sentBlocks: number;
  /** The file was skipped or the transfer ended: the build stops. */
  dropped: boolean;
}

/**
 * Creates the temporary `tmp` in `dir` for source entry `index` (new size `size`), fills it from
 * the basis `basisName` (clone, else read and write), and sends the SIGS of what it put there
 * through `send`, one frame per 65,536 blocks or per 4 MiB step when the peer waits. A basis
 * that cannot be opened (gone, not a regular file) gives a temporary with no blocks: SIGS with
 * none, and the whole file follows. Stops (and leaves the cleanup to the caller) when
 * `cancelled` turns true. Throws only when the temporary cannot be created.
 */
export async function buildFromBasis(
  dir: RootedDir, tmp: string, mode: number, index: number, size: number, basisName: string, partial: boolean,
  seed: bigint, send: (frame: Uint8Array) => void | Promise<void>, cancelled: () => boolean, onReady: (t: DeltaTemp) => void,
): Promise<DeltaTemp> {
  const file = dir.createFile(tmp, mode & 0o7777);
  const t: DeltaTemp = { index, dir, tmp, file, built: 0, building: true, partial: partial ? basisName : undefined, basisBytes: 0, sentBlocks: 0, dropped: false };
  onReady(t);
  const bs = blockSizeFor(size);
  let basis: RootedFile | undefined;
  try {
    try {
      basis = dir.openFile(basisName);
    } catch {
      basis = undefined; // gone or replaced: no blocks, the whole file follows
    }
    let n = 0;
    let cloned = false;
    let stamp = "";
    if (basis) {
      try {
        n = Math.min(size, fdAllocation(basis.fd, basisName).size);
        stamp = fdChangeStamp(basis.fd, basisName);
      } catch {
        n = 0;
      }
      if (n > 0) cloned = file.cloneFrom(basis);
      // Nothing past the basis's n bytes (the old file may have grown since): data past it may leave zero pages unwritten (writeNonZero).
      if (cloned) truncateTo(file.fd, n, tmp);
    }
    // A copy is hashed as it is written: the hashes describe what is in the temporary. A clone
    // shares the basis's blocks but not its page cache, so the basis is read (cached, often 20x
    // faster) and must not change meanwhile: its size, mtime and ctime are compared at the end.
    const from = basis;
    const h: SigsHeader = { index, blockSize: bs, basisBytes: n, firstBlock: 0, last: false, seed };
    const step = new Uint8Array(new ArrayBuffer(STEP_BYTES));
    const sigs = new Uint8Array(new ArrayBuffer(Math.max(1, Math.min(SIGS_PER_FRAME, Math.ceil(n / bs))) * SIG_BYTES));
    let inFrame = 0;
    let block = 0;
    const flush = async (last: boolean) => {
      h.last = last;
      h.basisBytes = last ? t.built : n;
      h.firstBlock = block - inFrame;
      const w = send(sigsFrame(h, sigs.subarray(0, inFrame * SIG_BYTES)));
      t.sentBlocks = block;
      inFrame = 0;
      if (w) await w;
    };
    while (from && t.built < n) {
      if (cancelled() || t.dropped) return t;
      const at = t.built;
      const want = Math.min(STEP_BYTES, n - at);
      let got = 0;
      while (got < want) {
        const r = from.readAt(step, got, want - got, at + got);
        if (r === 0) break;
        got += r;
      }
      if (got === 0) break; // the basis shrank: the blocks end here
      if (!cloned) writeNonZero(file, step, got, at);
      for (let o = 0; o < got; o += bs) {
        if (inFrame * SIG_BYTES === sigs.length) {
          t.built = at + o; // every block hashed so far is in the temporary
          await flush(false);
        }
        blockHash(step.subarray(o, Math.min(o + bs, got)), seed, sigs, inFrame * SIG_BYTES);
        inFrame++;
        block++;
      }
      t.built = at + got;
      if (got < want) break;
      // The sender waits for these blocks: send what this step hashed.
      if (t.built < n) await flush(false);
      await yieldNow();
    }
    t.basisBytes = t.built;
    if (cloned && basis && fdChangeStamp(basis.fd, basisName) !== stamp) {
      throw Object.assign(new Error(`${basisName} changed while it was read; run the transfer again`), { code: "CHANGED" });
    }
    t.building = false;
    await flush(true);
    return t;
  } catch (err) {
    t.building = false;
    throw err;
  } finally {
    basis?.close();
  }
}

const PAGE = 4096;
const ZERO_PAGE = new Uint8Array(PAGE);

/**
 * Writes buf[0, len) at file offset `at` of a temporary that holds nothing there yet, leaving
 * out the 4 KiB pages (at file offsets) that are all zeros: they read back as zeros once the file
 * has its size (cutToSize), as holes, so a sparse basis (a VM image) does not become a file that
 * takes all of its size on disk, and a sparse tail past the basis stays sparse.
 */
export function writeNonZero(file: RootedFile, buf: Uint8Array, len: number, at: number, off = 0): void {
  let from = -1;
  for (let o = 0; o < len; ) {
    const end = Math.min(len, o + PAGE - ((at + o) % PAGE));
    const zero = Buffer.compare(buf.subarray(off + o, off + end), ZERO_PAGE.subarray(0, end - o)) === 0;
    if (!zero && from < 0) from = o;
    if (zero && from >= 0) {
      file.writeAt(buf, off + from, o - from, at + from);
      from = -1;
    }
    o = end;
  }
  if (from >= 0) file.writeAt(buf, off + from, len - from, at + from);
}

/** Cuts the temporary of a delta file to its final size (a clone held the whole old file). */
export function cutToSize(t: DeltaTemp, size: number, what: string): void {
  truncateTo(t.file.fd, size, what);
}

// ---------------------------------------------------------------- sending side

interface FileSigs {
  blockSize: number;
  basisBytes: number;
  seed: bigint;
  /** Hashes received so far, SIG_BYTES each, in block order. */
  /** SIG_BYTES per block received, in block order (grown by doubling; `count` blocks are valid). */
  hashes: Uint8Array;
  count: number;
  last: boolean;
}

/**
 * The sender's view of the receiver's SIGS: for each file of the basis list, the block hashes
 * as they arrive. Every frame is checked: a file not on the list, blocks out of order, more
 * blocks than the file's size allows, or a block size out of range is a FrameError (the
 * transfer ends), and the hashes held at once are bounded (honestMost), so a lying receiver
 * cannot make the sender hold more than an honest one would.
 */
export class SigStore {
  private files = new Map<number, FileSigs>();
  private waiters = new Map<number, () => void>();
  private closedWhy: string | undefined;
  /** Files the sender is done with (sent or skipped): hashes still coming for them are dropped. */
  private done = new Set<number>();
  /** Bytes of hashes held, and the most allowed (set at the first SIGS, when the list is complete). */
  private held = 0;
  private budget = 0;

  constructor(private readonly expected: ReadonlySet<number>, private readonly sizeOf: (i: number) => number) {}

  add(p: Uint8Array): void {
    const { h, hashes } = readSigs(p);
    if (!this.expected.has(h.index)) throw new FrameError(`SIGS for entry ${h.index}, which has no basis`);
    if (!(h.blockSize >= 4096 && h.blockSize <= 16 << 20 && (h.blockSize & (h.blockSize - 1)) === 0)) throw new FrameError(`SIGS block size ${h.blockSize} out of range`);
    const size = this.sizeOf(h.index);
    if (!(Number.isSafeInteger(h.basisBytes) && h.basisBytes >= 0 && h.basisBytes <= size)) throw new FrameError(`SIGS basis of ${h.basisBytes} bytes for a file of ${size}`);
    if (this.done.has(h.index)) return;
    this.budget ||= this.honestMost();
    if (this.held + hashes.length > this.budget) throw new FrameError(`SIGS: more block hashes ahead of the sender than ${this.budget} bytes`);
    let f = this.files.get(h.index);
    if (!f) {
      f = { blockSize: h.blockSize, basisBytes: h.basisBytes, seed: h.seed, hashes: new Uint8Array(0), count: 0, last: false };
      this.files.set(h.index, f);
    } else if (f.last || f.blockSize !== h.blockSize || f.seed !== h.seed) throw new FrameError(`SIGS for entry ${h.index} after its last, or with another block size`);
    f.basisBytes = h.basisBytes; // the basis may end short of what the first frame said (it shrank)
    const n = hashes.length / SIG_BYTES;
    if (h.firstBlock !== f.count) throw new FrameError(`SIGS for entry ${h.index} out of order (block ${h.firstBlock}, expected ${f.count})`);
    if (f.count + n > Math.ceil(size / h.blockSize)) throw new FrameError(`SIGS for entry ${h.index}: more blocks than its size`);
    if (n > 0) {
      const need = (f.count + n) * SIG_BYTES;
      if (need > f.hashes.length) {
        const grown = new Uint8Array(Math.max(need, Math.min(2 * f.hashes.length, Math.ceil(size / h.blockSize) * SIG_BYTES)));
        grown.set(f.hashes.subarray(0, f.count * SIG_BYTES));
        f.hashes = grown;
      }
      f.hashes.set(hashes, f.count * SIG_BYTES);
    }
    this.held += hashes.length;
    f.count += n;
    f.last = h.last;
    this.waiters.get(h.index)?.();
  }

  /**
   * What an honest receiver makes the sender hold at most: it signs one file ahead of the sender,
   * so two files' worth of hashes at its block size (blockSizeFor), never less than MIN_SIGS_HELD.
   * A receiver that sends hashes for every file at once, or in small blocks, hits this bound.
   */
  private honestMost(): number {
    let blocks = 0;
    for (const i of this.expected) blocks = Math.max(blocks, Math.ceil(this.sizeOf(i) / blockSizeFor(this.sizeOf(i))));
    return Math.max(MIN_SIGS_HELD, 2 * blocks * SIG_BYTES);
  }

  /** Ends every wait (the channel closed). */
  close(why: string): void {
    this.closedWhy = why;
    for (const w of this.waiters.values()) w();
  }

  /** Drops what is held for a file (sent or skipped). */
  forget(i: number): void {
    this.held -= (this.files.get(i)?.count ?? 0) * SIG_BYTES;
    this.files.delete(i);
    this.done.add(i);
  }

  /** Waits until the hashes of `block` of file `i` arrived (true) or its last SIGS came without it (false). */
  async until(i: number, block: number): Promise<FileSigs> {
    for (;;) {
      const f = this.files.get(i);
      if (f && (f.count > block || f.last)) return f;
      if (this.closedWhy !== undefined) throw new FrameError(this.closedWhy);
      await new Promise<void>((r) => this.waiters.set(i, r));
      this.waiters.delete(i);
    }
  }
}

/** The hash of block k from a file's SIGS (undefined past its blocks). */
export function sigOf(f: FileSigs, k: number): Uint8Array | undefined {
  return k < f.count ? f.hashes.subarray(k * SIG_BYTES, (k + 1) * SIG_BYTES) : undefined;
}

/** Equal 16-byte hashes. */
export function sameSig(a: Uint8Array, b: Uint8Array): boolean {
  for (let k = 0; k < SIG_BYTES; k++) if (a[k] !== b[k]) return false;
  return true;
}

