// What push and pull share: the job and its types, the gRPC client and its calls, the words a
// gRPC failure becomes, the data-plane connection, and the running account that becomes the run
// report. The daemon is untrusted: everything it sends that reaches a report passes displayName.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { displayName, filesystemType, nameFs, namePath, type XattrSelection } from "../../ffi/index.ts";
import { AUTH_METADATA_KEY, type blitClient, FEATURE_FILTER, grpc, PathError, peerFeatures, printable } from "../../proto/index.ts";
import { selectionRules } from "../options.ts";
import { onlyExcludes } from "../select/index.ts";
import type { Action } from "../run.ts";
import { channelEvents, GrpcChannel, SocketChannel, type Channel, type GrpcDuplex } from "./channel.ts";
import { workloadOf } from "../plan.ts";
import { formatRemoteUrl, isLoopbackHost, type RemoteUrl } from "./url.ts";
import { connectTls, remoteClient, tlsTrustOf, type TlsClientOptions } from "./tls.ts";
import { makeRunReport, type RetryRecord, type Command, type Counts, type RunError, type RunOptions, type RunReport } from "../report.ts";
import { emptyTree, type Tree } from "../walk.ts";
import type { Progress } from "../run.ts";
const { existsSync } = nameFs;
const { dirname } = namePath;

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
  /** Seconds to wait for the daemon to answer at all. @default 10 (or timeout when shorter) */
  connectTimeout?: number;
  /**
   * Seconds without progress after which a phase (connect, Negotiate, data transfer, the
   * daemon's DONE, Complete) gives up with a TIMEOUT error; 0 waits forever. @default 60
   */
  timeout?: number;
  /** How a blits:// daemon is trusted (--tls-ca, --tls-fingerprint, --tls-accept-new, known_daemons). */
  tls?: TlsClientOptions;
}

export interface RemoteHooks {
  onProgress?: (p: Progress) => void;
  /** An attempt failed and another follows after `r.delayMs` (--retries): say so. */
  onRetry?: (r: RetryRecord & { of: number }) => void;
  /** Abort (Ctrl-C): the transfer stops, the receiving side removes its temporaries and deletes nothing. */
  signal?: AbortSignal;
}

/**
 * A failure of a remote run, in words: unreachable, auth, module, read-only. `transient` says
 * whether running the transfer again may succeed (the connection dropped, the daemon restarted,
 * a phase stalled): only those are retried (--retries).
 */
export class RemoteError extends Error {
  readonly transient: boolean;
  constructor(readonly code: "UNREACHABLE" | "TLS" | "AUTH" | "MODULE_NOT_FOUND" | "READ_ONLY" | "NOT_FOUND" | "BAD_PATH" | "BUSY" | "PROTOCOL" | "REMOTE" | "TIMEOUT", message: string, transient?: boolean) {
    super(message);
    this.name = "RemoteError";
    this.transient = transient ?? TRANSIENT_CODES.has(code);
  }
}

/** The codes another attempt may cure; auth, module, read-only, TLS trust and protocol errors it cannot. */
const TRANSIENT_CODES = new Set<string>(["UNREACHABLE", "TIMEOUT", "BUSY"]);

/** True when running the transfer again may succeed (see RemoteError.transient). */
export function isTransient(err: unknown): boolean {
  return err instanceof RemoteError && err.transient;
}

/**
 * The selection rules as Options carries them: all in `filter`; and when they are all excludes,
 * also as `exclude` patterns, so that a daemon older than FEATURE_FILTER applies them too.
 */
export function wireRules(o: Pick<RunOptions, "exclude" | "filter">): { exclude: string[]; filter: string[] } {
  const rules = selectionRules(o);
  return { exclude: onlyExcludes(rules) ? rules.map((r) => r.slice(2)) : [], filter: rules };
}

/**
 * Refuses a transfer whose rules an older daemon ignored (it knows only --exclude): its walk
 * selected other entries than asked, so nothing may move. Called right after Negotiate.
 */
export function requireFilterFeature(o: Pick<RunOptions, "exclude" | "filter">, replyFeatures: unknown, u: RemoteUrl): void {
  if (onlyExcludes(selectionRules(o)) || peerFeatures(replyFeatures).has(FEATURE_FILTER)) return;
  throw new RemoteError("PROTOCOL", `the daemon at ${u.address} is an older blit that knows only --exclude; upgrade it to use --include, --filter and rules files`);
}

/** The Options message of a Negotiate: what the user asked for, the metadata included. */
export function wireOptions(job: RemoteJob, u: RemoteUrl) {
  const o = job.options;
  return {
    mirror: job.command === "mirror", checksum: o.checksum, size_only: o.sizeOnly, ignore_times: o.ignoreTimes, max_delete: o.maxDelete,
    force: o.force, dry_run: o.dryRun, ...wireRules(o), bwlimit: o.bwlimit, hard_links: o.hardLinks, owner: o.owner, group: o.group,
    xattrs: o.xattrs, acls: o.acls, numeric_ids: !!o.numericIds, specials: !!o.specials, devices: !!o.devices,
    delta: deltaWanted(job, u),
  };
}

/**
 * Whether changed files travel as changes against the receiver's older version: --no-whole-file
 * yes, --whole-file no; by default yes, except to a daemon on this machine's loopback without
 * --bwlimit, where reading both versions costs more than sending the new one.
 */
export function deltaWanted(job: RemoteJob, u: RemoteUrl): boolean {
  const o = job.options;
  if (o.wholeFile !== undefined) return !o.wholeFile;
  return !isLoopbackHost(u.host) || o.bwlimit > 0;
}

/** Delta figures of one attempt (RunReport.transport.delta). */
export interface DeltaCounts {
  files: number;
  matchedBytes: number;
  literalBytes: number;
  resumedFiles: number;
  resumedBytes: number;
}

export function noDelta(): DeltaCounts {
  return { files: 0, matchedBytes: 0, literalBytes: 0, resumedFiles: 0, resumedBytes: 0 };
}

/** The attributes -X and -A keep, or undefined when neither is asked for. */
export function xattrSelection(o: RunOptions): XattrSelection | undefined {
  return o.xattrs || o.acls ? { xattrs: o.xattrs, acls: o.acls } : undefined;
}

/** True when the options ask for anything only FEATURE_METADATA carries. */
export function asksMetadata(o: RunOptions): boolean {
  return o.owner || o.group || o.xattrs || o.acls || !!o.specials || !!o.devices;
}

export const OLD_PEER = "is an older blit that keeps no owners, extended attributes, ACLs or special files";

const TCP_CONNECT_TIMEOUT_MS = 3000;
/** --timeout's default: seconds of no progress before a phase gives up. */
export const DEFAULT_TIMEOUT_S = 60;
/** The longest wait for the gRPC connection itself (shorter when --timeout is). */
const CONNECT_TIMEOUT_S = 10;

/** A call's phase, for its error, and its deadline (--timeout; 0: none). */
export interface Limit {
  phase: string;
  seconds: number;
}

/** Seconds to wait for the gRPC connection: connectTimeout, else 10 s or --timeout when shorter. */
export function connectSeconds(timeout: number, connectTimeout?: number): number {
  return connectTimeout ?? (timeout > 0 ? Math.min(timeout, CONNECT_TIMEOUT_S) : CONNECT_TIMEOUT_S);
}

/** "connection to HOST:PORT lost while PHASE": the start of the one line a dropped connection becomes. */
export function lostWords(u: RemoteUrl, phase: string): string {
  return `connection to ${u.address} lost while ${phase}`;
}

/** What to do about a lost connection, after lostWords. */
export const LOST_ADVICE = "check that blitd still runs on that host and the network reaches it, then run again (--retries N retries by itself)";

/** The words of a timeout: who did not answer, in which phase, for how long, and what to do. */
export function stallMessage(u: RemoteUrl, l: Limit): string {
  return `no progress from ${u.address} for ${l.seconds} s while ${l.phase} (--timeout ${l.seconds}); the daemon or the network is stuck: check blitd on that host, or raise --timeout (0 waits forever)`;
}

export type Client = ReturnType<typeof blitClient>;

/** The one place a gRPC client to a daemon is made: plaintext, or TLS checked as `tls` says (blits://). */
export function openClient(u: RemoteUrl, tls?: TlsClientOptions, own = false): Client {
  // A retry's client must not inherit a shared connection still backing off from the lost one.
  return remoteClient(u, tls, own ? { "grpc.use_local_subchannel_pool": 1 } : {});
}

export function metadataFor(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set(AUTH_METADATA_KEY, token);
  return md;
}

/**
 * Maps a gRPC failure in `phase` to the words the user sees: one line naming the host, what
 * failed and what to do. gRPC's own text for a lost connection ("No connection established ...
 * Resolution note: ...") never reaches the user; a daemon's details are shown escaped.
 */
function fromGrpc(err: unknown, u: RemoteUrl, md: grpc.Metadata, phase: string): RemoteError {
  const e = err as grpc.ServiceError;
  const details = printable(e?.details || e?.message || String(err));
  switch (e?.code) {
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return new RemoteError("UNREACHABLE", `${lostWords(u, phase)}: ${LOST_ADVICE}`);
    case grpc.status.UNAUTHENTICATED:
      // No token and a wrong token need different fixes: say which this was.
      return md.get(AUTH_METADATA_KEY).length === 0
        ? new RemoteError("AUTH", `the daemon at ${u.address} requires an auth token: give --auth-token-file FILE, or set BLIT_AUTH_TOKEN`)
        : new RemoteError("AUTH", `auth token rejected by ${u.address}: the token given (--auth-token-file or BLIT_AUTH_TOKEN) is not the one in the daemon's auth_token_file`);
    case grpc.status.PERMISSION_DENIED:
      return new RemoteError("READ_ONLY", details);
    case grpc.status.NOT_FOUND:
      return new RemoteError(details.startsWith("module ") ? "MODULE_NOT_FOUND" : "NOT_FOUND", details);
    case grpc.status.INVALID_ARGUMENT:
      return new RemoteError("BAD_PATH", details);
    case grpc.status.RESOURCE_EXHAUSTED:
      return new RemoteError("BUSY", `${u.address} is busy: ${details}`);
    default:
      return new RemoteError("REMOTE", `daemon error: ${details}`);
  }
}

/** Something that can be interrupted (a run): `onInterrupt` registers what to do then. */
export interface Interruptible {
  onInterrupt(fn: () => void): () => void;
}

/**
 * One unary call with the phase's deadline; a missed deadline is a TIMEOUT naming the phase.
 * With `run`, the call is cancelled (and rejects) as soon as the run is interrupted.
 */
export function call<Res>(client: Client, method: string, req: unknown, md: grpc.Metadata, u: RemoteUrl, limit: Limit, run?: Interruptible): Promise<Res> {
  return new Promise<Res>((resolveCall, reject) => {
    const deadline = limit.seconds > 0 ? Date.now() + limit.seconds * 1000 : Infinity;
    let off = () => {};
    const c = client[method](req, md, { deadline }, (err: grpc.ServiceError | null, res: Res) => {
      off();
      if (err?.code === grpc.status.DEADLINE_EXCEEDED) reject(new RemoteError("TIMEOUT", stallMessage(u, limit)));
      else if (err) reject(fromGrpc(err, u, md, limit.phase));
      else resolveCall(res);
    });
    if (run) off = run.onInterrupt(() => c.cancel());
  });
}

/**
 * Makes one authenticated call right after connecting: blitd closes a connection that has made
 * no authenticated call within its handshake_timeout (a few seconds), and a push walks its
 * source before it negotiates. A rejected token is also reported before that walk. A peer
 * without ListModules (a minimal or test daemon) has no handshake to satisfy.
 */
export function authenticateConnection(s: RemoteSession): Promise<void> {
  const limit = s.limit("authenticating (ListModules)");
  return new Promise<void>((resolveCall, reject) => {
    const deadline = limit.seconds > 0 ? Date.now() + limit.seconds * 1000 : Infinity;
    let off = () => {};
    const c = s.client.ListModules({}, s.md, { deadline }, (err: grpc.ServiceError | null) => {
      off();
      if (!err || err.code === grpc.status.UNIMPLEMENTED) resolveCall();
      else if (err.code === grpc.status.DEADLINE_EXCEEDED) reject(new RemoteError("TIMEOUT", stallMessage(s.u, limit)));
      else reject(fromGrpc(err, s.u, s.md, limit.phase));
    });
    off = s.onInterrupt(() => c.cancel());
  });
}

/**
 * Why `host` cannot be looked up ("cannot resolve HOST: ..."), or undefined when it can (or is
 * an address): asked only after a failed connection, so that a typo in a name is not reported
 * as "connection refused".
 */
async function unresolvable(host: string): Promise<string | undefined> {
  if (isIP(host)) return undefined;
  try {
    await lookup(host);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const why = code === "ENOTFOUND" || code === "EAI_NONAME" ? "no such host" : code === "EAI_AGAIN" ? "the name server did not answer" : (err as Error).message;
    return `cannot resolve ${printable(host)}: ${why}${code ? ` (${code})` : ""}; check the host name in the URL`;
  }
}

/** Resolves once the gRPC channel is connected; fails at the first failed attempt (no retry loop). */
export function waitReady(client: Client, u: RemoteUrl, seconds: number): Promise<void> {
  const channel = client.getChannel();
  const deadline = Date.now() + seconds * 1000;
  return new Promise((res, rej) => {
    const check = () => {
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return res();
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
        const tlsFailure = tlsTrustOf(client)?.failure; // the TLS check's words, not just "unavailable"
        if (tlsFailure) return rej(new RemoteError("TLS", tlsFailure.message));
        const refused = `cannot reach ${u.address}: connection refused or host unreachable${u.tls ? "" : ", or the daemon speaks TLS (then write blits://)"}`;
        // A name that does not resolve is a bad URL: no retry cures it.
        return void unresolvable(u.host).then((why) => rej(why ? new RemoteError("UNREACHABLE", why, false) : new RemoteError("UNREACHABLE", refused)));
      }
      channel.watchConnectivityState(state, deadline, (err?: Error) => {
        if (err) rej(new RemoteError("UNREACHABLE", `cannot reach ${u.address}: no answer within ${seconds} s`));
        else check();
      });
    };
    check();
  });
}

/** The one place the TCP data plane is connected: to the host the user named (never an address the daemon names). */
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
        ...channelEvents<SocketChannel>((ch) => ch),
        open(s) {
          s.data = new SocketChannel(s);
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

/** The data plane: TCP to the daemon's data port when it offers one, else a gRPC Data stream. */
export async function openChannel(client: Client, md: grpc.Metadata, u: RemoteUrl, port: number, forceGrpc: boolean, notes: Record<string, string>): Promise<Channel> {
  if (port > 0 && !forceGrpc) {
    try {
      const trust = tlsTrustOf(client); // blits://: the data connection is checked like the gRPC one
      return await (trust ? connectTls(trust, port, TCP_CONNECT_TIMEOUT_MS) : connectTcp(u.host, port, TCP_CONNECT_TIMEOUT_MS));
    } catch (err) {
      notes.transport = `TCP data connection to ${u.host}:${port} failed (${(err as Error).message}); data went through gRPC`;
    }
  } else if (port === 0 && !forceGrpc) notes.transport = "the daemon carries data in gRPC only (--force-grpc-data)";
  const stream = client.Data(md) as GrpcDuplex;
  return new GrpcChannel(stream);
}

export interface Timing {
  t0: number;
  enumerateMs: number;
  planMs: number;
  negotiateMs: number;
  transferMs: number;
  completeMs: number;
  deleteMs: number;
}

/**
 * One push or pull in progress: the connection, and the running account (counts, errors, notes,
 * timings) that report() turns into the run report.
 */
export class RemoteSession implements Interruptible {
  readonly started = new Date();
  readonly timing: Timing = { t0: performance.now(), enumerateMs: 0, planMs: 0, negotiateMs: 0, transferMs: 0, completeMs: 0, deleteMs: 0 };
  readonly errors: RunError[] = [];
  errorCount = 0;
  readonly counts: Counts = { planned: 0, plannedBytes: 0, copied: 0, copiedBytes: 0, skipped: 0, skippedBytes: 0, deleted: 0, deletePlanned: 0, dirsCreated: 0, symlinks: 0 };
  readonly notes: Record<string, string> = {};
  specialsSkipped: Partial<Record<string, number>> = {};
  readonly actions: Action[] = [];
  transport: "tcp" | "grpc";
  src: Tree = emptyTree();
  failed = false;
  interrupted = false;
  /** Data-plane bytes this attempt sent and received. */
  readonly wire = { out: 0, in: 0 };
  readonly delta: DeltaCounts = noDelta();
  /** Set when this attempt failed in a way another attempt may cure (--retries): the reason, one line. */
  retryReason?: string;
  readonly client: Client;
  readonly md: grpc.Metadata;
  /** Seconds of no progress before a phase gives up (0: never). */
  readonly timeout: number;

  private readonly interruptFns = new Set<() => void>();

  /**
   * `local` is the resolved local path (the source of a push, the destination of a pull);
   * `signal` interrupts the run: calls are cancelled and the data plane closed at once.
   */
  constructor(readonly job: RemoteJob, readonly u: RemoteUrl, readonly local: string, private readonly signal?: AbortSignal) {
    signal?.addEventListener("abort", this.interrupt);
    if (signal?.aborted) this.interrupted = true;
    this.transport = job.forceGrpc ? "grpc" : "tcp";
    this.client = openClient(u, job.tls, true);
    this.md = metadataFor(job.authToken);
    this.timeout = job.timeout ?? DEFAULT_TIMEOUT_S;
  }

  /** The deadline of one phase of this run. */
  limit(phase: string): Limit {
    return { phase, seconds: this.timeout };
  }

  private readonly interrupt = (): void => {
    this.interrupted = true;
    for (const fn of [...this.interruptFns]) fn();
  };

  /** Runs `fn` when the run is interrupted (at once if it is); returns what unregisters it. */
  onInterrupt(fn: () => void): () => void {
    if (this.interrupted) {
      fn();
      return () => {};
    }
    this.interruptFns.add(fn);
    return () => this.interruptFns.delete(fn);
  }

  /** A unary call of this run in `phase`: the --timeout deadline, cancelled on interrupt. */
  call<Res>(method: string, req: unknown, phase: string): Promise<Res> {
    return call<Res>(this.client, method, req, this.md, this.u, this.limit(phase), this);
  }

  /**
   * Complete after a failed or interrupted transfer: the daemon is told to remove its
   * temporaries and delete nothing, but an interrupted run waits at most 1 s for its answer.
   */
  completeAborted<Res>(req: unknown): Promise<Res> {
    const limit = this.limit("completing (Complete)");
    if (this.interrupted) limit.seconds = limit.seconds > 0 ? Math.min(limit.seconds, 1) : 1;
    return call<Res>(this.client, "Complete", req, this.md, this.u, limit);
  }

  /** `p`, or a rejection as soon as the run is interrupted. */
  untilInterrupted<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((res, rej) => {
      const off = this.onInterrupt(() => rej(new Error("interrupted")));
      p.then(
        (v) => (off(), res(v)),
        (e) => (off(), rej(e)),
      );
    });
  }

  /** Counts an error; the first 1000 are kept, escaped for display (a daemon sends the codes too). */
  readonly addError = (e: RunError): void => {
    this.errorCount++;
    if (this.errors.length < 1000) this.errors.push({ ...e, path: displayName(e.path), code: printable(e.code), message: displayName(e.message) });
  };

  /** The run failed as a whole: the reason becomes its one "run" error (a transient one may be retried). */
  readonly fatal = (e: unknown): void => {
    this.failed = true;
    if (isTransient(e) && !this.interrupted) this.retryReason ??= (e as Error).message;
    const re = e instanceof RemoteError ? e : e instanceof PathError ? new RemoteError("PROTOCOL", `daemon sent an invalid manifest: ${e.message}`) : e;
    this.addError({ path: ".", side: "run", code: (re as { code?: string }).code ?? "EIO", message: re instanceof Error ? re.message : String(re) });
  };

  /** Closes the connection and returns the run report with the actions (dry run, verbose). */
  report(): { report: RunReport; actions: Action[] } {
    this.signal?.removeEventListener("abort", this.interrupt);
    this.client.close();
    const trustNote = tlsTrustOf(this.client)?.note;
    if (trustNote) this.notes.tls = trustNote;
    const { job, local, counts, timing } = this;
    const remoteText = formatRemoteUrl(this.u);
    const report = makeRunReport({
      startedAt: this.started,
      command: job.command,
      route: job.route,
      source: job.route === "push" ? local : remoteText,
      destination: job.route === "push" ? remoteText : local,
      sourceFs: job.route === "push" ? filesystemType(local) : "remote",
      destinationFs: job.route === "push" ? "remote" : filesystemType(existsSync(local) ? local : dirname(local)),
      options: job.options,
      workload: workloadOf(this.src),
      plan: { strategy: "remote", workers: 1, classes: [] },
      phases: { enumerateMs: timing.enumerateMs, planMs: timing.planMs, transferMs: timing.transferMs, deleteMs: timing.deleteMs, totalMs: performance.now() - timing.t0 },
      counts,
      bytesByPath: counts.copiedBytes ? { stream: counts.copiedBytes } : {},
      filesByPath: counts.copied ? { stream: counts.copied } : {},
      fastPathNotes: this.notes,
      ...(Object.keys(this.specialsSkipped).length ? { specialsSkipped: this.specialsSkipped } : {}),
      errors: this.errors,
      errorCount: this.errorCount,
      interrupted: this.interrupted,
      failed: this.failed,
      transport: {
        kind: this.transport, tls: this.u.tls, negotiateMs: timing.negotiateMs, transferMs: timing.transferMs, completeMs: timing.completeMs,
        dataBytesOut: this.wire.out, dataBytesIn: this.wire.in, ...(this.delta.files > 0 ? { delta: { ...this.delta } } : {}),
      },
    });
    return { report, actions: this.actions };
  }
}
