// The client side of blit push / pull / ls. The daemon is untrusted too: every path it sends is
// checked (proto/manifest.ts) and written only beneath the destination (openat2 RESOLVE_BENEATH),
// every frame is bounded, and a daemon that vanishes leaves no partial file behind. A push runs in
// push.ts, a pull in pull.ts; what they share (connection, calls, report) is in session.ts.
import { nameFs, namePath } from "../../ffi/index.ts";
import { decodeManifest, FEATURES, PathError, printable } from "../../proto/index.ts";
import { UsageError } from "../errors.ts";
import type { Action } from "../run.ts";
import { formatRemoteUrl, parseRemoteUrl } from "./url.ts";
import type { RunReport } from "../report.ts";
import { startContext } from "../context/index.ts";
import { VERSION } from "../version.ts";
import type { Tree } from "../walk.ts";
import type { TlsClientOptions } from "./tls.ts";
import { authenticateConnection, call, connectSeconds, DEFAULT_TIMEOUT_S, metadataFor, openClient, RemoteError, RemoteSession, requireFilterFeature, waitReady, wireRules, type RemoteHooks, type RemoteJob } from "./session.ts";
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
export async function listRemote(url: string, opts: { authToken?: string; connectTimeout?: number; timeout?: number; tls?: TlsClientOptions } = {}): Promise<RemoteListing> {
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
export async function fetchRemoteTree(
  url: string,
  opts: { authToken?: string; exclude?: string[]; filter?: string[]; connectTimeout?: number; timeout?: number; tls?: TlsClientOptions; xattrs?: boolean; acls?: boolean } = {},
): Promise<RemoteTree> {
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

  const s = new RemoteSession(job, u, local, hooks.signal);
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
  try {
    await s.untilInterrupted(waitReady(s.client, u, connectSeconds(s.timeout, job.connectTimeout)));
    await authenticateConnection(s);
    if (job.route === "push") await push(s, tapped);
    else await pull(s, tapped);
  } catch (e) {
    // An interrupted run is recorded as interrupted; what the interruption broke is no error.
    if (!s.interrupted) s.fatal(e);
  }
  const result = s.report();
  Object.assign(result.report, ctx.stop());
  return result;
}
