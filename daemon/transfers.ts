// One transfer on the daemon side: negotiated over gRPC, its data over a one-time TCP listener
// (or the gRPC Data stream), ended by Complete. Tokens are 32 random bytes, single use, valid for
// token_ttl seconds; the listener closes when the token is used or expires. A transfer idle for
// idle_timeout is ended and its temporaries removed. Nothing a peer sends can end the daemon:
// every failure ends that transfer only.
import type { Socket, SocketHandler, TCPSocketListener, TLSOptions } from "bun";
import { timingSafeEqual } from "node:crypto";
import {
  ChannelClosedError, channelEvents, DELTA_MIN_BYTES, hashHex, resolveChecks, sameFrames, sendFiles, SigStore, SocketChannel, TreeReceiver,
  emptyTree, startContext, T_FILE, type CapturedContext, type Channel, type ContextRecorder, type Plan, type Tree,
} from "../engine/index.ts";
import {
  type EntryStat, type FsError, type RootedDir, type RootHandoff, type XattrSelection,
} from "../ffi/index.ts";
import {
  F_BASIS, F_CHECK, F_ERROR, F_HELLO, F_NEED, F_NEED_END, F_SIGS, FrameDecoder, FrameError, HASH_BYTES, TOKEN_BYTES, doneFrame, readU32List,
  printable, textFrame, type FrameHandler,
} from "../proto/index.ts";
import type { ModuleConfig } from "./config.ts";

export type Direction = "push" | "pull";
export type DataState = "waiting" | "active" | "done" | "failed" | "expired";

export interface TransferOptions {
  mirror: boolean;
  checksum: boolean;
  sizeOnly: boolean;
  ignoreTimes: boolean;
  maxDelete: number;
  force: boolean;
  dryRun: boolean;
  /** The --exclude patterns an older client sent (for the report). */
  exclude: string[];
  /** The selection rules both walks apply, canonical (engine/select): Options.filter, else the excludes as "- " rules. */
  filter: string[];
  /** Bytes per second a pull's data may go at (the client's --bwlimit); 0: no limit. */
  bwlimit: number;
  hardLinks: boolean;
  /** pull: the client listed FEATURE_SPARSE, so holes go as HOLE frames. */
  sparse: boolean;
  /** push: changed files with an older version here travel as deltas against it (the client asked, FEATURE_DELTA). */
  delta: boolean;
  /** push: files a broken earlier push kept a part of resume from it (the client has FEATURE_DELTA). */
  resume: boolean;
  /**
   * push: what received entries get beyond mode and mtime, as far as the module and the daemon's
   * privileges allow (see normalizeOpts); pull: what the manifest carries.
   */
  owner: boolean;
  group: boolean;
  xattrs: boolean;
  acls: boolean;
  /** The attribute selection (push: trusted.* and security.* only where owners are kept). */
  xattrSel: XattrSelection | undefined;
  numericIds: boolean;
  specials: boolean;
  devices: boolean;
  /** What the client asked for that this transfer does not keep, and why (NegotiateReply.not_kept). */
  notKept: Record<string, string>;
}

export interface TransferEnv {
  bindHost: string;
  tokenTtlMs: number;
  forceGrpcData: boolean;
  /** The daemon's certificate for the data-plane listeners (daemon/tls.ts); undefined: plaintext. */
  tls?: TLSOptions;
  /** How long a socket on the data port has to send HELLO (handshake_timeout). */
  helloTimeoutMs: number;
  /** Called when the transfer saw activity (bytes, RPCs). */
  onRemove(t: Transfer): void;
  log(msg: string): void;
  /**
   * BLAKE2b-256 of regular files beneath the root handed off as `root`, off the event loop (the
   * daemon's worker threads); absent: hashed on this thread.
   */
  hash?(root: RootHandoff, paths: string[]): Promise<(Uint8Array | null)[]>;
}

/**
 * Sockets on one data port that have not sent HELLO yet, at once; one more closes the oldest of
 * them, so idle sockets can delay the client that holds the token but never lock it out.
 */
const MAX_PENDING_SOCKETS = 8;

type DataSocket = Socket<{ ch: SocketChannel; timer?: ReturnType<typeof setTimeout> }>;

/** Why a walk of the receiving side found the target unusable. */
export class TargetError extends Error {
  constructor(readonly code: "BAD_PATH" | "NOT_FOUND", message: string) {
    super(message);
  }
}

/** Opens `rel` beneath the module root as a directory; undefined when it (or a directory above it) does not exist. */
function openDirIfExists(modRoot: RootedDir, rel: string): RootedDir | undefined {
  try {
    return modRoot.openDir(rel);
  } catch (err) {
    if ((err as FsError).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Opens `rel` beneath the module root as a directory, creating missing components. */
export function openOrCreateDir(modRoot: RootedDir, rel: string): RootedDir {
  let cur = modRoot.openDir("");
  if (rel === "") return cur;
  try {
    for (const p of rel.split("/")) {
      let next: RootedDir;
      try {
        next = cur.openDir(p);
      } catch (err) {
        if ((err as FsError).code !== "ENOENT") throw err;
        try {
          cur.mkdir(p, 0o755);
        } catch (e) {
          if ((e as FsError).code !== "EEXIST") throw e;
        }
        next = cur.openDir(p);
      }
      cur.close();
      cur = next;
    }
    return cur;
  } catch (err) {
    cur.close();
    throw err;
  }
}

/**
 * Takes a fresh data channel (TCP or gRPC). The first frame must be HELLO with a valid token,
 * which names the transfer; anything else closes that channel only (the transfer keeps waiting
 * until its token expires). `settled` runs once the channel authenticated or closed.
 */
export function acceptChannel(ch: Channel, resolve: (token: Uint8Array) => Transfer | undefined, settled?: () => void, log?: (m: string) => void): void {
  let handler: FrameHandler;
  let bound: Transfer | undefined;
  const hello: FrameHandler = {
    frame: (type, payload) => {
      if (type !== F_HELLO) throw new FrameError("first frame must be HELLO");
      const t = resolve(payload);
      if (!t) throw new FrameError("data token rejected");
      bound = t;
      settled?.();
      settled = undefined;
      handler = t.claim(ch);
    },
    data: () => {
      throw new FrameError("first frame must be HELLO");
    },
  };
  handler = hello;
  const decoder = new FrameDecoder({ frame: (t, p) => handler.frame(t, p), data: (c) => handler.data(c) });
  ch.onBytes((chunk) => {
    bound?.touch();
    try {
      decoder.feed(chunk);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (bound) log?.(`transfer ${bound.id}: ${msg}`);
      try {
        void ch.write(textFrame(F_ERROR, new Uint8Array(0), msg));
      } catch {}
      throw err; // the channel closes itself
    }
  });
  void ch.closed.then(() => {
    settled?.();
    settled = undefined;
  });
}

/**
 * Transfers that hold one of the max_connections transfer slots: those that may still move data
 * (waiting for their data connection, or moving data). One whose token expired unused, or whose
 * data ended, only waits for its Complete (for complete_timeout at most; see deadlines.ts).
 */
export function slotsHeld(transfers: Iterable<Transfer>): number {
  let n = 0;
  for (const t of transfers) if (t.holdsSlot) n++;
  return n;
}

export class Transfer {
  readonly id = crypto.randomUUID();
  readonly token = new Uint8Array(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)));
  readonly tokenHex = Buffer.from(this.token).toString("hex");
  readonly startedAt = new Date();
  readonly t0 = performance.now();
  dataState: DataState = "waiting";
  transport: "tcp" | "grpc" | "none" = "none";
  lastActivity = Date.now();
  /** When the data ended (done or failed) or the token expired unused; then only Complete is awaited. */
  dataEndedAt: number | undefined;
  listener: TCPSocketListener<any> | undefined;
  receiver: TreeReceiver | undefined;
  /** pull: what was sent. */
  sent = { files: 0, bytes: 0, holeBytes: 0, errors: 0, same: 0, deltaFiles: 0, matchedBytes: 0, literalBytes: 0 };
  failure: string | undefined;
  transferMs = 0;
  private dataT0 = 0;
  private channel: Channel | undefined;
  /** Data-port sockets that have not sent HELLO yet, oldest first. */
  private readonly pendingSockets = new Set<SocketChannel>();
  private resolveData!: () => void;
  readonly dataDone: Promise<void>;
  private ttlTimer: ReturnType<typeof setTimeout> | undefined;
  private finished = false;
  /** The machine around this transfer, at the daemon's end (the module's device). */
  private readonly ctx: ContextRecorder;

  constructor(
    readonly direction: Direction,
    readonly module: ModuleConfig,
    readonly path: string,
    /** The directory the manifest's paths are relative to (beneath the module); none for a dry run into a directory not made yet. */
    readonly root: RootedDir | undefined,
    /** push: the client's tree; pull: the daemon's tree. */
    readonly src: Tree,
    readonly dst: Tree,
    readonly plan: Plan | undefined,
    readonly opts: TransferOptions,
    readonly singleFile: boolean,
    readonly peer: string,
    private env: TransferEnv,
  ) {
    this.dataDone = new Promise((r) => (this.resolveData = r));
    // The module's path, not the peer's: the device facts never depend on what a client names.
    this.ctx = startContext({
      ...(direction === "push" ? { destination: module.path } : { source: module.path }),
      progress: () => (this.receiver ? { bytes: this.receiver.summary.bytesWritten, files: this.receiver.summary.filesWritten } : this.sent),
    });
    if (direction === "push" && plan) {
      // A dry run into a directory not made yet has no root: its receiver is never fed.
      this.receiver = new TreeReceiver(root!, src, dst, plan, {
        mirror: opts.mirror, checksum: opts.checksum, maxDelete: opts.maxDelete, force: opts.force, singleFile,
        keep: opts.owner || opts.group || opts.xattrSel ? { owner: opts.owner, group: opts.group, xattrs: opts.xattrSel } : undefined,
      });
    }
  }

  touch(): void {
    this.lastActivity = Date.now();
  }

  get holdsSlot(): boolean {
    return this.dataState === "waiting" || this.dataState === "active";
  }

  /** Opens the one-time TCP listener (unless gRPC data is forced) and starts the token clock. */
  openDataPlane(): number {
    this.ttlTimer = setTimeout(() => this.expire(), this.env.tokenTtlMs);
    if (this.env.forceGrpcData) return 0;
    this.listener = Bun.listen({ hostname: this.env.bindHost, port: 0, tls: this.env.tls, socket: this.dataSocketHandler() });
    return this.listener.port;
  }

  /**
   * The data port's socket events. Every socket gets helloTimeoutMs to present the token; the
   * listener keeps accepting until the token is used or expires, and at most
   * MAX_PENDING_SOCKETS wait for HELLO at once (one more closes the oldest).
   */
  private dataSocketHandler(): SocketHandler<DataSocket["data"]> {
    const self = this;
    const events = channelEvents<DataSocket["data"]>((d) => d?.ch);
    return {
      open(socket: DataSocket) {
        const ch = new SocketChannel(socket, !!self.env.tls);
        socket.data = { ch };
        if (self.dataState !== "waiting") {
          ch.destroy("not accepting");
          return;
        }
        self.admitPendingSocket(ch);
        socket.data.timer = setTimeout(() => ch.destroy("no HELLO in time"), self.env.helloTimeoutMs);
        acceptChannel(ch, (tok) => (self.tokenMatches(tok) ? self : undefined), () => {
          clearTimeout(socket.data.timer);
          self.pendingSockets.delete(ch);
        }, self.env.log);
      },
      ...events,
      close(socket: DataSocket, err) {
        if (socket.data?.timer) clearTimeout(socket.data.timer);
        events.close(socket, err);
      },
    };
  }

  private admitPendingSocket(ch: SocketChannel): void {
    if (this.pendingSockets.size >= MAX_PENDING_SOCKETS) {
      const oldest = this.pendingSockets.values().next().value!;
      this.pendingSockets.delete(oldest);
      oldest.destroy("too many connections waiting to send HELLO");
    }
    this.pendingSockets.add(ch);
  }

  /** The token matches (constant time) and is still unused and unexpired. */
  tokenMatches(candidate: Uint8Array): boolean {
    return this.dataState === "waiting" && candidate.length === TOKEN_BYTES && timingSafeEqual(candidate, this.token);
  }

  /** The token is used: close the listener, start the direction's session on this channel. */
  claim(ch: Channel): FrameHandler {
    this.dataState = "active";
    this.transport = ch.kind;
    this.channel = ch;
    this.dataT0 = performance.now();
    if (this.ttlTimer) clearTimeout(this.ttlTimer);
    this.closeListener();
    this.env.onRemove(this); // forget the token: single use
    void ch.closed.then(() => this.channelClosed(ch));
    if (this.direction === "push") {
      const r = this.receiver!;
      r.prepare();
      r.flow = { pause: () => ch.pause(), resume: () => ch.resume() };
      // Files with a basis here: their block hashes go to the client, which waits for them.
      if (this.plan?.basis.size) {
        void r.sign((f) => ch.write(f)).catch((err) => ch.destroy(`delta: ${err instanceof Error ? err.message : String(err)}`));
      }
      r.onDone = () => {
        // Confirm: the client calls Complete only after this, so Complete never overtakes the data.
        try {
          void ch.write(doneFrame(r.summary.filesWritten, r.summary.errorCount));
        } catch {}
        this.dataFinished("done");
        void ch.end();
      };
      return r;
    }
    return this.needCollector(ch);
  }

  private channelClosed(ch: Channel): void {
    if (this.dataState !== "active") return;
    const why = ch.failure ?? "data connection closed before the transfer finished";
    this.receiver?.abort(`data connection lost: ${why}`);
    this.dataFinished("failed", why);
  }

  private dataFinished(state: "done" | "failed", why?: string): void {
    if (this.dataState !== "active") return;
    this.dataState = state;
    this.dataEndedAt = Date.now();
    if (why) this.failure ??= why;
    this.transferMs = performance.now() - this.dataT0;
    this.resolveData();
  }

  /** pull: collect NEED/CHECK frames until NEED_END, then send. */
  private needCollector(ch: Channel): FrameHandler {
    const n = this.src.paths.length;
    const asked = new Uint8Array(n);
    const need: number[] = [];
    const checks: { index: number; hash: Uint8Array }[] = [];
    // Files the client has a basis for (BASIS): their block hashes (SIGS) come after NEED_END.
    const basis = new Set<number>();
    const sigs = new SigStore(basis, (i) => this.src.sizes[i]!);
    void ch.closed.then(() => sigs.close("the data connection closed"));
    let ended = false;
    const take = (i: number) => {
      if (i >= n || this.src.types[i] !== T_FILE) throw new FrameError(`client asked for entry ${i}, which is not a file`);
      if (asked[i]) throw new FrameError(`client asked for entry ${i} twice`);
      asked[i] = 1;
    };
    return {
      frame: (type, p) => {
        if (ended) {
          if (type === F_SIGS && basis.size) return sigs.add(p);
          throw new FrameError(`frame type ${type} after NEED_END`);
        }
        if (type === F_NEED) {
          for (const i of readU32List(p)) {
            take(i);
            need.push(i);
          }
        } else if (type === F_CHECK) {
          if (!this.opts.checksum) throw new FrameError("CHECK without --checksum");
          const per = 4 + HASH_BYTES;
          if (p.length % per !== 0) throw new FrameError("CHECK frame of a bad length");
          const dv = new DataView(p.buffer, p.byteOffset, p.length);
          for (let o = 0; o < p.length; o += per) {
            const i = dv.getUint32(o, true);
            take(i);
            checks.push({ index: i, hash: p.slice(o + 4, o + per) });
          }
        } else if (type === F_BASIS) {
          for (const i of readU32List(p)) {
            if (i >= n || !asked[i] || basis.has(i) || this.src.types[i] !== T_FILE || this.src.sizes[i]! < DELTA_MIN_BYTES) {
              throw new FrameError(`BASIS for entry ${i}, which was not asked for, is small, or is listed twice`);
            }
            basis.add(i);
          }
        } else if (type === F_NEED_END) {
          ended = true;
          void this.sendAll(ch, need, checks, basis.size ? { files: basis, sigs } : undefined);
        } else throw new FrameError(`unexpected frame type ${type} from a pulling client`);
      },
      data: () => {
        throw new FrameError("DATA from a pulling client");
      },
    };
  }

  private async sendAll(ch: Channel, need: number[], checks: { index: number; hash: Uint8Array }[], delta?: { files: ReadonlySet<number>; sigs: SigStore }): Promise<void> {
    try {
      let send = need;
      if (checks.length) {
        const r = await this.sameOrSend(checks);
        for (const f of sameFrames(r.same)) await ch.write(f);
        this.sent.same = r.same.length;
        send = need.concat(r.send);
      }
      const res = await sendFiles(ch, this.root!, this.src, send, {
        checksum: this.opts.checksum,
        bwlimit: this.opts.bwlimit,
        sparse: this.opts.sparse,
        delta,
        onProgress: () => this.touch(),
        cancelled: () => this.dataState !== "active",
      });
      this.sent.files = res.files;
      this.sent.bytes = res.bytes;
      this.sent.holeBytes = res.holeBytes;
      this.sent.deltaFiles = res.deltaFiles;
      this.sent.matchedBytes = res.matchedBytes;
      this.sent.literalBytes = res.literalBytes;
      this.sent.errors = res.errors.length;
      await ch.write(doneFrame(res.files, res.errors.length));
      this.dataFinished("done");
      await ch.end();
    } catch (err) {
      const msg = err instanceof ChannelClosedError ? `data connection lost: ${err.message}` : err instanceof Error ? err.message : String(err);
      ch.destroy(msg);
      this.dataFinished("failed", msg);
    }
  }

  /** --checksum: the checked files whose content is the same here (SAME) and those to send. */
  private async sameOrSend(checks: { index: number; hash: Uint8Array }[]): Promise<{ same: number[]; send: number[] }> {
    if (!this.env.hash) return resolveChecks(this.root!, this.src, checks);
    const mine = await this.env.hash(this.root!.handoff(), checks.map((c) => this.src.paths[c.index]!));
    const same: number[] = [];
    const send: number[] = [];
    checks.forEach((c, k) => {
      const h = mine[k];
      if (h && c.hash.length === HASH_BYTES && hashHex(h) === hashHex(c.hash)) same.push(c.index);
      else send.push(c.index);
    });
    return { same, send };
  }

  /** The token's time is up: close the listener; a transfer never connected gets no data. */
  expire(): void {
    this.closeListener();
    if (this.dataState === "waiting") {
      this.dataState = "expired";
      this.dataEndedAt = Date.now();
      this.env.onRemove(this);
      this.resolveData();
    }
  }

  closeListener(): void {
    if (this.ttlTimer) clearTimeout(this.ttlTimer);
    if (this.listener) {
      try {
        this.listener.stop(false); // the claimed connection stays open
      } catch {}
      this.listener = undefined;
    }
  }

  /** Ends the transfer at once (client gone, idle, daemon stopping): temporaries removed, nothing deleted. */
  abort(reason: string): void {
    this.failure ??= reason;
    this.closeListener();
    this.channel?.destroy(reason);
    if (this.dataState === "waiting") this.dataState = "expired";
    if (this.dataState === "active") this.dataFinished("failed", reason);
    this.receiver?.abort(reason);
    this.resolveData();
  }

  /** Releases the fds; call once, after Complete or abort. */
  release(): void {
    if (this.finished) return;
    this.finished = true;
    this.closeListener();
    this.root?.close();
    this.ctx.stop();
  }

  /** The context recorded from negotiation to release (RunReport.context and .timeline). */
  context(): CapturedContext {
    return this.ctx.stop();
  }
}

/**
 * Resolves a push target: a directory tree, or (single file) the directory and final name. A
 * missing target directory is created, except for a dry run, which changes nothing: it plans
 * against what exists, and a target that does not exist yet is an empty tree (no root).
 */
export function openPushTarget(modRoot: RootedDir, path: string, singleName: string | undefined, dryRun = false): { root?: RootedDir; name?: string } {
  if (singleName === undefined) {
    try {
      return { root: dryRun ? openDirIfExists(modRoot, path) : openOrCreateDir(modRoot, path) };
    } catch (err) {
      const code = (err as FsError).code;
      if (code === "ENOTDIR" || code === "EEXIST") throw new TargetError("BAD_PATH", `remote path '${path}' is not a directory`);
      if (code === "EXDEV" || code === "ELOOP") throw new TargetError("BAD_PATH", `remote path '${path}' leads outside the module`);
      throw err;
    }
  }
  // One file: into `path` when it is a directory, else to the name `path` in its parent.
  if (path !== "") {
    try {
      return { root: modRoot.openDir(path), name: singleName };
    } catch (err) {
      const code = (err as FsError).code;
      if (code === "EXDEV" || code === "ELOOP") throw new TargetError("BAD_PATH", `remote path '${path}' leads outside the module`);
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
    }
    const k = path.lastIndexOf("/");
    const parent = k < 0 ? "" : path.slice(0, k);
    try {
      return { root: modRoot.openDir(parent), name: path.slice(k + 1) };
    } catch (err) {
      const code = (err as FsError).code;
      if (code === "ENOENT") throw new TargetError("NOT_FOUND", `remote directory '${parent}' does not exist`);
      if (code === "EXDEV" || code === "ELOOP" || code === "ENOTDIR") throw new TargetError("BAD_PATH", `remote path '${path}' leads outside the module or through a non-directory`);
      throw err;
    }
  }
  return { root: modRoot.openDir(""), name: singleName };
}

/** The receiving side's tree for a single file: that one name, if it is a regular file. */
export function singleDstTree(root: RootedDir, name: string): Tree {
  const t = emptyTree();
  try {
    const st = root.lstat(name);
    if (st.type === "dir") throw new TargetError("BAD_PATH", `remote path '${name}' is a directory; the source is a file`);
    if (st.type !== "file") throw new TargetError("BAD_PATH", `remote path '${name}' exists and is not a regular file`);
    return { ...t, rootExists: true, paths: [name], types: [T_FILE], sizes: [st.size], modes: [st.mode], mtimeSec: [st.mtimeSec], mtimeNsec: [st.mtimeNsec] };
  } catch (err) {
    if (err instanceof TargetError) throw err;
    if ((err as FsError).code === "ENOENT") return t;
    throw err;
  }
}

/**
 * Opens a pull source: a directory (to be walked: no tree) or one regular file (its directory
 * and a one-entry tree). Nothing else is opened: the root is opened as a directory (a FIFO or device fails in
 * the lookup, before any open that could block), and a non-directory is looked at with lstat.
 */
export function openPullSource(modRoot: RootedDir, path: string): { root: RootedDir; tree?: Tree } {
  try {
    // The path that names the pull's root may go through symlinks that stay inside the module
    // (as a SRC given as a symlink is followed locally); nothing below that root is followed.
    return { root: modRoot.openRootBelow(path) };
  } catch (err) {
    const code = (err as FsError).code;
    if (code === "ENOENT") throw new TargetError("NOT_FOUND", `remote path '${printable(path)}' does not exist`);
    if (code === "EXDEV" || code === "ELOOP") throw new TargetError("BAD_PATH", `remote path '${printable(path)}' leads outside the module`);
    if (code !== "ENOTDIR") throw err;
  }
  const k = path.lastIndexOf("/");
  const parent = k < 0 ? "" : path.slice(0, k);
  const name = path.slice(k + 1);
  let dir: RootedDir;
  try {
    dir = modRoot.openDir(parent);
  } catch (err) {
    const code = (err as FsError).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new TargetError("NOT_FOUND", `remote path '${printable(path)}' does not exist`);
    if (code === "EXDEV" || code === "ELOOP") throw new TargetError("BAD_PATH", `remote path '${printable(path)}' leads outside the module`);
    throw err;
  }
  let st: EntryStat;
  try {
    st = dir.lstat(name);
  } catch (err) {
    dir.close();
    if ((err as FsError).code === "ENOENT") throw new TargetError("NOT_FOUND", `remote path '${printable(path)}' does not exist`);
    throw err;
  }
  if (st.type !== "file") {
    dir.close();
    const what = st.special ? `a ${SPECIAL_WORDS[st.special.kind]} (only regular files, directories and symlinks are served)` : "not a regular file or directory";
    throw new TargetError("BAD_PATH", `remote path '${printable(path)}' is ${what}`);
  }
  const tree: Tree = {
    ...emptyTree(), rootExists: true, paths: [name], types: [T_FILE], sizes: [st.size], modes: [st.mode], mtimeSec: [st.mtimeSec], mtimeNsec: [st.mtimeNsec],
    uid: [st.uid], gid: [st.gid],
  };
  return { root: dir, tree };
}

const SPECIAL_WORDS = { fifo: "FIFO", socket: "socket", char: "character device", block: "block device" } as const;
