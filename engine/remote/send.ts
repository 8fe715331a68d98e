// The sending side of a remote transfer (the client for a push, blitd for a pull). Files are read
// beneath a root (a RootedDir: no symlink followed, nothing outside it) and framed: small
// files travel batched in shards so that per-file round trips vanish; larger ones stream in
// chunks; when the receiver supports it, a large file's holes go as HOLE frames, not zeros. A
// file that cannot be read, that shrank since the manifest was made, or that is no longer a
// regular file (opened non-blocking, so a FIFO swapped in never blocks) is reported to the
// receiver (SKIP) and the transfer goes on.
import {
  dataSegments, fdAllocation, FsError, mayHaveHoles, seekTo, describeCode, type RootedDir, type RootedFile,
} from "../../ffi/index.ts";
import {
  DATA_CHUNK, F_DATA, F_FILE_END, F_SAME, F_SHARD, F_SKIP, HASH_BYTES, HEADER_BYTES, SHARD_BYTES, SHARD_FILES,
  SHARD_HASHES, SIG_BYTES, encodeFrame, fileFrame, holeFrame, keepFrame, putHeader, textFrame, u32List,
} from "../../proto/index.ts";
import { yieldNow, type Channel } from "./channel.ts";
import type { RunError } from "../report.ts";
import { hashBeneath, hashHex } from "./receive.ts";
import type { Tree } from "../walk.ts";
import { blockHash, sameSig, sigOf, type SigStore } from "./delta.ts";

/** Files below this size travel in shards; the rest stream in chunks. */
export const SHARD_FILE_MAX = 256 << 10;

export interface SendResult {
  files: number;
  /** Bytes of the files sent, holes included. */
  bytes: number;
  /** Bytes of `bytes` that went as HOLE frames (only with `sparse`). */
  holeBytes: number;
  errors: RunError[];
  /** Files sent as changes against the receiver's basis, and their bytes kept (KEEP) and sent (DATA). */
  deltaFiles: number;
  matchedBytes: number;
  literalBytes: number;
}

export interface SendOptions {
  checksum: boolean;
  /** Called after each file or shard with the files and bytes just sent. */
  onProgress?: (files: number, bytes: number) => void;
  /** Checked between files; when it returns true the sender stops. */
  cancelled?: () => boolean;
  /** Bytes per second to send at most (--bwlimit); 0 or absent: no limit. */
  bwlimit?: number;
  /**
   * The receiver listed FEATURE_SPARSE: holes of large files go as HOLE frames instead of zeros.
   * @default false
   */
  sparse?: boolean;
  /**
   * Files the receiver has a basis for (delta or resume): each waits for its block hashes in
   * `sigs` and sends KEEP for blocks that match, DATA for the rest.
   */
  delta?: { files: ReadonlySet<number>; sigs: SigStore };
}

/**
 * Sends the files `indices` of `tree` (paths relative to `root`) over `ch`. Does not send DONE:
 * the caller does, with the totals. Throws when the channel closes.
 */
export async function sendFiles(ch: Channel, root: RootedDir, tree: Tree, indices: readonly number[], opts: SendOptions): Promise<SendResult> {
  const res: SendResult = { files: 0, bytes: 0, holeBytes: 0, errors: [], deltaFiles: 0, matchedBytes: 0, literalBytes: 0 };
  // A Bun socket copies what it cannot send at once, so its buffers can be reused at once (no
  // fresh pages to fault in per chunk); a gRPC message keeps a reference, so it gets new ones.
  const reuse = ch.kind === "tcp";
  let chunkBuf: Uint8Array | undefined;
  const hashEach = opts.checksum;
  const perEntry = 8 + (hashEach ? HASH_BYTES : 0);
  // --bwlimit: frames of about 1/8 s of data, so the pace is even (a shard still holds the largest small file)
  const rate = opts.bwlimit && opts.bwlimit > 0 ? opts.bwlimit : 0;
  const dataChunk = rate ? Math.max(16 << 10, Math.min(DATA_CHUNK, Math.floor(rate / 8))) : DATA_CHUNK;
  const shardLimit = rate ? Math.max(SHARD_FILE_MAX, Math.min(SHARD_BYTES, dataChunk)) : SHARD_BYTES;
  const capacity = HEADER_BYTES + 5 + shardLimit + SHARD_FILES * perEntry;
  const paceT0 = performance.now();
  let paced = 0;
  /** Sleeps while the bytes sent so far are ahead of the rate. */
  const pace = async (n: number) => {
    if (!rate) return;
    paced += n;
    const ahead = (paced / rate) * 1000 - (performance.now() - paceT0);
    if (ahead > 1) await Bun.sleep(ahead);
  };
  let shard = new Uint8Array(new ArrayBuffer(capacity));
  let sdv = new DataView(shard.buffer);
  let off = HEADER_BYTES + 5;
  let count = 0;
  let shardBytes = 0;
  let sinceYield = 0;
  const skip = async (i: number, err: unknown) => {
    const rel = tree.paths[i]!;
    const code = (err as { code?: string }).code ?? "EIO";
    const why = code === "SHRUNK" ? "file changed size while being sent" : `${describeCode(code)}`;
    res.errors.push({ path: rel, side: "source", code, message: `${rel}: ${why}` });
    const idx = new Uint8Array(4);
    new DataView(idx.buffer).setUint32(0, i, true);
    await ch.write(textFrame(F_SKIP, idx, why));
  };
  const flush = async () => {
    if (count === 0) return;
    putHeader(shard, 0, F_SHARD, off - HEADER_BYTES);
    shard[HEADER_BYTES] = hashEach ? SHARD_HASHES : 0;
    sdv.setUint32(HEADER_BYTES + 1, count, true);
    const out = shard.subarray(0, off);
    const files = count;
    const bytes = shardBytes;
    if (!reuse) {
      shard = new Uint8Array(new ArrayBuffer(capacity));
      sdv = new DataView(shard.buffer);
    }
    off = HEADER_BYTES + 5;
    count = 0;
    shardBytes = 0;
    const w = ch.write(out);
    if (w) await w;
    res.files += files;
    res.bytes += bytes;
    opts.onProgress?.(files, bytes);
    await pace(out.length);
    if (++sinceYield >= 8) {
      sinceYield = 0;
      await yieldNow();
    }
  };

  for (const i of indices) {
    if (opts.cancelled?.()) break;
    const rel = tree.paths[i]!;
    const size = tree.sizes[i]!;
    if (size < SHARD_FILE_MAX) {
      if (count >= SHARD_FILES || off + perEntry + size > capacity) await flush();
      let f: RootedFile | undefined;
      try {
        f = root.openFile(rel);
        const entry = off;
        let pos = off + perEntry;
        let got = 0;
        while (got < size) {
          const n = f.read(shard, pos, size - got);
          if (n === 0) break;
          got += n;
          pos += n;
        }
        if (got < size) throw Object.assign(new Error("shrunk"), { code: "SHRUNK" });
        sdv.setUint32(entry, i, true);
        sdv.setUint32(entry + 4, size, true);
        if (hashEach) {
          const h = new Bun.CryptoHasher("blake2b256").update(shard.subarray(entry + perEntry, pos)).digest() as Uint8Array;
          shard.set(h, entry + 8);
        }
        off = pos;
        count++;
        shardBytes += size;
      } catch (err) {
        await skip(i, err);
      } finally {
        f?.close();
      }
      continue;
    }
    await flush();
    await sendLarge(i, rel, size);
  }
  await flush();
  return res;

  async function sendLarge(i: number, rel: string, size: number) {
    let f: RootedFile;
    try {
      f = root.openFile(rel);
    } catch (err) {
      opts.delta?.sigs.forget(i); // its block hashes, if any come, are not needed
      await skip(i, err);
      return;
    }
    const fd = f.fd; // sendfile and the hole calls work on the fd
    if (opts.delta?.files.has(i)) {
      try {
        await sendDelta(i, rel, size, f);
      } finally {
        f.close();
        opts.delta.sigs.forget(i);
      }
      return;
    }
    try {
      let segments: Iterable<[number, number]> | undefined;
      try {
        segments = opts.sparse ? holeySegments(fd, size, rel) : undefined;
      } catch (err) {
        await skip(i, err);
        return;
      }
      const hasher = hashEach ? new Bun.CryptoHasher("blake2b256") : undefined;
      let w = ch.write(fileFrame(i, size));
      if (w) await w;
      if (!segments) {
        if (!(await sendSpan(i, rel, f, size, hasher))) return;
      } else {
        // Only the data segments travel; each gap before one, and the tail, goes as a HOLE.
        let pos = 0;
        let holes = 0;
        const hole = async (n: number) => {
          w = ch.write(holeFrame(n));
          if (w) await w;
          if (hasher) for (let left = n; left > 0; left -= ZEROS.length) hasher.update(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
          holes += n;
          opts.onProgress?.(0, n);
        };
        try {
          for (const [start, end] of segments) {
            if (start > pos) await hole(start - pos);
            seekTo(fd, start, rel);
            if (!(await sendSpan(i, rel, f, end - start, hasher))) return;
            pos = end;
          }
          // A source cut short inside a hole shows no short read: its size tells.
          if (fdAllocation(fd, rel).size < size) throw Object.assign(new Error("shrunk"), { code: "SHRUNK" });
        } catch (err) {
          // a file that cannot be read on is skipped (the receiver drops it); a lost channel is not ours to absorb
          if (!(err instanceof FsError) && (err as { code?: string }).code !== "SHRUNK") throw err;
          await skip(i, err);
          return;
        }
        if (pos < size) await hole(size - pos);
        res.holeBytes += holes;
      }
      w = ch.write(encodeFrame(F_FILE_END, hasher ? (hasher.digest() as Uint8Array) : new Uint8Array(0)));
      if (w) await w;
      res.files++;
      res.bytes += size;
      opts.onProgress?.(1, 0);
    } finally {
      f.close();
    }
  }

  /**
   * Sends file i as changes against the receiver's basis: reads it once, hashes each block as the
   * receiver did, and sends KEEP for runs of blocks whose hashes match the receiver's (SIGS) and
   * DATA for the others and for what lies past the basis.
   */
  async function sendDelta(i: number, rel: string, size: number, f: RootedFile): Promise<void> {
    const store = opts.delta!.sigs;
    let w = ch.write(fileFrame(i, size));
    if (w) await w;
    const hasher = hashEach ? new Bun.CryptoHasher("blake2b256") : undefined;
    let sigs = await store.until(i, 0);
    const bs = sigs.blockSize;
    const step = new Uint8Array(new ArrayBuffer(Math.max(DELTA_STEP, bs)));
    const mine = new Uint8Array(SIG_BYTES);
    let keepRun = 0;
    let kept = 0;
    let literal = 0;
    const keepOut = async () => {
      if (keepRun === 0) return;
      w = ch.write(keepFrame(keepRun));
      kept += keepRun;
      keepRun = 0;
      if (w) await w;
    };
    const dataOut = async (from: number, to: number) => {
      for (let o = from; o < to; o += dataChunk) {
        const n = Math.min(dataChunk, to - o);
        const buf = new Uint8Array(new ArrayBuffer(HEADER_BYTES + n));
        putHeader(buf, 0, F_DATA, n);
        buf.set(step.subarray(o, o + n), HEADER_BYTES);
        w = ch.write(buf);
        if (w) await w;
        literal += n;
        await pace(n);
      }
    };
    let pos = 0;
    while (pos < size) {
      const want = Math.min(step.length, size - pos);
      let got = 0;
      try {
        while (got < want) {
          const n = f.read(step, got, want - got);
          if (n === 0) break;
          got += n;
        }
        if (got < want) throw Object.assign(new Error("shrunk"), { code: "SHRUNK" });
      } catch (err) {
        await keepOut();
        await skip(i, err); // the receiver drops the file it has open
        return;
      }
      hasher?.update(step.subarray(0, got));
      let litFrom = -1;
      for (let o = 0; o < got; o += bs) {
        const k = (pos + o) / bs;
        const end = Math.min(o + bs, got);
        if (!sigs.last && k >= sigs.count) sigs = await store.until(i, k);
        const theirs = sigOf(sigs, k);
        let same = false;
        if (theirs && Math.min(bs, sigs.basisBytes - k * bs) === end - o) {
          blockHash(step.subarray(o, end), sigs.seed, mine, 0);
          same = sameSig(mine, theirs);
        }
        if (same) {
          if (litFrom >= 0) {
            await dataOut(litFrom, o);
            litFrom = -1;
          }
          keepRun += end - o;
        } else {
          await keepOut();
          if (litFrom < 0) litFrom = o;
        }
      }
      if (litFrom >= 0) await dataOut(litFrom, got);
      pos += got;
      opts.onProgress?.(0, got);
      await yieldNow();
    }
    await keepOut();
    w = ch.write(encodeFrame(F_FILE_END, hasher ? (hasher.digest() as Uint8Array) : new Uint8Array(0)));
    if (w) await w;
    res.files++;
    res.bytes += size;
    res.deltaFiles++;
    res.matchedBytes += kept;
    res.literalBytes += literal;
    opts.onProgress?.(1, 0);
  }

  /**
   * Sends the next `len` bytes of the file from its current offset as DATA frames. Returns false when
   * the file could not be read to the end of the span (it was then SKIPped).
   */
  async function sendSpan(i: number, rel: string, f: RootedFile, len: number, hasher: Bun.CryptoHasher | undefined): Promise<boolean> {
    let w: void | Promise<void>;
    let sent = 0;
    if (ch.sendFile && !hasher) {
      // Straight from the file to the socket (sendfile): a DATA header, then its bytes.
      const head = new Uint8Array(new ArrayBuffer(HEADER_BYTES));
      while (sent < len) {
        const want = Math.min(dataChunk, len - sent);
        putHeader(head, 0, F_DATA, want);
        w = ch.write(head);
        if (w) await w;
        const got = await ch.sendFile(f.fd, want);
        sent += got;
        if (got > 0) opts.onProgress?.(0, got);
        await pace(got);
        if (got < want) {
          // The file shrank: the frame promised `want` bytes, so it is completed with zeros and
          // the file is then skipped (the receiver drops what it has of it).
          const zeros = new Uint8Array(new ArrayBuffer(Math.min(want - got, DATA_CHUNK)));
          for (let left = want - got; left > 0; left -= zeros.length) {
            w = ch.write(zeros.subarray(0, Math.min(left, zeros.length)));
            if (w) await w;
          }
          await skip(i, Object.assign(new Error("shrunk"), { code: "SHRUNK" }));
          return false;
        }
      }
    }
    while (sent < len) {
      const want = Math.min(dataChunk, len - sent);
      const buf = reuse ? (chunkBuf ??= new Uint8Array(new ArrayBuffer(HEADER_BYTES + DATA_CHUNK))) : new Uint8Array(new ArrayBuffer(HEADER_BYTES + want));
      let got = 0;
      let err: unknown;
      try {
        while (got < want) {
          const n = f.read(buf, HEADER_BYTES + got, want - got);
          if (n === 0) break;
          got += n;
        }
      } catch (e) {
        err = e;
      }
      if (got < want && err === undefined) err = Object.assign(new Error("shrunk"), { code: "SHRUNK" });
      if (got > 0) {
        putHeader(buf, 0, F_DATA, got);
        hasher?.update(buf.subarray(HEADER_BYTES, HEADER_BYTES + got));
        w = ch.write(buf.subarray(0, HEADER_BYTES + got));
        if (w) await w;
        sent += got;
        opts.onProgress?.(0, got);
        await pace(got);
      }
      if (err !== undefined) {
        await skip(i, err); // the receiver drops the file it has open
        return false;
      }
      if (++sinceYield >= 16) {
        sinceYield = 0;
        await yieldNow();
      }
    }
    return true;
  }
}

/** Bytes of a delta file read and compared per step (a whole number of blocks). */
const DELTA_STEP = 4 << 20;

/** Zeros for hashing a hole the way the receiver reads it back. */
const ZEROS = new Uint8Array(1 << 20);

/**
 * The data segments of a file that has holes, or undefined when it has none (then it is sent
 * as it is, from offset 0). One statx per large file decides whether to look.
 */
function holeySegments(fd: number, size: number, rel: string): Iterable<[number, number]> | undefined {
  if (!mayHaveHoles(size, fdAllocation(fd, rel).blocks)) return undefined;
  const segments = dataSegments(fd, size, rel);
  const first = segments.next();
  if (!first.done && first.value[0] === 0 && first.value[1] >= size) {
    seekTo(fd, 0, rel);
    return undefined;
  }
  return (function* () {
    if (!first.done) yield first.value;
    yield* segments;
  })();
}

/**
 * --checksum: splits the receiver's (index, hash) pairs into files whose content is the same
 * here (to be announced with SAME) and files to send.
 */
export function resolveChecks(root: RootedDir, tree: Tree, checks: { index: number; hash: Uint8Array }[]): { same: number[]; send: number[] } {
  const same: number[] = [];
  const send: number[] = [];
  for (const c of checks) {
    const mine = hashBeneath(root, tree.paths[c.index]!);
    if (mine && c.hash.length === HASH_BYTES && hashHex(mine) === hashHex(c.hash)) same.push(c.index);
    else send.push(c.index);
  }
  return { same, send };
}

/** SAME frames for the given indices (split to stay within frame bounds). */
export function sameFrames(indices: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < indices.length; k += 65536) out.push(encodeFrame(F_SAME, u32List(indices.slice(k, k + 65536))));
  return out;
}
