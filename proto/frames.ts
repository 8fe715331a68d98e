// The data-plane frame codec. A frame is a 5-byte header (type u8, payload length u32 LE) and its
// payload. The same bytes travel over the one-time TCP connection or inside the gRPC Data stream,
// split anywhere. Every length is bounded per type; anything else is a FrameError, which ends
// that transfer (never the process).

export const F_HELLO = 1; // client -> daemon, first frame: the 32-byte one-time token
export const F_NEED = 2; // pull: u32 LE indices the client needs
export const F_CHECK = 3; // pull --checksum: (u32 index, 32-byte hash) the client has
export const F_NEED_END = 4; // pull: the need list is complete
export const F_FILE = 10; // begin a streamed file: u32 index, f64 size
export const F_DATA = 11; // bytes of the current streamed file
export const F_FILE_END = 12; // end of the current file; 32-byte hash with --checksum
export const F_SHARD = 13; // many small files: u8 flags, u32 count, then (u32 index, u32 len, [hash], bytes)*
export const F_SKIP = 14; // the sender could not read a file: u32 index, UTF-8 reason
export const F_SAME = 15; // --checksum: u32 LE indices whose content is equal on both sides
export const F_HOLE = 16; // a hole of the current streamed file: f64 bytes the receiver skips (peer has FEATURE_SPARSE)
export const F_KEEP = 17; // delta: the next f64 bytes of the current file are the receiver's basis bytes, already in place (peer has FEATURE_DELTA)
export const F_SIGS = 18; // delta, receiver -> sender: block hashes of a file's basis (see sigsFrame)
export const F_BASIS = 19; // pull delta, client -> daemon before NEED_END: u32 LE indices the client has a basis for (SIGS follow)
export const F_DONE = 20; // sender finished: u32 files sent, u32 errors
export const F_ERROR = 21; // UTF-8 message; the peer gives up

export const HEADER_BYTES = 5;
export const TOKEN_BYTES = 32;
export const HASH_BYTES = 32;
export const SHARD_HASHES = 1;
/** Largest DATA chunk a sender makes; a receiver accepts up to MAX_PAYLOAD. */
export const DATA_CHUNK = 4 << 20;
/** Largest shard a sender makes (bytes of payload). */
export const SHARD_BYTES = 4 << 20;
export const SHARD_FILES = 2048;
export const MAX_PAYLOAD = 16 << 20;
const MAX_LIST = 1 << 20;
/** SIGS: u32 index, u32 block size, f64 basis bytes, u32 first block, u8 last, u64 seed, then 16 bytes per block. */
export const SIGS_HEADER = 29;
export const SIG_BYTES = 16;
/** Most block hashes one SIGS frame carries. */
export const SIGS_PER_FRAME = 65536;
const MAX_TEXT = 4096;

/** Largest payload accepted per frame type; missing types are unknown and refused. */
const LIMITS: Record<number, [min: number, max: number]> = {
  [F_HELLO]: [TOKEN_BYTES, TOKEN_BYTES],
  [F_NEED]: [0, MAX_LIST],
  [F_CHECK]: [0, MAX_LIST],
  [F_NEED_END]: [0, 0],
  [F_FILE]: [12, 12],
  [F_DATA]: [0, MAX_PAYLOAD],
  [F_FILE_END]: [0, HASH_BYTES],
  [F_SHARD]: [5, MAX_PAYLOAD],
  [F_SKIP]: [4, MAX_TEXT],
  [F_SAME]: [0, MAX_LIST],
  [F_HOLE]: [8, 8],
  [F_KEEP]: [8, 8],
  [F_SIGS]: [SIGS_HEADER, SIGS_HEADER + SIGS_PER_FRAME * SIG_BYTES],
  [F_BASIS]: [0, MAX_LIST],
  [F_DONE]: [8, 8],
  [F_ERROR]: [0, MAX_TEXT],
};

export class FrameError extends Error {
  readonly code = "BAD_FRAME";
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

export interface FrameHandler {
  /** A complete frame other than DATA. The payload is valid only during the call. */
  frame(type: number, payload: Uint8Array): void;
  /** Part of a DATA frame's payload, as it arrives. Valid only during the call. */
  data(chunk: Uint8Array): void;
}

/**
 * Incremental decoder: feed() it bytes split anywhere; it calls the handler in order. DATA
 * payloads are streamed through without being gathered, so a large file costs no extra copy.
 * feed() throws FrameError on an unknown type or a length out of bounds; the handler's own
 * exceptions propagate too. After a throw the decoder must not be fed again.
 */
export class FrameDecoder {
  private head = new Uint8Array(HEADER_BYTES);
  private headFill = 0;
  private type = 0;
  /** Bytes of the current payload still to come; -1 while reading a header. */
  private remaining = -1;
  private body: Uint8Array | undefined;
  private bodyFill = 0;

  constructor(private handler: FrameHandler) {}

  /** True between frames (nothing partial held). */
  get idle(): boolean {
    return this.remaining < 0 && this.headFill === 0;
  }

  feed(chunk: Uint8Array): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.remaining < 0) {
        // Fast path: a whole small frame inside this chunk, no copy.
        if (this.headFill === 0 && n - off >= HEADER_BYTES) {
          const type = chunk[off]!;
          const len = (chunk[off + 1]! | (chunk[off + 2]! << 8) | (chunk[off + 3]! << 16)) + chunk[off + 4]! * 0x1000000;
          this.check(type, len);
          off += HEADER_BYTES;
          if (type === F_DATA) {
            this.type = type;
            this.remaining = len;
            continue;
          }
          if (n - off >= len) {
            this.handler.frame(type, chunk.subarray(off, off + len));
            off += len;
            continue;
          }
          this.startBody(type, len);
          continue;
        }
        const take = Math.min(HEADER_BYTES - this.headFill, n - off);
        this.head.set(chunk.subarray(off, off + take), this.headFill);
        this.headFill += take;
        off += take;
        if (this.headFill < HEADER_BYTES) return;
        this.headFill = 0;
        const h = this.head;
        const type = h[0]!;
        const len = (h[1]! | (h[2]! << 8) | (h[3]! << 16)) + h[4]! * 0x1000000;
        this.check(type, len);
        if (type === F_DATA) {
          this.type = type;
          this.remaining = len;
        } else if (len === 0) {
          this.handler.frame(type, new Uint8Array(0));
        } else this.startBody(type, len);
        continue;
      }
      if (this.type === F_DATA) {
        if (this.remaining === 0) {
          this.remaining = -1;
          continue;
        }
        const take = Math.min(this.remaining, n - off);
        this.remaining -= take;
        const part = chunk.subarray(off, off + take);
        off += take;
        if (this.remaining === 0) this.remaining = -1;
        this.handler.data(part);
        continue;
      }
      const body = this.body!;
      const take = Math.min(body.length - this.bodyFill, n - off);
      body.set(chunk.subarray(off, off + take), this.bodyFill);
      this.bodyFill += take;
      off += take;
      if (this.bodyFill === body.length) {
        this.body = undefined;
        this.remaining = -1;
        this.handler.frame(this.type, body);
      }
    }
    // A DATA frame of length 0 that ended exactly at the chunk's end.
    if (this.type === F_DATA && this.remaining === 0) this.remaining = -1;
  }

  private startBody(type: number, len: number) {
    this.type = type;
    this.body = new Uint8Array(len);
    this.bodyFill = 0;
    this.remaining = len;
  }

  private check(type: number, len: number) {
    const lim = LIMITS[type];
    if (!lim) throw new FrameError(`unknown frame type ${type}`);
    if (len < lim[0] || len > lim[1]) throw new FrameError(`frame type ${type} has length ${len}, outside ${lim[0]}..${lim[1]}`);
  }
}

/** Writes a frame header into buf at off. */
export function putHeader(buf: Uint8Array, off: number, type: number, len: number): void {
  buf[off] = type;
  buf[off + 1] = len & 0xff;
  buf[off + 2] = (len >>> 8) & 0xff;
  buf[off + 3] = (len >>> 16) & 0xff;
  buf[off + 4] = (len >>> 24) & 0xff;
}

/** One frame as a fresh buffer. */
export function encodeFrame(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(HEADER_BYTES + payload.length));
  putHeader(out, 0, type, payload.length);
  out.set(payload, HEADER_BYTES);
  return out;
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: false });

export function textFrame(type: number, prefix: Uint8Array, text: string): Uint8Array {
  const t = enc.encode(text.slice(0, 1000));
  const p = new Uint8Array(prefix.length + t.length);
  p.set(prefix);
  p.set(t, prefix.length);
  return encodeFrame(type, p);
}

export function decodeText(b: Uint8Array): string {
  return dec.decode(b);
}

export function u32List(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(values.length * 4));
  const dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) dv.setUint32(i * 4, values[i]!, true);
  return out;
}

export function readU32List(b: Uint8Array): Uint32Array {
  if (b.length % 4 !== 0) throw new FrameError(`list of length ${b.length} is not a multiple of 4`);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const out = new Uint32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint32(i * 4, true);
  return out;
}

export function fileFrame(index: number, size: number): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(HEADER_BYTES + 12));
  putHeader(out, 0, F_FILE, 12);
  const dv = new DataView(out.buffer);
  dv.setUint32(HEADER_BYTES, index, true);
  dv.setFloat64(HEADER_BYTES + 4, size, true);
  return out;
}

/** HOLE: the next `bytes` of the current file are a hole (zeros the receiver does not write). */
export function holeFrame(bytes: number): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(HEADER_BYTES + 8));
  putHeader(out, 0, F_HOLE, 8);
  new DataView(out.buffer).setFloat64(HEADER_BYTES, bytes, true);
  return out;
}

/** KEEP: the next `bytes` of the current file are already in place at the receiver (its basis). */
export function keepFrame(bytes: number): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(HEADER_BYTES + 8));
  putHeader(out, 0, F_KEEP, 8);
  new DataView(out.buffer).setFloat64(HEADER_BYTES, bytes, true);
  return out;
}

export interface SigsHeader {
  index: number;
  blockSize: number;
  basisBytes: number;
  firstBlock: number;
  last: boolean;
  seed: bigint;
}

/** SIGS: the block hashes `hashes` (SIG_BYTES each) of a file's basis, from block h.firstBlock. */
export function sigsFrame(h: SigsHeader, hashes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(HEADER_BYTES + SIGS_HEADER + hashes.length));
  putHeader(out, 0, F_SIGS, SIGS_HEADER + hashes.length);
  const dv = new DataView(out.buffer);
  const o = HEADER_BYTES;
  dv.setUint32(o, h.index, true);
  dv.setUint32(o + 4, h.blockSize, true);
  dv.setFloat64(o + 8, h.basisBytes, true);
  dv.setUint32(o + 16, h.firstBlock, true);
  out[o + 20] = h.last ? 1 : 0;
  dv.setBigUint64(o + 21, h.seed, true);
  out.set(hashes, o + SIGS_HEADER);
  return out;
}

/** The header of a SIGS payload and its hashes (a view of the payload). */
export function readSigs(p: Uint8Array): { h: SigsHeader; hashes: Uint8Array } {
  if ((p.length - SIGS_HEADER) % SIG_BYTES !== 0) throw new FrameError(`SIGS frame of length ${p.length} does not hold whole block hashes`);
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const h: SigsHeader = {
    index: dv.getUint32(0, true), blockSize: dv.getUint32(4, true), basisBytes: dv.getFloat64(8, true),
    firstBlock: dv.getUint32(16, true), last: p[20] === 1, seed: dv.getBigUint64(21, true),
  };
  return { h, hashes: p.subarray(SIGS_HEADER) };
}

export function doneFrame(files: number, errors: number): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(HEADER_BYTES + 8));
  putHeader(out, 0, F_DONE, 8);
  const dv = new DataView(out.buffer);
  dv.setUint32(HEADER_BYTES, files, true);
  dv.setUint32(HEADER_BYTES + 4, errors, true);
  return out;
}
