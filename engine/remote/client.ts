// The client side of blit push / pull / ls. The daemon is untrusted too: every path it sends is
// checked (proto/manifest.ts) and written only beneath the destination (openat2 RESOLVE_BENEATH),
// every frame is bounded, and a daemon that vanishes leaves no partial file behind.
import { hostname, release } from "node:os";
import {
  backend, closeFd, displayName, filesystemType, metadataPrivileges, nameFs, namePath, openBeneath, openRootDir, readMetadataAt, unlinkAt, O_DIRECTORY, O_RDONLY,
  type FsError, type Xattr, type XattrSelection,
} from "../../ffi/index.ts";
import {
  AUTH_METADATA_KEY, blitClient, decodeManifest, encodeFrame, encodeManifest, F_CHECK, F_ERROR, F_HELLO, F_NEED,
  F_NEED_END, F_DONE, FEATURE_METADATA, FEATURE_SPARSE, FEATURES, FrameDecoder, grpc, HASH_BYTES, PathError, peerFeatures,
  printable, readU32List, decodeText, doneFrame, u32List,
} from "../../proto/index.ts";
import { UsageError } from "../errors.ts";
// Byte-exact node:fs and node:path: local paths may hold names that are not UTF-8.
const { existsSync, mkdirSync, statSync } = nameFs;
const { basename, dirname, resolve } = namePath;
import type { Action, Progress } from "../run.ts";
import { ChannelClosedError, GrpcChannel, SocketChannel, type Channel, type GrpcDuplex } from "./channel.ts";
import { planTrees, workloadOf, type Plan } from "../plan.ts";
import { removeTreeAt } from "../dest-tree.ts";
import { hashBeneath, TreeReceiver, type ReceiveSummary } from "./receive.ts";
import { resolveChecks, sameFrames, sendFiles } from "./send.ts";
import { mapOwners, readTreeXattrs } from "./metadata.ts";
import { formatRemoteUrl, parseRemoteUrl, type RemoteUrl } from "./url.ts";
import type { Command, Counts, RunError, RunOptions, RunReport, RunStatus } from "../report.ts";
import { VERSION } from "../version.ts";
import { emptyTree, T_FILE, walkTree, type Tree } from "../walk.ts";

export interface RemoteJob {
  /** "mirror" deletes on the receiving side what the source lacks (--mirror). */
  command: Command;
  route: "push" | "pull";
  /** push: the local source; pull: the local destination. */
  local: string;
  /** blit://HOST:PORT/MODULE[/PATH] */
  remote: string;
  options: RunOptions;
  /** Carry file data inside gRPC even when a TCP data connection would work. @default false */
  forceGrpc?: boolean;
  /** The daemon's auth token, sent as metadata on every RPC. */
  authToken?: string;
  /** Seconds to wait for the daemon to answer at all. @default 10 */
  connectTimeout?: number;
}

export interface RemoteHooks {
  onProgress?: (p: Progress) => void;
  /** Abort (Ctrl-C): the transfer stops, the receiving side removes its temporaries and deletes nothing. */
  signal?: AbortSignal;
}

/** A failure before anything was transferred, in words: unreachable, auth, module, read-only. */
export class RemoteError extends Error {
  constructor(readonly code: "UNREACHABLE" | "AUTH" | "MODULE_NOT_FOUND" | "READ_ONLY" | "NOT_FOUND" | "BAD_PATH" | "BUSY" | "PROTOCOL" | "REMOTE", message: string) {
    super(message);
    this.name = "RemoteError";
  }
}

export interface RemoteListing {
  url: string;
  /** Set when the URL named no module. */
  modules?: { name: string; comment: string; readOnly: boolean }[];
  entries?: { name: string; type: string; size: number; mode: number; mtimeSec: number }[];
  truncated?: boolean;
  isFile?: boolean;
}

/** The Options message of a Negotiate: what the user asked for, the metadata included. */
function wireOptions(job: RemoteJob) {
  const o = job.options;
  return {
    mirror: job.command === "mirror", checksum: o.checksum, size_only: o.sizeOnly, ignore_times: o.ignoreTimes, max_delete: o.maxDelete,
    force: o.force, dry_run: o.dryRun, exclude: o.exclude, bwlimit: o.bwlimit, hard_links: o.hardLinks, owner: o.owner, group: o.group,
    xattrs: o.xattrs, acls: o.acls, numeric_ids: !!o.numericIds, specials: !!o.specials, devices: !!o.devices,
  };
}

/** The attributes -X and -A keep, or undefined when neither is asked for. */
function xattrSelection(o: RunOptions): XattrSelection | undefined {
  return o.xattrs || o.acls ? { xattrs: o.xattrs, acls: o.acls } : undefined;
}

/** True when the options ask for anything only FEATURE_METADATA carries. */
function asksMetadata(o: RunOptions): boolean {
  return o.owner || o.group || o.xattrs || o.acls || !!o.specials || !!o.devices;
}

const OLD_PEER = "is an older blit that keeps no owners, extended attributes, ACLs or special files";

const TCP_CONNECT_TIMEOUT_MS = 3000;
const RPC_DEADLINE_MS = 10 * 60_000;

type Client = ReturnType<typeof blitClient>;

function metadataFor(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set(AUTH_METADATA_KEY, token);
  return md;
}

/** Maps a gRPC failure to the words the user sees. */
function fromGrpc(err: unknown, u: RemoteUrl): RemoteError {
  const e = err as grpc.ServiceError;
  const details = e?.details || e?.message || String(err);
  switch (e?.code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return new RemoteError("UNREACHABLE", `cannot reach ${u.address}: ${details}`);
    case grpc.status.UNAUTHENTICATED:
      return new RemoteError("AUTH", "auth token rejected");
    case grpc.status.PERMISSION_DENIED:
      return new RemoteError("READ_ONLY", details);
    case grpc.status.NOT_FOUND:
      return new RemoteError(details.startsWith("module ") ? "MODULE_NOT_FOUND" : "NOT_FOUND", details);
    case grpc.status.INVALID_ARGUMENT:
      return new RemoteError("BAD_PATH", details);
    case grpc.status.RESOURCE_EXHAUSTED:
      return new RemoteError("BUSY", details);
    default:
      return new RemoteError("REMOTE", `daemon error: ${details}`);
  }
}

function call<Res>(client: Client, method: string, req: unknown, md: grpc.Metadata, u: RemoteUrl): Promise<Res> {
  return new Promise<Res>((resolveCall, reject) => {
    client[method](req, md, { deadline: Date.now() + RPC_DEADLINE_MS }, (err: grpc.ServiceError | null, res: Res) => {
      if (err) reject(fromGrpc(err, u));
      else resolveCall(res);
    });
  });
}

/** Resolves once the gRPC channel is connected; fails at the first failed attempt (no retry loop). */
function waitReady(client: Client, u: RemoteUrl, seconds: number): Promise<void> {
  const channel = client.getChannel();
  const deadline = Date.now() + seconds * 1000;
  return new Promise((res, rej) => {
    const check = () => {
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return res();
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
        return rej(new RemoteError("UNREACHABLE", `cannot reach ${u.address}: connection refused or host unreachable`));
      }
      channel.watchConnectivityState(state, deadline, (err?: Error) => {
        if (err) rej(new RemoteError("UNREACHABLE", `cannot reach ${u.address}: no answer within ${seconds} s`));
        else check();
      });
    };
    check();
  });
}

/**
 * Makes one authenticated call right after connecting: blitd closes a connection that has made
 * no authenticated call within its handshake_timeout (a few seconds), and a push walks its
 * source before it negotiates. A rejected token is also reported before that walk.
 */
function authenticateConnection(client: Client, md: grpc.Metadata, u: RemoteUrl): Promise<void> {
  return new Promise<void>((resolveCall, reject) => {
    client.ListModules({}, md, { deadline: Date.now() + RPC_DEADLINE_MS }, (err: grpc.ServiceError | null) => {
      // A peer without ListModules (a minimal or test daemon) has no handshake to satisfy.
      if (!err || err.code === grpc.status.UNIMPLEMENTED) resolveCall();
      else reject(fromGrpc(err, u));
    });
  });
}

/** Lists a daemon's modules (URL without module) or a directory of a module. */
export async function listRemote(url: string, opts: { authToken?: string; connectTimeout?: number } = {}): Promise<RemoteListing> {
  const u = parseRemoteUrl(url, { needModule: false });
  const client = blitClient(u.address);
  const md = metadataFor(opts.authToken);
  try {
    await waitReady(client, u, opts.connectTimeout ?? 10);
    if (u.module === "") {
      const r = await call<any>(client, "ListModules", {}, md, u);
      return { url, modules: (r.modules ?? []).map((m: any) => ({ name: String(m.name), comment: String(m.comment ?? ""), readOnly: !!m.read_only })) };
    }
    const r = await call<any>(client, "ListDir", { module: u.module, path: u.path }, md, u);
    return {
      url,
      entries: (r.entries ?? []).map((e: any) => ({ name: printable(String(e.name)), type: String(e.type), size: Number(e.size), mode: Number(e.mode), mtimeSec: Number(e.mtime_sec) })),
      truncated: !!r.truncated,
      isFile: !!r.is_file,
    };
  } finally {
    client.close();
  }
}

/** A daemon's directory as a Tree, for `blit check`; nothing on the daemon is changed. */
export interface RemoteTree {
  /** The URL as given, normalized. */
  url: string;
  tree: Tree;
  /** The URL names one file, not a directory. */
  singleFile: boolean;
  /** The daemon's walk errors (tree.errors holds the first 100, side "source"). */
  errorCount: number;
}

/**
 * Reads the tree beneath blit://HOST:PORT/MODULE[/PATH] through the pull negotiation with
 * dry_run set: the daemon walks and sends its manifest (checked like any pull's) and registers
 * no transfer, so read-only modules work and nothing is written. Failures throw RemoteError.
 */
export async function fetchRemoteTree(url: string, opts: { authToken?: string; exclude?: string[]; connectTimeout?: number } = {}): Promise<RemoteTree> {
  const u = parseRemoteUrl(url, { needModule: true });
  const client = blitClient(u.address);
  const md = metadataFor(opts.authToken);
  try {
    await waitReady(client, u, opts.connectTimeout ?? 10);
    const reply = await call<any>(client, "Negotiate", {
      direction: "pull", module: u.module, path: u.path, client_version: VERSION,
      options: { mirror: false, checksum: false, size_only: false, ignore_times: false, max_delete: -1, force: false, dry_run: true, exclude: opts.exclude ?? [], bwlimit: 0 },
    }, md, u);
    let decoded: { tree: Tree; singleFile: boolean };
    try {
      decoded = decodeManifest(reply.manifest);
    } catch (err) {
      throw err instanceof PathError ? new RemoteError("PROTOCOL", `daemon sent an unsafe manifest: ${err.message}`) : err;
    }
    const { tree, singleFile } = decoded;
    tree.errors = (reply.errors ?? []).map((e: any) => ({ path: printable(String(e.path)), side: "source", code: String(e.code), message: printable(String(e.message)) }));
    return { url: formatRemoteUrl(u), tree, singleFile, errorCount: Math.max(tree.errors.length, Number(reply.error_count ?? 0)) };
  } finally {
    client.close();
  }
}

/** Connects the data plane over TCP to the host the user named (never an address the daemon names). */
function connectTcp(host: string, port: number, timeoutMs: number): Promise<SocketChannel> {
  return new Promise((resolveConn, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`no TCP connection to port ${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    Bun.connect<SocketChannel>({
      hostname: host,
      port,
      socket: {
        open(s) {
          s.data = new SocketChannel(s);
        },
        data(s, d) {
          s.data?.onData(d);
        },
        drain(s) {
          s.data?.onDrain();
        },
        end(s) {
          s.data?.onEnd();
        },
        close(s, err) {
          s.data?.onClose(err);
        },
        error(s, err) {
          s.data?.onClose(err);
        },
        connectError(_s, err) {
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            reject(err);
          }
        },
      },
    }).then(
      (sock) => {
        clearTimeout(timer);
        if (settled) sock.terminate();
        else {
          settled = true;
          resolveConn(sock.data);
        }
      },
      (err) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(err);
        }
      },
    );
  });
}

async function openChannel(client: Client, md: grpc.Metadata, u: RemoteUrl, port: number, forceGrpc: boolean, notes: Record<string, string>): Promise<Channel> {
  if (port > 0 && !forceGrpc) {
    try {
      return await connectTcp(u.host, port, TCP_CONNECT_TIMEOUT_MS);
    } catch (err) {
      notes.transport = `TCP data connection to ${u.host}:${port} failed (${(err as Error).message}); data went through gRPC`;
    }
  } else if (port === 0 && !forceGrpc) notes.transport = "the daemon carries data in gRPC only (--force-grpc-data)";
  const stream = client.Data(md) as GrpcDuplex;
  return new GrpcChannel(stream);
}

interface Timing {
  t0: number;
  enumerateMs: number;
  planMs: number;
  negotiateMs: number;
  transferMs: number;
  completeMs: number;
  deleteMs: number;
}

/** Runs one push or pull. Bad input throws UsageError; everything else is in the report. */
export async function runRemote(job: RemoteJob, hooks: RemoteHooks = {}): Promise<{ report: RunReport; actions: Action[] }> {
  const u = parseRemoteUrl(job.remote, { needModule: true });
  const started = new Date();
  const timing: Timing = { t0: performance.now(), enumerateMs: 0, planMs: 0, negotiateMs: 0, transferMs: 0, completeMs: 0, deleteMs: 0 };
  const errors: RunError[] = [];
  let errorCount = 0;
  const addError = (e: RunError) => {
    errorCount++;
    if (errors.length < 1000) errors.push({ ...e, path: displayName(e.path), message: displayName(e.message) });
  };
  const counts: Counts = { planned: 0, plannedBytes: 0, copied: 0, copiedBytes: 0, skipped: 0, skippedBytes: 0, deleted: 0, deletePlanned: 0, dirsCreated: 0, symlinks: 0 };
  const notes: Record<string, string> = {};
  let specialsSkipped: Partial<Record<string, number>> = {};
  const actions: Action[] = [];
  let transport: "tcp" | "grpc" = job.forceGrpc ? "grpc" : "tcp";
  let src: Tree = emptyTree();
  let failed = false;
  let interrupted = false;
  let local = resolve(job.local);
  const remoteText = formatRemoteUrl(u);

  if (job.route === "push") {
    try {
      statSync(local);
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new UsageError(code === "ENOENT" ? "SOURCE_MISSING" : "SOURCE_UNREADABLE", `source '${job.local}' ${code === "ENOENT" ? "does not exist" : `cannot be read (${code})`}`);
    }
    // A source given as a symlink is followed, once, at the root, as a local copy does.
    local = nameFs.realpathSync(local);
  } else if (existsSync(local) && !statSync(local).isDirectory() && !statSync(local).isFile()) {
    throw new UsageError("DEST_TYPE", `destination '${job.local}' is not a file or directory`);
  }

  const client = blitClient(u.address);
  const md = metadataFor(job.authToken);
  const finishReport = (): { report: RunReport; actions: Action[] } => {
    client.close();
    const status: RunStatus = interrupted ? "interrupted" : failed ? "failed" : errorCount > 0 ? "partial" : "ok";
    const now = new Date();
    const report: RunReport = {
      id: crypto.randomUUID(),
      startedAt: started.toISOString(),
      finishedAt: now.toISOString(),
      host: hostname(),
      pid: process.pid,
      os: `${process.platform} ${release()}`,
      blitVersion: VERSION,
      command: job.command,
      route: job.route,
      source: job.route === "push" ? local : remoteText,
      destination: job.route === "push" ? remoteText : local,
      sourceFs: job.route === "push" ? filesystemType(local) : "remote",
      destinationFs: job.route === "push" ? "remote" : filesystemType(existsSync(local) ? local : dirname(local)),
      options: job.options,
      workload: workloadOf(src),
      plan: { strategy: "remote", workers: 1, classes: [] },
      phases: { enumerateMs: timing.enumerateMs, planMs: timing.planMs, transferMs: timing.transferMs, deleteMs: timing.deleteMs, totalMs: performance.now() - timing.t0 },
      counts,
      bytesByPath: counts.copiedBytes ? { stream: counts.copiedBytes } : {},
      filesByPath: counts.copied ? { stream: counts.copied } : {},
      fastPathNotes: notes,
      ...(Object.keys(specialsSkipped).length ? { specialsSkipped } : {}),
      errors,
      errorCount,
      status,
      exitCode: status === "ok" ? 0 : status === "partial" ? 1 : status === "interrupted" ? 130 : 2,
      transport: { kind: transport, negotiateMs: timing.negotiateMs, transferMs: timing.transferMs, completeMs: timing.completeMs },
    };
    return { report, actions };
  };
  const fatal = (e: unknown) => {
    failed = true;
    const re = e instanceof RemoteError ? e : e instanceof PathError ? new RemoteError("PROTOCOL", `daemon sent an invalid manifest: ${e.message}`) : e;
    addError({ path: ".", side: "run", code: (re as { code?: string }).code ?? "EIO", message: re instanceof Error ? re.message : String(re) });
  };

  try {
    await waitReady(client, u, job.connectTimeout ?? 10);
    await authenticateConnection(client, md, u);
    if (job.route === "push") await push();
    else await pull();
  } catch (e) {
    fatal(e);
  }
  return finishReport();

  async function push() {
    const opts = job.options;
    const tEnum = performance.now();
    const single = statSync(local).isFile();
    const rootPath = single ? dirname(local) : local;
    const sel = xattrSelection(opts);
    let xattrs: Record<number, Xattr[]> | undefined;
    let rootXattrs: Xattr[] | undefined;
    if (single) {
      const st = backend().lstat(local);
      src = { ...emptyTree(), rootExists: true, paths: [basename(local)], types: [T_FILE], sizes: [st.size], modes: [st.mode], mtimeSec: [st.mtimeSec], mtimeNsec: [st.mtimeNsec] };
      if (opts.owner || opts.group || sel) {
        const fd = openRootDir(rootPath);
        try {
          const meta = readMetadataAt(fd, basename(local), { owner: true, group: true, xattrs: opts.xattrs, acls: opts.acls });
          src.uid = [meta.uid ?? 0];
          src.gid = [meta.gid ?? 0];
          if (meta.xattrs?.length) xattrs = { 0: meta.xattrs };
        } finally {
          closeFd(fd);
        }
      }
    } else {
      src = walkTree(local, opts.exclude, "source");
      for (const e of src.errors) addError(e);
      if (sel && src.rootExists) {
        const fd = openRootDir(local);
        try {
          ({ xattrs, root: rootXattrs } = readTreeXattrs(fd, src, sel, addError));
        } finally {
          closeFd(fd);
        }
      }
    }
    timing.enumerateMs = performance.now() - tEnum;
    const tNeg = performance.now();
    const reply = await call<any>(client, "Negotiate", {
      direction: "push", module: u.module, path: u.path, client_version: VERSION, features: FEATURES,
      options: wireOptions(job),
      manifest: encodeManifest(src, single, { hardLinks: opts.hardLinks, owner: opts.owner, group: opts.group, numericIds: opts.numericIds, xattrs, rootXattrs }),
    }, md, u);
    timing.negotiateMs = performance.now() - tNeg;
    if (asksMetadata(opts) && !peerFeatures(reply.features).has(FEATURE_METADATA)) notes.metadata = `the daemon ${OLD_PEER}`;
    for (const [k, why] of Object.entries((reply.not_kept ?? {}) as Record<string, unknown>)) notes[k] = printable(String(why));
    specialsSkipped = countsByKind(reply.specials_skipped);
    let need: number[];
    try {
      need = [...readU32List(reply.need ?? new Uint8Array(0))];
    } catch {
      throw new RemoteError("PROTOCOL", "daemon sent a malformed need list");
    }
    for (const i of need) if (i >= src.paths.length || src.types[i] !== T_FILE) throw new RemoteError("PROTOCOL", `daemon asked for entry ${i}, which is not a file`);
    for (const e of reply.errors ?? []) addError({ path: printable(String(e.path)), side: "destination", code: String(e.code), message: printable(String(e.message)) });
    errorCount += Math.max(0, (reply.error_count ?? 0) - (reply.errors?.length ?? 0));
    counts.deletePlanned = reply.delete_planned ?? 0;
    counts.skipped = reply.skipped ?? 0;
    counts.skippedBytes = reply.skipped_bytes ?? 0;
    const checks: { index: number; hash: Uint8Array }[] = (reply.checks ?? []).map((c: any) => ({ index: c.index >>> 0, hash: c.hash }));
    for (const c of checks) if (c.index >= src.paths.length || src.types[c.index] !== T_FILE) throw new RemoteError("PROTOCOL", `daemon compared entry ${c.index}, which is not a file`);
    counts.planned = need.length + checks.length;
    for (const i of need) counts.plannedBytes += src.sizes[i]!;
    if (opts.dryRun) {
      for (const i of need) actions.push({ kind: "copy", path: src.paths[i]!, bytes: src.sizes[i]! });
      for (const c of checks) actions.push({ kind: "copy", path: src.paths[c.index]!, bytes: src.sizes[c.index]! });
      for (const p of reply.delete_paths ?? []) actions.push({ kind: "delete", path: printable(String(p)) });
      return;
    }
    const rootFd = openRootDir(rootPath);
    let sendErrors = 0;
    let aborted = false;
    try {
      let same: number[] = [];
      let send = need;
      if (checks.length) {
        const r = resolveChecks(rootFd, src, checks);
        same = r.same;
        send = need.concat(r.send);
        counts.skipped += same.length;
      }
      const tData = performance.now();
      if (send.length > 0 || same.length > 0) {
        const ch = await openChannel(client, md, u, reply.data_port ?? 0, !!job.forceGrpc, notes);
        transport = ch.kind;
        let peerError: string | undefined;
        let acked = false;
        let ack!: () => void;
        const acknowledged = new Promise<void>((r) => (ack = r));
        const dec = new FrameDecoder({
          frame: (type, p) => {
            if (type === F_ERROR) peerError = printable(decodeText(p));
            else if (type === F_DONE) {
              acked = true;
              ack();
            }
          },
          data: () => {},
        });
        ch.onBytes((c) => dec.feed(c));
        const onAbort = () => {
          interrupted = true;
          ch.destroy("interrupted");
        };
        hooks.signal?.addEventListener("abort", onAbort);
        try {
          await ch.write(encodeFrame(F_HELLO, reply.token));
          for (const f of sameFrames(same)) await ch.write(f);
          const progress: Progress = { phase: "transfer", filesDone: 0, bytesDone: 0, filesTotal: send.length, bytesTotal: counts.plannedBytes };
          const res = await sendFiles(ch, rootFd, src, send, {
            checksum: opts.checksum,
            bwlimit: opts.bwlimit,
            sparse: peerFeatures(reply.features).has(FEATURE_SPARSE),
            cancelled: () => interrupted,
            onProgress: (f, b) => {
              progress.filesDone += f;
              progress.bytesDone += b;
              hooks.onProgress?.({ ...progress });
            },
          });
          for (const e of res.errors) addError(e);
          sendErrors = res.errors.length;
          await ch.write(doneFrame(res.files, res.errors.length));
          // The daemon confirms with its own DONE once everything is written.
          await Promise.race([acknowledged, ch.closed]);
          if (!acked) throw new ChannelClosedError(peerError ?? ch.failure ?? "the daemon closed the data connection before confirming");
          await ch.end();
        } catch (err) {
          aborted = true;
          ch.destroy();
          if (!interrupted) fatal(new RemoteError("REMOTE", `transfer to ${u.address} failed: ${peerError ?? (err as Error).message}`));
        } finally {
          hooks.signal?.removeEventListener("abort", onAbort);
        }
      }
      timing.transferMs = performance.now() - tData;
    } finally {
      closeFd(rootFd);
    }
    const tComplete = performance.now();
    const done = await call<any>(client, "Complete", { transfer_id: reply.transfer_id, client_errors: sendErrors, transport, aborted: aborted || interrupted }, md, u);
    timing.completeMs = performance.now() - tComplete;
    counts.copied = done.files_written ?? 0;
    counts.copiedBytes = done.bytes_written ?? 0;
    if (done.hole_bytes) counts.holeBytes = Number(done.hole_bytes);
    counts.deleted = done.deleted ?? 0;
    counts.dirsCreated = done.dirs_created ?? 0;
    counts.symlinks = done.symlinks ?? 0;
    counts.copied += counts.symlinks + (done.specials ?? 0);
    // The daemon's summary repeats the errors it reported at negotiation; keep the final list.
    const negotiated = errors.filter((e) => e.side === "destination");
    for (const e of negotiated) errors.splice(errors.indexOf(e), 1);
    errorCount -= negotiated.length;
    for (const e of done.errors ?? []) addError({ path: printable(String(e.path)), side: "destination", code: String(e.code), message: printable(String(e.message)) });
    errorCount += Math.max(0, (done.error_count ?? 0) - (done.errors?.length ?? 0));
    if (done.status === "failed") failed = true;
  }

  async function pull() {
    const opts = job.options;
    const tNeg = performance.now();
    const reply = await call<any>(client, "Negotiate", {
      direction: "pull", module: u.module, path: u.path, client_version: VERSION, features: FEATURES,
      options: wireOptions(job),
    }, md, u);
    timing.negotiateMs = performance.now() - tNeg;
    const decoded = decodeManifest(reply.manifest);
    src = decoded.tree;
    if (opts.owner || opts.group) mapOwners(src, decoded.names, !!opts.numericIds);
    if (asksMetadata(opts) && !peerFeatures(reply.features).has(FEATURE_METADATA)) notes.metadata = `the daemon ${OLD_PEER}`;
    // Left out by this process's privileges, not by a flag: say so (as root with --no-owner, nothing).
    const ownersWhy = !opts.owner && !opts.group ? metadataPrivileges().reasons.owners : undefined;
    if (ownersWhy) notes.owners = ownersWhy;
    for (const e of reply.errors ?? []) addError({ path: printable(String(e.path)), side: "source", code: String(e.code), message: printable(String(e.message)) });
    errorCount += Math.max(0, (reply.error_count ?? 0) - (reply.errors?.length ?? 0));
    const tEnum = performance.now();
    // Where the files go: DST itself, or for one file DST/name when DST is a directory, else DST.
    let rootPath = local;
    if (decoded.singleFile) {
      if (existsSync(local) && statSync(local).isDirectory()) rootPath = local;
      else {
        rootPath = dirname(local);
        if (!existsSync(rootPath)) throw new UsageError("DEST_PARENT_MISSING", `destination directory '${dirname(job.local)}' does not exist; create it first`);
        src.paths[0] = basename(local);
      }
    } else if (!opts.dryRun) mkdirSync(local, { recursive: true });
    let dst: Tree;
    // The destination root, held open from the walk to the last write: one directory throughout.
    let dstFd = -1;
    if (!existsSync(rootPath)) dst = emptyTree();
    else if (decoded.singleFile) {
      dst = emptyTree();
      try {
        const st = backend().lstat(`${rootPath}/${src.paths[0]}`);
        if (st.type !== "file") throw new UsageError("DEST_NOT_FILE", `destination '${rootPath}/${src.paths[0]}' exists and is not a regular file`);
        dst = { ...dst, rootExists: true, paths: [src.paths[0]!], types: [T_FILE], sizes: [st.size], modes: [st.mode], mtimeSec: [st.mtimeSec], mtimeNsec: [st.mtimeNsec] };
      } catch (err) {
        if (err instanceof UsageError) throw err;
      }
    } else {
      dstFd = openRootDir(rootPath);
      dst = walkTree(dstFd, opts.exclude, "destination");
    }
    timing.enumerateMs = performance.now() - tEnum;
    const tPlan = performance.now();
    const plan: Plan = planTrees(src, dst, {
      mirror: job.command === "mirror", checksum: opts.checksum, sizeOnly: opts.sizeOnly, ignoreTimes: opts.ignoreTimes, hardLinks: opts.hardLinks,
      specials: opts.specials, devices: opts.devices,
    });
    specialsSkipped = plan.specialsSkipped;
    counts.planned = plan.need.length + plan.checks.length + plan.links.length + plan.hardLinks.length + plan.specials.length;
    for (const i of plan.need) counts.plannedBytes += src.sizes[i]!;
    counts.skipped = plan.skipped;
    counts.skippedBytes = plan.skippedBytes;
    counts.deletePlanned = plan.deletePlanned;
    timing.planMs = performance.now() - tPlan;
    if (opts.dryRun) {
      for (const e of plan.errors) addError(e);
      for (const i of plan.mkdirs) actions.push({ kind: "mkdir", path: src.paths[i]! });
      for (const i of plan.links) actions.push({ kind: "link", path: src.paths[i]! });
      for (const i of plan.need) actions.push({ kind: "copy", path: src.paths[i]!, bytes: src.sizes[i]! });
      for (const i of plan.checks) actions.push({ kind: "copy", path: src.paths[i]!, bytes: src.sizes[i]! });
      for (const j of plan.replace) actions.push({ kind: "replace", path: dst.paths[j]! });
      for (const j of plan.extraneousTop) actions.push({ kind: "delete", path: dst.paths[j]! });
      closeFd(dstFd);
      return;
    }
    const rootFd = dstFd >= 0 ? dstFd : openRootDir(rootPath);
    let summary: ReceiveSummary | undefined;
    let dataFailed = false;
    try {
      // Temporaries a killed earlier pull left in our destination are ours to remove.
      for (const rel of dst.staleTemps) removeStale(rootFd, rel);
      const receiver = new TreeReceiver(rootFd, src, dst, plan, {
        mirror: job.command === "mirror", checksum: opts.checksum, maxDelete: opts.maxDelete, force: opts.force, singleFile: decoded.singleFile,
        keep: opts.owner || opts.group || opts.xattrs || opts.acls ? { owner: opts.owner, group: opts.group, xattrs: xattrSelection(opts) } : undefined,
      });
      receiver.prepare();
      const tData = performance.now();
      if (plan.need.length + plan.checks.length > 0) {
        const ch = await openChannel(client, md, u, reply.data_port ?? 0, !!job.forceGrpc, notes);
        transport = ch.kind;
        const progress: Progress = { phase: "transfer", filesDone: 0, bytesDone: 0, filesTotal: plan.need.length, bytesTotal: counts.plannedBytes };
        const dec = new FrameDecoder({
          frame: (t, p) => {
            receiver.frame(t, p);
            if (t !== 21) {
              progress.filesDone = receiver.summary.filesWritten;
              progress.bytesDone = receiver.summary.bytesWritten;
              hooks.onProgress?.({ ...progress });
            }
          },
          data: (c) => receiver.data(c),
        });
        let frameError: string | undefined;
        receiver.flow = { pause: () => ch.pause(), resume: () => ch.resume() };
        ch.onBytes((c) => {
          try {
            dec.feed(c);
          } catch (err) {
            frameError = (err as Error).message;
            throw err;
          }
        });
        const onAbort = () => {
          interrupted = true;
          ch.destroy("interrupted");
        };
        hooks.signal?.addEventListener("abort", onAbort);
        try {
          await ch.write(encodeFrame(F_HELLO, reply.token));
          for (let k = 0; k < plan.need.length; k += 65536) await ch.write(encodeFrame(F_NEED, u32List(plan.need.slice(k, k + 65536))));
          if (plan.checks.length) {
            const per = 4 + HASH_BYTES;
            for (let k = 0; k < plan.checks.length; k += 8192) {
              const part = plan.checks.slice(k, k + 8192);
              const buf = new Uint8Array(part.length * per);
              const dv = new DataView(buf.buffer);
              part.forEach((i, n) => {
                dv.setUint32(n * per, i, true);
                const h = hashBeneath(rootFd, dst.paths[plan.checkDst[k + n]!]!);
                if (h) buf.set(h, n * per + 4);
              });
              await ch.write(encodeFrame(F_CHECK, buf));
            }
          }
          await ch.write(encodeFrame(F_NEED_END));
          await Promise.race([
            ch.closed,
            new Promise<void>((r) => (receiver.onDone = r)),
          ]);
          if (!receiver.done) {
            dataFailed = true;
            const why = interrupted ? "interrupted" : receiver.peerError ? `daemon gave up: ${receiver.peerError}` : frameError ? `bad data from the daemon: ${frameError}` : `connection to ${u.address} lost before the transfer finished`;
            receiver.abort(why);
          }
          await ch.end();
        } catch (err) {
          dataFailed = true;
          receiver.abort(`transfer from ${u.address} failed: ${(err as Error).message}`);
          ch.destroy();
        } finally {
          hooks.signal?.removeEventListener("abort", onAbort);
        }
      }
      timing.transferMs = performance.now() - tData;
      const tComplete = performance.now();
      try {
        const done = await call<any>(client, "Complete", { transfer_id: reply.transfer_id, client_errors: 0, transport, aborted: dataFailed || interrupted }, md, u);
        if (done.status === "failed" && !dataFailed) addError({ path: ".", side: "source", code: "REMOTE", message: "the daemon reports the transfer failed" });
      } catch (err) {
        if (!dataFailed) fatal(err);
      }
      timing.completeMs = performance.now() - tComplete;
      await receiver.settle();
      const tDel = performance.now();
      summary = receiver.finish({ interrupted: dataFailed || interrupted });
      timing.deleteMs = performance.now() - tDel;
      if (dataFailed && !interrupted) failed = true;
    } finally {
      closeFd(rootFd);
    }
    if (summary) {
      counts.copied = summary.filesWritten + summary.symlinks + summary.specials;
      counts.copiedBytes = summary.bytesWritten;
      if (summary.holeBytes) counts.holeBytes = summary.holeBytes;
      counts.deleted = summary.deleted;
      counts.dirsCreated = summary.dirsCreated;
      counts.symlinks = summary.symlinks;
      counts.skipped += summary.same;
      for (const e of summary.errors) addError(e);
      errorCount += summary.errorCount - summary.errors.length;
      if (summary.fatal) failed = true;
    }
  }
}

/** A peer's count by kind (a protobuf map), bounded to the four kinds. */
function countsByKind(m: unknown): Partial<Record<string, number>> {
  const out: Partial<Record<string, number>> = {};
  if (!m || typeof m !== "object") return out;
  for (const k of ["fifo", "socket", "char", "block"]) {
    const n = Number((m as Record<string, unknown>)[k]);
    if (Number.isSafeInteger(n) && n > 0) out[k] = n;
  }
  return out;
}

function removeStale(rootFd: number, rel: string): void {
  const k = rel.lastIndexOf("/");
  let pfd = -1;
  try {
    pfd = openBeneath(rootFd, k < 0 ? "" : rel.slice(0, k), O_RDONLY | O_DIRECTORY);
    try {
      unlinkAt(pfd, rel.slice(k + 1));
    } catch (err) {
      if ((err as FsError).code === "EISDIR") removeTreeAt(rootFd, rel);
    }
  } catch {
    /* best effort */
  } finally {
    if (pfd >= 0) closeFd(pfd);
  }
}
