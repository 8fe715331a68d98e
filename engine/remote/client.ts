// The client side of blit push / pull / ls. The daemon is untrusted too: every path it sends is
// checked (proto/manifest.ts) and written only beneath the destination (openat2 RESOLVE_BENEATH),
// every frame is bounded, and a daemon that vanishes leaves no partial file behind. A push runs in
// push.ts, a pull in pull.ts; what they share (connection, calls, report) is in session.ts.
import { nameFs, namePath } from "../../ffi/index.ts";
import { decodeManifest, FEATURES, PathError, printable } from "../../proto/index.ts";
import { UsageError } from "../errors.ts";
import type { Action } from "../run.ts";
import { formatRemoteUrl, parseRemoteUrl, type RemoteUrl } from "./url.ts";
import type { RetryRecord, RunReport } from "../report.ts";
import { DEFAULT_RETRIES } from "../options.ts";
import { startContext } from "../context/index.ts";
import { VERSION } from "../version.ts";
import type { Tree } from "../walk.ts";
import type { TlsClientOptions } from "./tls.ts";
import { authenticateConnection, call, LOST_ADVICE, noDelta, type DeltaCounts, connectSeconds, DEFAULT_TIMEOUT_S, metadataFor, openClient, RemoteError, RemoteSession, requireFilterFeature, waitReady, wireRules, type RemoteHooks, type RemoteJob } from "./session.ts";
import { push } from "./push.ts";
import { pull } from "./pull.ts";
const { existsSync, statSync } = nameFs;
const { resolve } = namePath;

export { RemoteError };
export type { RemoteHooks, RemoteJob };

/** What `blit ls` shows. Every string the daemon sent is escaped for display (control characters as \x1b, \r ...). */
export interface RemoteListing {
  url: string;
  /** Set when the URL named no module. */
  modules?: { name: string; comment: string; readOnly: boolean }[];
  entries?: { name: string; type: string; size: number; mode: number; mtimeSec: number }[];
  truncated?: boolean;
  isFile?: boolean;
}

/** Lists a daemon's modules (URL without module) or a directory of a module. */
export async function listRemote(url: string, opts: { authToken?: string; connectTimeout?: number; timeout?: number; tls?: TlsClientOptions; retries?: number; onRetry?: (r: RetryNotice) => void } = {}): Promise<RemoteListing> {
  return retrying(opts.retries ?? DEFAULT_RETRIES, () => listRemoteOnce(url, opts), opts.onRetry);
}

/** What a caller hears before a read-only call (ls, check) runs again. */
export interface RetryNotice {
  attempt: number;
  of: number;
  reason: string;
  delayMs: number;
}

/**
 * Runs a read-only call again after a failure another attempt may cure (RemoteError.transient:
 * an unreachable or restarted daemon, a stall), up to `retries` times with backoffMs; any
 * other failure, or the last, is thrown.
 */
async function retrying<T>(retries: number, once: () => Promise<T>, onRetry?: (r: RetryNotice) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await once();
    } catch (err) {
      if (!(err instanceof RemoteError) || !err.transient || attempt > retries) throw err;
      const delayMs = backoffMs(attempt);
      onRetry?.({ attempt, of: retries + 1, reason: err.message, delayMs });
      await Bun.sleep(delayMs);
    }
  }
}

async function listRemoteOnce(url: string, opts: { authToken?: string; connectTimeout?: number; timeout?: number; tls?: TlsClientOptions }): Promise<RemoteListing> {
  const u = parseRemoteUrl(url, { needModule: false });
  const client = openClient(u, opts.tls);
  const md = metadataFor(opts.authToken);
  try {
    const timeout = opts.timeout ?? DEFAULT_TIMEOUT_S;
    await waitReady(client, u, connectSeconds(timeout, opts.connectTimeout));
    if (u.module === "") {
      const r = await call<any>(client, "ListModules", {}, md, u, { phase: "listing modules (ListModules)", seconds: timeout });
      return { url, modules: (r.modules ?? []).map((m: any) => ({ name: printable(String(m.name)), comment: printable(String(m.comment ?? "")), readOnly: !!m.read_only })) };
    }
    const r = await call<any>(client, "ListDir", { module: u.module, path: u.path }, md, u, { phase: "listing a directory (ListDir)", seconds: timeout });
    return {
      url,
      entries: (r.entries ?? []).map((e: any) => ({ name: printable(String(e.name)), type: printable(String(e.type)), size: Number(e.size), mode: Number(e.mode), mtimeSec: Number(e.mtime_sec) })),
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
type TreeOptions = { authToken?: string; exclude?: string[]; filter?: string[]; connectTimeout?: number; timeout?: number; tls?: TlsClientOptions; xattrs?: boolean; acls?: boolean };

export async function fetchRemoteTree(url: string, opts: TreeOptions & { retries?: number; onRetry?: (r: RetryNotice) => void } = {}): Promise<RemoteTree> {
  return retrying(opts.retries ?? DEFAULT_RETRIES, () => fetchRemoteTreeOnce(url, opts), opts.onRetry);
}

async function fetchRemoteTreeOnce(url: string, opts: TreeOptions): Promise<RemoteTree> {
  const u = parseRemoteUrl(url, { needModule: true });
  const client = openClient(u, opts.tls);
  const md = metadataFor(opts.authToken);
  try {
    const timeout = opts.timeout ?? DEFAULT_TIMEOUT_S;
    await waitReady(client, u, connectSeconds(timeout, opts.connectTimeout));
    const reply = await call<any>(client, "Negotiate", {
      direction: "pull", module: u.module, path: u.path, client_version: VERSION, features: FEATURES,
      options: {
        mirror: false, checksum: false, size_only: false, ignore_times: false, max_delete: -1, force: false, dry_run: true,
        ...wireRules({ exclude: opts.exclude ?? [], filter: opts.filter }), bwlimit: 0, xattrs: !!opts.xattrs, acls: !!opts.acls,
      },
    }, md, u, { phase: "reading the tree (Negotiate)", seconds: timeout });
    requireFilterFeature({ exclude: opts.exclude ?? [], filter: opts.filter }, reply.features, u);
    let decoded: { tree: Tree; singleFile: boolean };
    try {
      decoded = decodeManifest(reply.manifest);
    } catch (err) {
      throw err instanceof PathError ? new RemoteError("PROTOCOL", `daemon sent an unsafe manifest: ${err.message}`) : err;
    }
    const { tree, singleFile } = decoded;
    tree.errors = (reply.errors ?? []).map((e: any) => ({ path: printable(String(e.path)), side: "source", code: printable(String(e.code)), message: printable(String(e.message)) }));
    return { url: formatRemoteUrl(u), tree, singleFile, errorCount: Math.max(tree.errors.length, Number(reply.error_count ?? 0)) };
  } finally {
    client.close();
  }
}

/** Runs one push or pull. Bad input throws UsageError; everything else is in the report. */
export async function runRemote(job: RemoteJob, hooks: RemoteHooks = {}): Promise<{ report: RunReport; actions: Action[] }> {
  const u = parseRemoteUrl(job.remote, { needModule: true });
  let local = resolve(job.local);

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

  // The machine around the run, at this (local) end: the daemon records its own.
  const done = { bytes: 0, files: 0 };
  const ctx = startContext({
    ...(job.route === "push" ? { source: local } : { destination: local, openers: true }),
    progress: () => done,
  });
  const tapped: RemoteHooks = {
    ...hooks,
    onProgress: (p) => {
      done.bytes = p.bytesDone;
      done.files = p.filesDone;
      hooks.onProgress?.(p);
    },
  };
  const started = new Date();
  const t0 = performance.now();
  const retries = job.options.retries ?? DEFAULT_RETRIES;
  const log: RetryRecord[] = [];
  // What earlier attempts moved: the run's record counts it too (the last attempt sees those files as unchanged).
  const earlier = { out: 0, in: 0, copied: 0, copiedBytes: 0, delta: noDelta() };
  for (let attempt = 1; ; attempt++) {
    const s = await runAttempt(job, u, local, tapped);
    // Another attempt only for what it may cure (a lost connection, a restarted daemon, a stall),
    // never after an interruption; what already landed is skipped by the next Negotiate.
    const reason = s.interrupted || hooks.signal?.aborted ? undefined : s.retryReason;
    if (reason && attempt <= retries) {
      const delayMs = backoffMs(attempt);
      // "… then run again (--retries N retries by itself)" is advice for the last failure, not for one being retried.
      const why = reason.replace(`: ${LOST_ADVICE}`, "");
      log.push({ attempt, reason: why, delayMs });
      hooks.onRetry?.({ attempt, reason: why, delayMs, of: retries + 1 });
      s.report(); // closes this attempt's connection
      carryOver(s, earlier);
      if (await sleepUnlessAborted(delayMs, hooks.signal)) continue;
      s.interrupted = true; // Ctrl-C while waiting to retry
    }
    if (reason && retries > 0 && attempt > retries) gaveUp(s, attempt);
    const result = s.report();
    Object.assign(result.report, ctx.stop());
    result.report.startedAt = started.toISOString();
    result.report.phases.totalMs = performance.now() - t0;
    if (result.report.transport) Object.assign(result.report.transport, { attempts: attempt, retries: log });
    if (attempt > 1) addEarlier(result.report, earlier);
    result.report.options = { ...result.report.options, retries };
    return result;
  }
}

type Earlier = { out: number; in: number; copied: number; copiedBytes: number; delta: DeltaCounts };

/** Adds a failed attempt's traffic and what it landed to `e`. */
function carryOver(s: RemoteSession, e: Earlier): void {
  e.out += s.wire.out;
  e.in += s.wire.in;
  e.copied += s.counts.copied;
  e.copiedBytes += s.counts.copiedBytes;
  for (const k of Object.keys(e.delta) as (keyof DeltaCounts)[]) e.delta[k] += s.delta[k];
}

/** The run's report covers every attempt: traffic and delta summed, files earlier attempts landed counted as copied, not as unchanged. */
function addEarlier(r: RunReport, e: Earlier): void {
  const t = r.transport;
  if (t) {
    t.dataBytesOut = (t.dataBytesOut ?? 0) + e.out;
    t.dataBytesIn = (t.dataBytesIn ?? 0) + e.in;
    const d = t.delta ?? noDelta();
    for (const k of Object.keys(e.delta) as (keyof DeltaCounts)[]) d[k] += e.delta[k];
    if (d.files > 0 || d.literalBytes > 0) t.delta = d;
  }
  const c = r.counts;
  c.copied += e.copied;
  c.copiedBytes += e.copiedBytes;
  c.skipped = Math.max(0, c.skipped - e.copied);
  c.skippedBytes = Math.max(0, c.skippedBytes - e.copiedBytes);
}

/** One attempt: connect, authenticate, push or pull; its failure is recorded in the session. */
async function runAttempt(job: RemoteJob, u: RemoteUrl, local: string, hooks: RemoteHooks): Promise<RemoteSession> {
  const s = new RemoteSession(job, u, local, hooks.signal);
  try {
    await s.untilInterrupted(waitReady(s.client, u, connectSeconds(s.timeout, job.connectTimeout)));
    await authenticateConnection(s);
    if (job.route === "push") await push(s, hooks);
    else await pull(s, hooks);
  } catch (e) {
    // An interrupted run is recorded as interrupted; what the interruption broke is no error.
    if (!s.interrupted) s.fatal(e);
  }
  return s;
}

/** The first retry waits 0.5 s, then 1, 2, 4 ... up to 30 s, each with up to 25% jitter (clients of one restarted daemon do not return in step). */
export function backoffMs(attempt: number): number {
  const base = Math.min(30_000, 500 * 2 ** (attempt - 1));
  return Math.round(base * (1 + Math.random() * 0.25));
}

/** Waits `ms`; false (at once) when `signal` aborts first. */
function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((res) => {
    const onAbort = () => {
      clearTimeout(timer);
      res(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      res(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The last attempt's run error says that retries ran out: how many attempts, then why the last failed. */
function gaveUp(s: RemoteSession, attempts: number): void {
  const e = s.errors.find((x) => x.side === "run");
  const why = e?.message ?? s.retryReason!;
  const words = `gave up after ${attempts} attempts (--retries ${attempts - 1}): ${why}`;
  if (e) e.message = words;
  else s.addError({ path: ".", side: "run", code: "RETRIES_EXHAUSTED", message: words });
}
