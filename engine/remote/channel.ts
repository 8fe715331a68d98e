// A data-plane channel: ordered bytes both ways, over a one-time TCP connection (Bun sockets) or
// inside a gRPC bidirectional stream. Both sides of a transfer use the same interface, so the
// frames and the logic above them do not care which path carries them.
import type { Socket } from "bun";
import { directSocketIoAvailable, pollWritable, socketRead, socketSendFile } from "../../ffi/index.ts";

export interface Channel {
  readonly kind: "tcp" | "grpc";
  /** Sends bytes; returns a promise when the peer is slow (await it before sending more). Throws once closed. */
  write(buf: Uint8Array): void | Promise<void>;
  /**
   * Present when the channel can send straight from a file (sendfile on Linux): sends len bytes of
   * fileFd from its current offset and returns how many went (fewer when the file ended early).
   * Throws once closed.
   */
  sendFile?(fileFd: number, len: number): Promise<number>;
  /** Stops delivering arriving bytes until resume() (the receiver's writers are behind). */
  pause(): void;
  resume(): void;
  /** Where arriving bytes go. An exception thrown by fn ends the channel with that error. */
  onBytes(fn: (chunk: Uint8Array) => void): void;
  /** Flushes what was written and closes the sending side gracefully. */
  end(): Promise<void>;
  /** Closes at once; pending writes are dropped. */
  destroy(reason?: string): void;
  /** Resolves when the channel is closed, for any reason. */
  readonly closed: Promise<void>;
  /** Why the channel closed abnormally (an error, the peer vanishing before end()). */
  readonly failure: string | undefined;
  /** True when the peer closed its sending side (or the stream ended). */
  readonly peerEnded: boolean;
}

export class ChannelClosedError extends Error {
  readonly code = "CHANNEL_CLOSED";
  constructor(message: string) {
    super(message);
    this.name = "ChannelClosedError";
  }
}

/** Bytes read from the socket at a time when it is drained directly. */
const DIRECT_READ_BYTES = 4 << 20;
/** How long one direct drain or sendfile stretch may hold the event loop. */
const DIRECT_SLICE_MS = 20;
/** Lets the event loop run (timers, other sockets) before going on. */
export const yieldNow = () => new Promise<void>((r) => setImmediate(r));

/**
 * The socket events every data-plane socket forwards to its SocketChannel, found in the socket's
 * data by `channelOf`: both clients (plain and TLS) and the daemon's data port spread these into
 * their handlers and add only what is theirs (connecting, the handshake, the HELLO deadline).
 */
export function channelEvents<D>(channelOf: (data: D) => SocketChannel | undefined) {
  return {
    data(s: Socket<D>, chunk: Uint8Array) {
      channelOf(s.data)?.onData(chunk);
    },
    drain(s: Socket<D>) {
      channelOf(s.data)?.onDrain();
    },
    end(s: Socket<D>) {
      channelOf(s.data)?.onEnd();
    },
    close(s: Socket<D>, err?: Error) {
      channelOf(s.data)?.onClose(err);
    },
    error(s: Socket<D>, err: Error) {
      channelOf(s.data)?.onClose(err);
    },
  };
}

/**
 * Where a channel's incoming bytes go: held until onBytes names the consumer, then handed to it
 * in order; a consumer that throws (a frame that breaks the protocol) ends the channel.
 */
class Inbox {
  private fn: ((chunk: Uint8Array) => void) | undefined;
  private early: Uint8Array[] = [];
  constructor(private readonly fail: (reason: string) => void) {}

  get hasConsumer(): boolean {
    return this.fn !== undefined;
  }

  /** A chunk that came before the consumer (the caller copies it if the runtime reuses it). */
  hold(chunk: Uint8Array): void {
    this.early.push(chunk);
  }

  consume(fn: (chunk: Uint8Array) => void): void {
    this.fn = fn;
    const early = this.early;
    this.early = [];
    for (const c of early) if (!this.deliver(c)) return;
  }

  /** False when the consumer threw and the channel was ended. */
  deliver(chunk: Uint8Array): boolean {
    try {
      this.fn!(chunk);
      return true;
    } catch (err) {
      this.fail(err instanceof Error ? err.message : String(err));
      return false;
    }
  }
}

/**
 * Bun socket channel. The owner routes the socket handler's events to onData/onDrain/onClose.
 * On Linux, after each chunk Bun delivers, the channel reads what else is waiting straight from
 * the socket's fd in 4 MiB reads, and sendFile() feeds the socket with sendfile(2); both give the
 * event loop back every 20 ms. Bun's own events still report the end of the stream and errors.
 */
export class SocketChannel implements Channel {
  readonly kind = "tcp" as const;
  failure: string | undefined;
  peerEnded = false;
  readonly closed: Promise<void>;
  private queue: Uint8Array[] = [];
  private waiters: (() => void)[] = [];
  private isClosed = false;
  private ending = false;
  private resolveClosed!: () => void;
  private readonly inbox = new Inbox((reason) => this.destroy(reason));
  /** The socket's fd for direct reads and sendfile; -1 when that path is not used. */
  private readonly fd: number;
  private readBuf: Uint8Array | undefined;
  private paused = false;
  declare sendFile?: (fileFd: number, len: number) => Promise<number>;

  /** `encrypted`: a TLS socket, whose fd carries ciphertext: no direct reads, no sendfile. */
  constructor(private socket: Socket<any>, encrypted = false) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
    const fd = (socket as unknown as { fd?: unknown }).fd;
    this.fd = !encrypted && typeof fd === "number" && fd >= 0 && directSocketIoAvailable() ? fd : -1;
    if (this.fd >= 0) this.sendFile = (fileFd, len) => this.sendFileDirect(fileFd, len);
  }

  write(buf: Uint8Array): void | Promise<void> {
    if (this.isClosed) throw new ChannelClosedError(this.failure ?? "connection closed");
    if (this.queue.length === 0) {
      const n = this.socket.write(buf);
      if (n < 0) {
        this.destroy("connection closed while sending");
        throw new ChannelClosedError(this.failure!);
      }
      if (n >= buf.length) return;
      this.queue.push(buf.subarray(n));
    } else this.queue.push(buf);
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  onBytes(fn: (chunk: Uint8Array) => void): void {
    this.inbox.consume(fn);
  }

  /** From the socket handler's `data`. */
  onData(chunk: Uint8Array): void {
    if (this.isClosed) return;
    if (!this.inbox.hasConsumer) {
      // Copy: the runtime may reuse the buffer after the callback returns.
      this.inbox.hold(Uint8Array.from(chunk));
      return;
    }
    if (this.inbox.deliver(chunk)) this.drainDirect();
  }

  /** Reads what else is waiting on the socket, in large reads, for up to one time slice. */
  private drainDirect(): void {
    if (this.fd < 0) return;
    const buf = (this.readBuf ??= new Uint8Array(new ArrayBuffer(DIRECT_READ_BYTES)));
    const t0 = performance.now();
    while (!this.isClosed && !this.paused) {
      // EOF, nothing waiting, or an error: Bun's own events report the end and the errors
      const n = socketRead(this.fd, buf, 0, buf.length);
      if (typeof n === "string" || n <= 0) return;
      if (!this.inbox.deliver(buf.subarray(0, n))) return;
      if (performance.now() - t0 > DIRECT_SLICE_MS) return; // epoll wakes the socket again
    }
  }

  pause(): void {
    if (this.paused || this.isClosed) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.isClosed) return;
    this.socket.resume();
    setImmediate(() => {
      if (this.inbox.hasConsumer && !this.paused) this.drainDirect();
    });
  }

  private async sendFileDirect(fileFd: number, len: number): Promise<number> {
    while (this.queue.length > 0 && !this.isClosed) await new Promise<void>((resolve) => this.waiters.push(resolve));
    let sent = 0;
    let t0 = performance.now();
    while (sent < len) {
      if (this.isClosed) throw new ChannelClosedError(this.failure ?? "connection closed");
      const n = socketSendFile(this.fd, fileFd, Math.min(len - sent, 1 << 30));
      if (typeof n === "string") {
        this.destroy(`connection closed while sending (${n})`);
        throw new ChannelClosedError(this.failure!);
      }
      if (n === 0) break; // the file ended early
      if (n > 0) sent += n;
      else pollWritable(this.fd, 5);
      if (performance.now() - t0 > DIRECT_SLICE_MS) {
        await yieldNow();
        t0 = performance.now();
      }
    }
    return sent;
  }


  /** From the socket handler's `drain`. */
  onDrain(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.socket.write(head);
      if (n < 0) {
        this.destroy("connection closed while sending");
        return;
      }
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
    if (this.ending) this.socket.end();
  }

  /** From the socket handler's `end` (peer half-closed). */
  onEnd(): void {
    this.peerEnded = true;
  }

  /** From the socket handler's `close` / `error`. */
  onClose(err?: unknown): void {
    if (this.isClosed) return;
    if (err && !this.failure) this.failure = err instanceof Error ? err.message : String(err);
    if (!this.ending && !this.failure) this.failure = "connection closed by the peer";
    this.finishClose();
  }

  private finishClose(): void {
    this.isClosed = true;
    this.queue = [];
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r(); // writers wake and find the channel closed on their next write
    this.resolveClosed();
  }

  async end(): Promise<void> {
    if (this.isClosed) return;
    this.ending = true;
    if (this.queue.length === 0) this.socket.end();
    await this.closed;
  }

  destroy(reason?: string): void {
    if (this.isClosed) return;
    if (reason && !this.failure) this.failure = reason;
    else if (!this.failure) this.failure = "closed";
    try {
      this.socket.terminate();
    } catch {}
    this.finishClose();
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }
}

/** The part of a grpc-js duplex stream (client or server side) a channel needs. */
export interface GrpcDuplex {
  write(msg: { frames: Uint8Array }): boolean;
  end(): void;
  on(event: string, fn: (...args: any[]) => void): unknown;
  once(event: string, fn: (...args: any[]) => void): unknown;
  cancel?(): void;
  destroy?(err?: Error): void;
  pause?(): unknown;
  resume?(): unknown;
}

/** gRPC stream channel: frames ride in DataChunk messages. */
export class GrpcChannel implements Channel {
  readonly kind = "grpc" as const;
  failure: string | undefined;
  peerEnded = false;
  readonly closed: Promise<void>;
  private readonly inbox = new Inbox((reason) => this.destroy(reason));
  private isClosed = false;
  private resolveClosed!: () => void;
  private drainWaiters: (() => void)[] = [];

  /** `onDestroy` ends the call in the way its side needs (the server sends an error status). */
  constructor(private stream: GrpcDuplex, private onDestroy?: (reason: string) => void) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
    stream.on("data", (msg: { frames?: Uint8Array }) => {
      if (this.isClosed) return;
      const chunk = msg?.frames;
      if (!chunk || chunk.length === 0) return;
      if (!this.inbox.hasConsumer) {
        this.inbox.hold(chunk);
        return;
      }
      this.inbox.deliver(chunk);
    });
    stream.on("drain", () => {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const r of w) r();
    });
    stream.on("end", () => {
      this.peerEnded = true;
    });
    stream.on("error", (err: Error) => this.close(streamWords((err as { details?: string }).details || err.message) || "stream error"));
    stream.on("close", () => this.close(this.peerEnded ? undefined : "stream closed by the peer"));
    stream.on("finish", () => {});
    stream.on("status", (s: { code: number; details: string }) => {
      this.peerEnded = true;
      if (s.code !== 0 && !this.failure) this.failure = streamWords(s.details) || `status ${s.code}`;
      this.close(undefined);
    });
  }

  write(buf: Uint8Array): void | Promise<void> {
    if (this.isClosed) throw new ChannelClosedError(this.failure ?? "stream closed");
    if (this.stream.write({ frames: buf })) return;
    return new Promise<void>((r) => this.drainWaiters.push(r));
  }

  onBytes(fn: (chunk: Uint8Array) => void): void {
    this.inbox.consume(fn);
  }


  private close(reason: string | undefined): void {
    if (this.isClosed) return;
    if (reason && !this.failure) this.failure = reason;
    this.isClosed = true;
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const r of w) r();
    this.resolveClosed();
  }

  pause(): void {
    this.stream.pause?.();
  }

  resume(): void {
    this.stream.resume?.();
  }

  async end(): Promise<void> {
    if (this.isClosed) return;
    try {
      this.stream.end();
    } catch {}
    await this.closed;
  }

  destroy(reason?: string): void {
    if (this.isClosed) return;
    this.failure ??= reason ?? "closed";
    try {
      if (this.onDestroy) this.onDestroy(this.failure);
      else if (this.stream.cancel) this.stream.cancel();
      else this.stream.destroy?.(new Error(this.failure));
    } catch {}
    this.close(this.failure);
  }
}

/**
 * gRPC's text for a broken stream, cut to its first words: without the "14 UNAVAILABLE: "
 * status prefix and the "Last error: ... Resolution note: ..." tail, which name no host and no
 * fix (the caller's message does both).
 */
export function streamWords(text: string | undefined): string {
  if (!text) return "";
  const plain = text.replace(/^\d+ [A-Z_]+: /, "");
  const cut = plain.search(/\.? *(Last error:|Resolution note:)/);
  return (cut >= 0 ? plain.slice(0, cut) : plain).trim();
}

/**
 * `ch` with its traffic counted into `count` (bytes written and sendFile'd out, bytes delivered
 * in), for the report's dataBytesOut/dataBytesIn.
 */
export function countedChannel(ch: Channel, count: { out: number; in: number }): Channel {
  const counted: Channel = {
    kind: ch.kind,
    write(buf) {
      count.out += buf.length;
      return ch.write(buf);
    },
    pause: () => ch.pause(),
    resume: () => ch.resume(),
    onBytes(fn) {
      ch.onBytes((chunk) => {
        count.in += chunk.length;
        fn(chunk);
      });
    },
    end: () => ch.end(),
    destroy: (reason) => ch.destroy(reason),
    get closed() {
      return ch.closed;
    },
    get failure() {
      return ch.failure;
    },
    get peerEnded() {
      return ch.peerEnded;
    },
  };
  if (ch.sendFile) {
    const sendFile = ch.sendFile.bind(ch);
    counted.sendFile = async (fd, len) => {
      const n = await sendFile(fd, len);
      count.out += n;
      return n;
    };
  }
  return counted;
}
