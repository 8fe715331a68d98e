// The receiving side of a remote transfer (blitd for a push, the client for a pull). It consumes
// data-plane frames and writes beneath a root directory fd only: every directory is opened with
// openat2(RESOLVE_BENEATH), every file is written to `.blit-tmp-<random>-<name>` in its directory
// and renamed into place when complete and checked (size, and hash with --checksum), with its
// mode and mtime (and, when asked, the manifest's owner, group and attributes, given to the
// temporary before the rename); a HOLE frame moves the write offset and the size is set at the end, so a
// sparse file arrives sparse. On any error the temporary is removed. A frame that breaks the protocol throws
// (FrameError) and the caller ends the transfer; abort() then removes what is half-written.
import {
  seekTo, truncateTo, describeCode, FsError, readXattrsAt, sameXattrs, writeXattrsAt, xattrSelected, type RootedDir, type RootedFile,
} from "../../ffi/index.ts";
import {
  F_DONE, F_ERROR, F_FILE, F_FILE_END, F_HOLE, F_KEEP, F_SAME, F_SHARD, F_SKIP, FrameError, HASH_BYTES, SHARD_HASHES,
  decodeText, printable, readU32List, sigsFrame, type FrameHandler,
} from "../../proto/index.ts";
import { FATAL_CODES } from "../errors.ts";
import type { RunError } from "../report.ts";
import { RootedDestTree, removeStaged, replaceAndDelete } from "../dest-tree.ts";
import { basisOrder, deleteGuard, writePath, type Plan } from "../plan.ts";
import { shardWriters, type ShardReply, type ShardWriterPool } from "./shard-pool.ts";
import { applyFileMeta, tempName, writeFileAt } from "./receive-file.ts";
import { entryMeta, type EntryMeta, type ReceiveKeep } from "./metadata.ts";
import { T_DIR, T_LINK, type Tree } from "../walk.ts";
import { ChannelClosedError } from "./channel.ts";
import { blockSizeFor, buildFromBasis, cutToSize, isPartialName, newSeed, partialName, PARTIAL_MIN_BYTES, writeNonZero, type DeltaTemp } from "./delta.ts";

const MAX_ERRORS_KEPT = 1000;

const NO_KEEP = { owner: false, group: false, xattrs: false, acls: false };
/** Zeros for hashing a hole (--checksum hashes the content as it reads back). */
const ZEROS = new Uint8Array(1 << 20);
const ST_EXPECTED = 1;
const ST_DONE = 2;

export interface ReceiverOptions {
  mirror: boolean;
  checksum: boolean;
  /** Mirror stops deleting after this many entries; -1 = no bound. */
  maxDelete: number;
  /** Allow a mirror from an empty source. */
  force: boolean;
  /** The source is one regular file: no directory metadata, no deletes. */
  singleFile: boolean;
  /**
   * Threads that write shards (the small files) beside the thread reading the data: the
   * process's pool by default (see shardWriters), null to write them on this thread. Not used
   * with --checksum.
   */
  writers?: ShardWriterPool | null;
  /** Shard bytes handed to the writers and not yet written before the data is paused. @default 64 MiB */
  maxPendingBytes?: number;
  /**
   * Owner, group and attributes every written entry gets from the sender's manifest (files on
   * their temporary before the rename, symlinks and special files when they are made,
   * directories with their mode at the end). @default nothing beyond mode and mtime
   */
  keep?: ReceiveKeep;
}

export interface ReceiveSummary {
  filesWritten: number;
  /** Bytes of the files written, holes included. */
  bytesWritten: number;
  /** Bytes of bytesWritten that arrived as HOLE frames and are holes on disk. */
  holeBytes: number;
  same: number;
  deleted: number;
  deletePlanned: number;
  dirsCreated: number;
  symlinks: number;
  /** FIFOs, sockets and device nodes created. */
  specials: number;
  errors: RunError[];
  errorCount: number;
  /** The run stopped on a condition that makes going on pointless (no space left...). */
  fatal?: string;
  /** Files that arrived as changes against a basis (delta or resume), and the bytes kept from their bases. */
  deltaFiles: number;
  matchedBytes: number;
  /** Of deltaFiles, those resumed from a kept partial file, and the bytes kept from those. */
  resumedFiles: number;
  resumedBytes: number;
  /** Bytes of the delta files that came as DATA (not kept from a basis). */
  literalBytes: number;
}

interface Current {
  index: number;
  size: number;
  /** Bytes of the file received so far (holes included): the offset of the next write. */
  got: number;
  /** Bytes of `got` that were holes. */
  holes: number;
  /** The temporary being written, and the directory it is in. */
  file: RootedFile | undefined;
  dir: RootedDir | undefined;
  tmp: string;
  name: string;
  hasher?: Bun.CryptoHasher;
  /** Writing failed; the rest of this file's data is discarded. */
  failed: boolean;
  /** A delta file: its temporary is built from a basis (it may still be building when the file opens). */
  delta: boolean;
  /** The built temporary, once the signer made it. */
  basis?: DeltaTemp;
  /** Bytes of the file taken from the basis (KEEP). */
  kept: number;
}

export function hashHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
}

export class TreeReceiver implements FrameHandler {
  readonly summary: ReceiveSummary;
  /** True once the sender said DONE. */
  done = false;
  senderFiles = 0;
  senderErrors = 0;
  /** Set by the peer's ERROR frame. */
  peerError: string | undefined;
  onDone: (() => void) | undefined;
  private state: Uint8Array;
  private checkSet: Set<number>;
  /** Every file, directory, symlink, swap and delete goes through the root's handles. */
  private tree: RootedDestTree;
  /** Staged replacements took their place. */
  private swapped = false;
  private cur: Current | undefined;
  private prepared = false;
  private finished = false;
  private readonly writers: ShardWriterPool | null;
  private readonly maxPending: number;
  /** The root the writer threads use (a second handle, closed once no job is pending). */
  private writerRoot: RootedDir | undefined;
  private readonly cancel = new Int32Array(new SharedArrayBuffer(4));
  private pendingJobs = 0;
  private pendingBytes = 0;
  private paused = false;
  private settleWaiters: (() => void)[] = [];
  /** Set by the owner: stop and restart the data while the writers catch up. */
  flow: { pause(): void; resume(): void } | undefined;
  /** Delta: temporaries the signer built from their bases, by source index, until their file opens. */
  private built = new Map<number, DeltaTemp>();
  /** Delta: files whose basis could not be used after the sender was told it exists (their data is discarded). */
  private deltaFailed = new Map<number, unknown>();
  /** The signer waits for the sender to reach the file it just signed. */
  private claimWait: { index: number; resolve: () => void } | undefined;
  private aborted = false;

  constructor(
    private root: RootedDir,
    private src: Tree,
    private dst: Tree,
    private plan: Plan,
    private opts: ReceiverOptions,
  ) {
    this.summary = {
      filesWritten: 0, bytesWritten: 0, holeBytes: 0, same: 0, deleted: 0, deletePlanned: plan.deletePlanned, dirsCreated: 0,
      symlinks: 0, specials: 0, errors: [], errorCount: 0, deltaFiles: 0, matchedBytes: 0, resumedFiles: 0, resumedBytes: 0, literalBytes: 0,
    };
    for (const e of plan.errors) this.addError(e);
    this.tree = new RootedDestTree(root);
    this.state = new Uint8Array(src.paths.length);
    for (const i of plan.need) this.state[i] = ST_EXPECTED;
    for (const i of plan.checks) this.state[i] = ST_EXPECTED;
    this.checkSet = new Set(plan.checks);
    this.writers = opts.checksum ? null : opts.writers === undefined ? shardWriters() : opts.writers;
    this.maxPending = opts.maxPendingBytes ?? 64 << 20;
  }

  /** Resolves when every shard handed to the writer threads is written (or failed). */
  settle(): Promise<void> {
    if (this.pendingJobs === 0) return Promise.resolve();
    return new Promise((r) => this.settleWaiters.push(r));
  }

  addError(e: RunError): void {
    this.summary.errorCount++;
    if (this.summary.errors.length < MAX_ERRORS_KEPT) this.summary.errors.push(e);
  }

  private fsError(rel: string, err: unknown): void {
    const code = (err as { code?: string }).code ?? "EIO";
    const msg = err instanceof FsError && code === "EXDEV" ? "path leads outside its root" : describeCode(code);
    this.addError({ path: rel, side: "destination", code, message: `${rel}: ${msg}` });
    if (FATAL_CODES.has(code) && !this.summary.fatal) this.summary.fatal = code;
  }

  /** What entry i (-1: the root) gets beyond mode and mtime. */
  private meta(i: number): EntryMeta | undefined {
    return entryMeta(this.src, i, this.opts.keep);
  }

  private dir(rel: string): RootedDir {
    return this.tree.dir(rel);
  }

  private closeDirs(): void {
    this.tree.closeDirs();
  }

  /** [directory, name] where the source entry `rel` is written (under its staged name if it replaces another type). */
  private split(rel: string): [string, string] {
    const w = writePath(this.plan, rel);
    const k = w.lastIndexOf("/");
    return k < 0 ? ["", w] : [w.slice(0, k), w.slice(k + 1)];
  }

  /**
   * Creates directories and symlinks; entries that replace one of another type are made under
   * their staged names, and nothing is removed here: that waits for finish(). Idempotent.
   */
  prepare(): void {
    if (this.prepared) return;
    this.prepared = true;
    for (const i of this.plan.mkdirs) {
      const rel = this.src.paths[i]!;
      try {
        this.tree.mkdir(writePath(this.plan, rel), 0o700 | (this.src.modes[i]! & 0o777));
        this.summary.dirsCreated++;
      } catch (err) {
        if ((err as FsError).code !== "EEXIST") {
          this.fsError(rel, err);
          this.plan.blocked.add(rel);
        }
      }
    }
    for (const i of this.plan.links) {
      const rel = this.src.paths[i]!;
      if (this.isBlocked(rel)) continue;
      try {
        this.tree.symlink(this.src.links[i]!, writePath(this.plan, rel), this.src.mtimeSec[i]!, this.src.mtimeNsec[i]!, this.meta(i));
        this.summary.symlinks++;
      } catch (err) {
        this.fsError(rel, err);
      }
    }
    for (const i of this.plan.specials) {
      const rel = this.src.paths[i]!;
      const s = this.src.specials?.[i];
      if (!s || this.isBlocked(rel)) continue;
      try {
        this.tree.mknod(writePath(this.plan, rel), s.kind, this.src.modes[i]!, s.rdev, this.src.mtimeSec[i]!, this.src.mtimeNsec[i]!, this.meta(i));
        this.summary.specials++;
      } catch (err) {
        this.fsError(rel, err);
      }
    }
  }

  private isBlocked(rel: string): boolean {
    if (this.plan.blocked.size === 0) return false;
    for (let k = rel.indexOf("/"); k > 0; k = rel.indexOf("/", k + 1)) if (this.plan.blocked.has(rel.slice(0, k))) return true;
    return false;
  }

  /** Claims index i for a file about to arrive; throws FrameError when the sender was not asked for it. */
  private claim(i: number): void {
    if (i >= this.state.length || this.state[i] !== ST_EXPECTED) {
      throw new FrameError(`sender sent entry ${i}, which the receiver did not ask for (or got already)`);
    }
    this.state[i] = ST_DONE;
    if (this.claimWait?.index === i) this.claimWait.resolve();
  }

  /** Source indices of the files that travel against a basis, in the order the sender sends them. */
  deltaOrder(): number[] {
    return basisOrder(this.plan);
  }

  /**
   * Delta: builds each basis file's temporary and sends its block hashes (SIGS) through `send`,
   * in the sender's order, one file ahead of the sender at most. Every file on the list gets a
   * last SIGS, even one whose basis cannot be used (then with no blocks, or its data is dropped).
   */
  async sign(send: (frame: Uint8Array) => void | Promise<void>): Promise<void> {
    const seed = newSeed();
    for (const i of this.deltaOrder()) {
      if (this.aborted) return;
      const b = this.plan.basis.get(i)!;
      const rel = this.src.paths[i]!;
      const [dirRel, name] = this.split(rel);
      const basisName = b.path.slice(b.path.lastIndexOf("/") + 1);
      let made: DeltaTemp | undefined;
      try {
        if (this.isBlocked(rel)) throw Object.assign(new Error("blocked"), { code: "ENOTDIR" });
        const dir = this.dir(dirRel);
        const t = await buildFromBasis(dir, tempName(name), this.src.modes[i]!, i, this.src.sizes[i]!, basisName, b.partial, seed, send,
          () => this.aborted, (t) => {
            made = t;
            this.attachBasis(t);
          });
        if (this.aborted) return;
        void t;
      } catch (err) {
        if (this.aborted) return;
        if (err instanceof FrameError || err instanceof ChannelClosedError) throw err;
        // The sender waits for this file's blocks: tell it there are no more; what it sends is dropped.
        this.deltaFailed.set(i, err);
        const t = made as DeltaTemp | undefined;
        if (this.cur?.index === i) {
          if (!this.cur.failed) this.failCurrent(this.cur, err);
        } else {
          if (t && !t.dropped) this.discardBuilt(t);
          this.fsError(rel, err);
        }
        const w = send(sigsFrame({ index: i, blockSize: blockSizeFor(this.src.sizes[i]!), basisBytes: 0, firstBlock: t?.sentBlocks ?? 0, last: true, seed }, new Uint8Array(0)));
        if (w) await w;
      }
      if (this.state[i] !== ST_DONE && !this.aborted) await new Promise<void>((r) => (this.claimWait = { index: i, resolve: r }));
      this.claimWait = undefined;
    }
  }

  /** The signer made file t.index's temporary: the open file takes it, or it waits for FILE. */
  private attachBasis(t: DeltaTemp): void {
    const c = this.cur;
    if (this.state[t.index] === ST_DONE && !(c && c.index === t.index)) {
      this.discardBuilt(t); // skipped before its temporary was made
      return;
    }
    if (c && c.index === t.index && c.delta && !c.basis) {
      if (c.failed) {
        this.discardBuilt(t);
        return;
      }
      c.basis = t;
      c.file = t.file;
      c.dir = t.dir;
      c.tmp = t.tmp;
      return;
    }
    this.built.set(t.index, t);
  }

  private discardBuilt(t: DeltaTemp): void {
    t.dropped = true;
    this.built.delete(t.index);
    try {
      t.file.close();
    } catch {}
    t.dir.unlinkQuiet(t.tmp);
  }

  frame(type: number, p: Uint8Array): void {
    if (this.done) throw new FrameError(`frame type ${type} after DONE`);
    const dv = new DataView(p.buffer, p.byteOffset, p.length);
    switch (type) {
      case F_FILE: {
        if (this.cur) throw new FrameError("FILE frame while another file is open");
        const i = dv.getUint32(0, true);
        const size = dv.getFloat64(4, true);
        this.claim(i);
        if (size !== this.src.sizes[i]) throw new FrameError(`entry ${i}: sender announced ${size} bytes, its manifest said ${this.src.sizes[i]}`);
        this.openCurrent(i, size);
        return;
      }
      case F_FILE_END: {
        const c = this.cur;
        if (!c) throw new FrameError("FILE_END without a file");
        if (c.got !== c.size) throw new FrameError(`entry ${c.index}: got ${c.got} bytes, expected ${c.size}`);
        if (this.opts.checksum && p.length !== HASH_BYTES) throw new FrameError("FILE_END without the hash --checksum needs");
        this.cur = undefined;
        this.finishFile(c, p.length === HASH_BYTES ? p : undefined);
        return;
      }
      case F_HOLE:
        if (this.cur?.delta) throw new FrameError(`entry ${this.cur.index}: HOLE in a delta file`);
        this.hole(dv.getFloat64(0, true));
        return;
      case F_KEEP:
        this.keep(dv.getFloat64(0, true));
        return;
      case F_SHARD:
        this.shard(p, dv);
        return;
      case F_SKIP: {
        const i = dv.getUint32(0, true);
        const reason = decodeText(p.subarray(4));
        const rel = i < this.src.paths.length ? this.src.paths[i]! : String(i);
        if (this.cur && this.cur.index === i) {
          this.dropCurrent();
        } else {
          this.claim(i);
          const t = this.built.get(i);
          if (t) this.discardBuilt(t);
        }
        this.addError({ path: rel, side: "source", code: "SOURCE_READ", message: `${rel}: sender could not read it: ${printable(reason)}` });
        return;
      }
      case F_SAME: {
        for (const i of readU32List(p)) {
          if (!this.checkSet.has(i)) throw new FrameError(`SAME for entry ${i}, which was not compared`);
          this.claim(i);
          this.summary.same++;
        }
        return;
      }
      case F_DONE: {
        if (this.cur) throw new FrameError("DONE while a file is open");
        this.senderFiles = dv.getUint32(0, true);
        this.senderErrors = dv.getUint32(4, true);
        this.done = true;
        // DONE is confirmed once every shard is on disk
        if (this.pendingJobs === 0) this.onDone?.();
        else void this.settle().then(() => this.onDone?.());
        return;
      }
      case F_ERROR:
        this.peerError = printable(decodeText(p));
        throw new FrameError(`peer gave up: ${this.peerError}`);
      default:
        throw new FrameError(`unexpected frame type ${type} for a receiver`);
    }
  }

  data(chunk: Uint8Array): void {
    const c = this.cur;
    if (!c) throw new FrameError("DATA without a file");
    if (c.got + chunk.length > c.size) throw new FrameError(`entry ${c.index}: more bytes than its size ${c.size}`);
    if (c.delta) this.checkBuilt(c, chunk.length);
    const at = c.got;
    c.got += chunk.length;
    if (c.failed) return;
    try {
      // Past the basis the temporary holds nothing yet: zero pages are left as holes there.
      if (c.delta) {
        if (!c.basis!.building && at >= c.basis!.basisBytes) writeNonZero(c.file!, chunk, chunk.length, at);
        else c.file!.writeAt(chunk, 0, chunk.length, at);
      }
      else {
        c.file!.write(chunk, 0, chunk.length);
        c.hasher?.update(chunk);
      }
    } catch (err) {
      this.failCurrent(c, err);
    }
  }

  /**
   * A delta file's next `len` bytes (KEEP or DATA) may only come for blocks already built and
   * signed, or after the build: anything else would be overwritten by the basis.
   */
  private checkBuilt(c: Current, len: number): void {
    if (c.failed) return;
    const t = c.basis;
    if (!t) throw new FrameError(`entry ${c.index}: data before its block hashes were sent`);
    if (t.building && c.got + len > t.built) throw new FrameError(`entry ${c.index}: data past the blocks signed so far`);
  }

  /** KEEP: the next `len` bytes of the current delta file are the basis's, already in the temporary. */
  private keep(len: number): void {
    const c = this.cur;
    if (!c) throw new FrameError("KEEP without a file");
    if (!c.delta) throw new FrameError(`entry ${c.index}: KEEP for a file that has no basis`);
    if (!(Number.isSafeInteger(len) && len > 0)) throw new FrameError(`entry ${c.index}: KEEP of invalid length ${len}`);
    if (c.got + len > c.size) throw new FrameError(`entry ${c.index}: KEEP of ${len} bytes at offset ${c.got} goes past its size ${c.size}`);
    this.checkBuilt(c, len);
    if (!c.failed && c.basis && c.got + len > c.basis.basisBytes && !c.basis.building) {
      throw new FrameError(`entry ${c.index}: KEEP past the end of its basis`);
    }
    c.got += len;
    c.kept += len;
  }

  /**
   * The next `len` bytes of the current file are a hole: the write offset moves past them and
   * the file gets its full size at the end (ftruncate). A hole must lie within the size the
   * manifest gave, like any data.
   */
  private hole(len: number): void {
    const c = this.cur;
    if (!c) throw new FrameError("HOLE without a file");
    if (!(Number.isSafeInteger(len) && len > 0)) throw new FrameError(`entry ${c.index}: a hole of invalid length ${len}`);
    if (c.got + len > c.size) throw new FrameError(`entry ${c.index}: a hole of ${len} bytes at offset ${c.got} goes past its size ${c.size}`);
    c.got += len;
    c.holes += len;
    if (c.failed) return;
    try {
      seekTo(c.file!.fd, c.got, c.name);
      if (c.hasher) for (let left = len; left > 0; left -= ZEROS.length) c.hasher.update(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
    } catch (err) {
      this.failCurrent(c, err);
    }
  }

  /** Writing the current file failed: the error is reported, the temporary removed, the rest of its data discarded. */
  private failCurrent(c: Current, err: unknown): void {
    c.failed = true;
    this.fsError(this.src.paths[c.index]!, err);
    c.file?.close();
    c.file = undefined;
    if (c.tmp) c.dir?.unlinkQuiet(c.tmp);
  }

  private openCurrent(i: number, size: number): void {
    const rel = this.src.paths[i]!;
    const [dir, name] = this.split(rel);
    const delta = this.plan.basis.has(i);
    const c: Current = { index: i, size, got: 0, holes: 0, file: undefined, dir: undefined, tmp: delta ? "" : tempName(name), name: rel, failed: false, delta, kept: 0 };
    if (this.opts.checksum) c.hasher = new Bun.CryptoHasher("blake2b256");
    this.cur = c;
    if (delta) {
      // The signer builds (or built) this file's temporary; a basis that failed drops its data.
      if (this.deltaFailed.has(i)) c.failed = true;
      const t = this.built.get(i);
      if (t) {
        this.built.delete(i);
        this.attachBasis(t);
      }
      return;
    }
    if (this.isBlocked(rel)) {
      c.failed = true;
      return;
    }
    try {
      c.dir = this.dir(dir);
      c.file = c.dir.createFile(c.tmp, this.src.modes[i]! & 0o7777);
    } catch (err) {
      c.failed = true;
      this.fsError(rel, err);
    }
  }

  private finishFile(c: Current, hash: Uint8Array | undefined): void {
    if (c.failed) return;
    const rel = this.src.paths[c.index]!;
    const name = this.split(rel)[1];
    try {
      if (c.delta) {
        if (!c.basis || c.basis.building) throw new FrameError(`entry ${c.index}: FILE_END before its basis was built`);
        cutToSize(c.basis, c.size, rel);
        if (c.hasher) hashFileInto(c.file!, c.hasher, c.size);
      }
      if (c.hasher && hash) {
        const mine = c.hasher.digest() as Uint8Array;
        if (hashHex(mine) !== hashHex(hash)) {
          this.addError({ path: rel, side: "destination", code: "CHECKSUM_MISMATCH", message: `${rel}: content hash does not match the sender's; not written` });
          c.file!.close();
          c.file = undefined;
          c.dir!.unlinkQuiet(c.tmp);
          return;
        }
      }
      const f = c.file!;
      if (c.holes > 0) truncateTo(f.fd, c.size, rel); // a hole at the end has no write after it
      applyFileMeta(f, this.src.modes[c.index]!, this.meta(c.index), rel);
      f.setTimes(this.src.mtimeSec[c.index]!, this.src.mtimeNsec[c.index]!);
      f.close();
      c.file = undefined;
      c.dir!.rename(c.tmp, name);
      this.summary.filesWritten++;
      this.summary.bytesWritten += c.size;
      this.summary.holeBytes += c.holes;
      if (c.basis) {
        this.summary.deltaFiles++;
        this.summary.matchedBytes += c.kept;
        this.summary.literalBytes += c.size - c.kept;
        if (c.basis.partial) {
          // Resumed when some of the part was reused (one of another version may give nothing).
          if (c.kept > 0) this.summary.resumedFiles++;
          this.summary.resumedBytes += c.kept;
          c.dir!.unlinkQuiet(c.basis.partial); // what was kept is in place now
        }
      }
    } catch (err) {
      if (err instanceof FrameError) throw err;
      c.file?.close();
      c.file = undefined;
      c.dir!.unlinkQuiet(c.tmp);
      this.fsError(rel, err);
    }
  }

  /**
   * Drops the file being received; with `keep`, a transfer broken off mid-file keeps the part
   * received so far (from PARTIAL_MIN_BYTES) as a partial file the next transfer of the same
   * source version resumes from.
   */
  private dropCurrent(keep = false): void {
    const c = this.cur;
    if (!c) return;
    this.cur = undefined;
    if (keep && this.keepPartial(c)) return;
    c.file?.close();
    if (c.tmp) c.dir?.unlinkQuiet(c.tmp);
  }

  private keepPartial(c: Current): boolean {
    if (!c.file || !c.dir || c.failed || c.got < PARTIAL_MIN_BYTES || c.got >= c.size) return false;
    if (c.basis?.building) return false;
    // Resumed and broken off again before passing what was kept: the older partial holds more.
    if (c.basis?.partial && c.got <= c.basis.basisBytes) return false;
    const rel = this.src.paths[c.index]!;
    const name = this.split(rel)[1];
    try {
      // [0, got) is the new file's; past it the temporary holds its basis's blocks (an older
      // version's, which a delta update still matches), cut where the new file would end.
      truncateTo(c.file.fd, Math.max(c.got, c.basis?.basisBytes ?? 0), rel);
      c.file.close();
      c.file = undefined;
      c.dir.rename(c.tmp, partialName(name));
      return true;
    } catch {
      c.file?.close();
      c.file = undefined;
      return false;
    }
  }

  private shard(p: Uint8Array, dv: DataView): void {
    if (this.cur) throw new FrameError("SHARD while a file is open");
    const withHash = (p[0]! & SHARD_HASHES) !== 0;
    if (this.opts.checksum && !withHash) throw new FrameError("SHARD without the hashes --checksum needs");
    // the whole shard is checked and its files claimed before any is written
    const entries: { index: number; off: number; len: number; hash?: Uint8Array }[] = [];
    const count = dv.getUint32(1, true);
    let off = 5;
    for (let k = 0; k < count; k++) {
      if (off + 8 > p.length) throw new FrameError("SHARD entry header past the end");
      const index = dv.getUint32(off, true);
      const len = dv.getUint32(off + 4, true);
      off += 8;
      let hash: Uint8Array | undefined;
      if (withHash) {
        if (off + HASH_BYTES > p.length) throw new FrameError("SHARD hash past the end");
        hash = p.subarray(off, off + HASH_BYTES);
        off += HASH_BYTES;
      }
      if (off + len > p.length) throw new FrameError("SHARD file data past the end");
      this.claim(index);
      if (len !== this.src.sizes[index]) throw new FrameError(`entry ${index}: shard holds ${len} bytes, the manifest said ${this.src.sizes[index]}`);
      entries.push({ index, off, len, hash });
      off += len;
    }
    if (off !== p.length) throw new FrameError("SHARD has trailing bytes");
    if (this.writers && !withHash) this.shardToWriters(this.writers, p, entries);
    else for (const e of entries) this.writeWhole(e.index, p.subarray(e.off, e.off + e.len), e.hash);
  }

  /** Hands a checked shard's files (the ones not below a blocked directory) to a writer thread. */
  private shardToWriters(writers: ShardWriterPool, p: Uint8Array, entries: { index: number; off: number; len: number }[]): void {
    const src = this.src;
    const files = entries.filter((e) => !this.isBlocked(src.paths[e.index]!));
    if (files.length === 0) return;
    const shown = files.map((e) => src.paths[e.index]!);
    const rels = shown.map((rel) => writePath(this.plan, rel));
    const offsets = files.map((e) => e.off);
    const lengths = files.map((e) => e.len);
    const modes = files.map((e) => src.modes[e.index]!);
    const mtimeSec = files.map((e) => src.mtimeSec[e.index]!);
    const mtimeNsec = files.map((e) => src.mtimeNsec[e.index]!);
    const metas = this.opts.keep ? files.map((e) => this.meta(e.index)) : undefined;
    this.writerRoot ??= this.root.openDir("");
    const bytes = p.length;
    this.pendingJobs++;
    this.pendingBytes += bytes;
    if (!this.paused && this.pendingBytes > this.maxPending) {
      this.paused = true;
      this.flow?.pause();
    }
    // The payload is copied into its own ArrayBuffer (moved to the thread): the bytes it came in
    // belong to the connection's read buffer, and a Node Buffer's slice() would share it.
    const payload = new Uint8Array(new ArrayBuffer(p.length));
    payload.set(p);
    void writers
      .run({ root: this.writerRoot.handoff(), cancel: this.cancel.buffer as SharedArrayBuffer, payload: payload.buffer, rels, offsets, lengths, modes, mtimeSec, mtimeNsec, metas })
      .then((r) => this.shardWritten(r, shown, bytes));
  }

  private shardWritten(r: ShardReply, rels: string[], bytes: number): void {
    this.summary.filesWritten += r.written;
    this.summary.bytesWritten += r.bytes;
    for (const e of r.errors) this.fsError(rels[e.k]!, new FsError(e.code, "write", rels[e.k]!, describeCode(e.code)));
    if (r.failed) {
      for (const rel of rels.slice(r.written)) this.addError({ path: rel, side: "destination", code: "EIO", message: `${rel}: ${r.failed}` });
    }
    this.pendingBytes -= bytes;
    if (--this.pendingJobs === 0) {
      this.writerRoot?.close();
      this.writerRoot = undefined;
      const w = this.settleWaiters;
      this.settleWaiters = [];
      for (const f of w) f();
    }
    if (this.paused && this.pendingBytes <= this.maxPending / 4) {
      this.paused = false;
      this.flow?.resume();
    }
  }

  private writeWhole(i: number, bytes: Uint8Array, hash: Uint8Array | undefined): void {
    const rel = this.src.paths[i]!;
    if (this.isBlocked(rel)) return;
    if (hash && this.opts.checksum) {
      const mine = new Bun.CryptoHasher("blake2b256").update(bytes).digest() as Uint8Array;
      if (hashHex(mine) !== hashHex(hash)) {
        this.addError({ path: rel, side: "destination", code: "CHECKSUM_MISMATCH", message: `${rel}: content hash does not match the sender's; not written` });
        return;
      }
    }
    const [dir, name] = this.split(rel);
    try {
      writeFileAt(this.dir(dir), name, bytes, 0, bytes.length, this.src.modes[i]!, this.src.mtimeSec[i]!, this.src.mtimeNsec[i]!, rel, this.meta(i));
      this.summary.filesWritten++;
      this.summary.bytesWritten += bytes.length;
    } catch (err) {
      this.fsError(rel, err);
    }
  }

  /** Ends a transfer that broke off: the half-written file's temporary is removed. Idempotent. `reason` becomes a "run" error with `code`. */
  abort(reason?: string, code = "TRANSFER_ABORTED"): void {
    Atomics.store(this.cancel, 0, 1); // the writer threads stop before their next file
    this.aborted = true;
    this.claimWait?.resolve();
    this.dropCurrent(true);
    for (const t of [...this.built.values()]) this.discardBuilt(t);
    if (reason && !this.done) this.addError({ path: ".", side: "run", code, message: reason });
    this.closeDirs();
  }

  /**
   * After the data: files asked for but never received become errors; a mirror deletes
   * extraneous entries (only with no error at all, not from an empty source without force, not
   * beyond maxDelete); then directory modes and mtimes are set. Idempotent; closes the dir fds.
   */
  finish(opts: { dryRun?: boolean; extraErrors?: number; interrupted?: boolean } = {}): ReceiveSummary {
    if (this.finished) return this.summary;
    this.finished = true;
    this.aborted = true; // the signer stops
    this.claimWait?.resolve();
    this.dropCurrent();
    for (const t of [...this.built.values()]) this.discardBuilt(t);
    if (this.pendingJobs > 0 && !opts.interrupted) {
      // the owner must settle() first; whatever the writers still do, this run deletes nothing
      this.addError({ path: ".", side: "run", code: "NOT_SETTLED", message: "files were still being written when the transfer was finished" });
      opts = { ...opts, interrupted: true };
    }
    let missing = 0;
    for (let i = 0; i < this.state.length; i++) if (this.state[i] === ST_EXPECTED) missing++;
    if (missing > 0 && !opts.dryRun) {
      this.addError({ path: ".", side: "run", code: "NOT_RECEIVED", message: `${missing} file${missing === 1 ? "" : "s"} did not arrive; the transfer ended early` });
    }
    const errors = this.summary.errorCount + (opts.extraErrors ?? 0) + this.senderErrors;
    const s = this.summary;
    let refused = false;
    try {
      if (!opts.dryRun && !opts.interrupted && !s.fatal) {
        this.linkHardLinks();
        this.fixModes();
        this.syncKeptXattrs();
        if (errors === 0) this.removeSpentPartials();
      }
      if (this.opts.mirror && !this.opts.singleFile && s.deletePlanned > 0) {
        const refusal = deleteGuard(this.plan, {
          errors, interrupted: !!opts.interrupted || s.fatal !== undefined, sourceEmpty: this.src.paths.length === 0,
          force: this.opts.force, maxDelete: this.opts.maxDelete,
        });
        if (refusal) {
          this.addError(refusal);
          refused = refusal.code === "EMPTY_SOURCE";
        } else if (!opts.dryRun) {
          s.deleted += replaceAndDelete(this.tree, this.plan, this.dst, (rel, err) => this.fsError(rel, err));
          this.swapped = true;
        }
      }
      if (!this.swapped) removeStaged(this.tree, this.plan);
      if (!opts.dryRun && !opts.interrupted && !s.fatal && !refused && !this.opts.singleFile) this.setDirMeta();
    } finally {
      this.tree.close();
    }
    return s;
  }

  /**
   * After a transfer with no error, the kept parts of names the source has are spent: their files
   * are in place (sent whole, too small for a basis, or up to date already), and a part would
   * otherwise wait a day. A resumed file's part is removed as its file lands.
   */
  private removeSpentPartials(): void {
    const kept = new Set(this.dst.staleTemps.filter((rel) => isPartialName(rel.slice(rel.lastIndexOf("/") + 1))));
    if (kept.size === 0) return;
    for (const path of this.src.paths) {
      const rel = writePath(this.plan, path);
      const k = rel.lastIndexOf("/");
      const p = `${rel.slice(0, k + 1)}${partialName(rel.slice(k + 1))}`;
      if (kept.has(p)) this.root.unlinkQuiet(p);
    }
  }

  /** -H: each further name of an inode becomes a link to its first name, now that every file is written. */
  private linkHardLinks(): void {
    for (const [i, first] of this.plan.hardLinks) {
      const rel = this.src.paths[i]!;
      if (this.isBlocked(rel)) continue;
      try {
        this.tree.link(writePath(this.plan, this.src.paths[first]!), writePath(this.plan, rel));
        this.summary.filesWritten++;
      } catch (err) {
        this.fsError(rel, err);
      }
    }
  }

  /**
   * -X/-A: entries left in place (unchanged content) whose attributes differ from the sender's
   * get the sender's, as rsync -X does; read and written beneath the root, no symlink followed.
   */
  private syncKeptXattrs(): void {
    const sel = this.opts.keep?.xattrs;
    if (!sel) return;
    for (const i of this.plan.kept) {
      if (this.isBlocked(this.src.paths[i]!)) continue;
      const rel = writePath(this.plan, this.src.paths[i]!);
      const want = (this.src.xattrs?.[i] ?? []).filter((a) => xattrSelected(a.name, sel));
      const k = rel.lastIndexOf("/");
      try {
        const dirFd = this.tree.dirFd(k < 0 ? "" : rel.slice(0, k));
        if (dirFd === undefined) return; // attributes travel only where the OS gives fds for them (Linux)
        const name = rel.slice(k + 1);
        if (!sameXattrs(want, readXattrsAt(dirFd, name, sel))) writeXattrsAt(dirFd, name, want, sel);
      } catch (err) {
        this.fsError(rel, err);
      }
    }
  }

  /** Entries left in place whose permission bits differ from the sender's get them (as rsync -a does). */
  private fixModes(): void {
    for (const i of this.plan.fixMeta) {
      if (this.src.types[i] === T_LINK) continue;
      const rel = this.src.paths[i]!;
      try {
        this.tree.setMeta(rel, {}, NO_KEEP, this.src.modes[i]!);
      } catch (err) {
        this.fsError(rel, err);
      }
    }
  }

  private setDirMeta(): void {
    const src = this.src;
    // Deepest first is not needed: setting a directory's mtime does not change its parent's.
    for (let i = 0; i < src.paths.length; i++) {
      if (src.types[i] !== T_DIR) continue;
      const rel = src.paths[i]!;
      if (this.plan.blocked.has(rel) || this.isBlocked(rel)) continue;
      if (!this.swapped && writePath(this.plan, rel) !== rel) continue;
      try {
        this.tree.setDirMeta(rel, src.modes[i]!, src.mtimeSec[i]!, src.mtimeNsec[i]!, this.meta(i));
      } catch (err) {
        this.fsError(rel, err);
      }
    }
    try {
      if (src.rootMode) this.tree.setDirMeta("", src.rootMode, src.rootMtimeSec, src.rootMtimeNsec, this.meta(-1));
    } catch (err) {
      this.fsError(".", err);
    }
  }

}

/**
 * Feeds the open file `f` to `hasher` from offset 0: its first `size` bytes (a file built from a
 * basis, --checksum; one that ends sooner is an error), or all of it.
 */
function hashFileInto(f: RootedFile, hasher: Bun.CryptoHasher, size = Infinity): void {
  const buf = new Uint8Array(new ArrayBuffer(1 << 20));
  for (let at = 0; at < size; ) {
    const n = f.readAt(buf, 0, Math.min(buf.length, size - at), at);
    if (n === 0) {
      if (size === Infinity) return;
      throw Object.assign(new Error("the file shrank while being checked"), { code: "EIO" });
    }
    hasher.update(buf.subarray(0, n));
    at += n;
  }
}

/** BLAKE2b-256 of the regular file `rel` beneath `root`, or null when it cannot be read (or is not a regular file: never opened blocking). */
export function hashBeneath(root: RootedDir, rel: string): Uint8Array | null {
  let f: RootedFile | undefined;
  try {
    f = root.openFile(rel);
    const h = new Bun.CryptoHasher("blake2b256");
    hashFileInto(f, h);
    return h.digest() as Uint8Array;
  } catch {
    return null;
  } finally {
    f?.close();
  }
}

