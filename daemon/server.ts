// blitd: the gRPC service (list, negotiate, complete, data fallback), auth, limits, the idle
// reaper, stale-temporary cleanup at start, and the daemon's own telemetry.
import { timingSafeEqual } from "node:crypto";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { hostname, release } from "node:os";
import { join } from "node:path";
import {
  GrpcChannel, mapOwners, planTrees, readTreeXattrs, T_DIR, VERSION, workloadOf, type GrpcDuplex, type RunError, type RunReport, type Tree,
  type ReceiveSummary,
} from "../engine/index.ts";
import {
  bytesOfName, closeFd, dirReader, displayName, filesystemType, hasEscapedBytes, metadataPrivileges, openBeneath, openRootDir,
  O_DIRECTORY, O_RDONLY, TEMP_PREFIX, unlinkAt, type DirHandle, type FsError,
} from "../ffi/index.ts";
import { removeTreeAt, walkTree, hashBeneath } from "../engine/index.ts";
import {
  AUTH_METADATA_KEY, blitService, checkPath, decodeManifest, encodeManifest, FEATURE_SPARSE, FEATURES, grpc, PathError,
  peerFeatures, serverOptions, u32List, printable,
} from "../proto/index.ts";
import { record, telemetryEnabled, telemetryPath } from "../analytics/index.ts";
import { Admission } from "./admission.ts";
import { configWarnings, isLoopback, parseBind, type DaemonConfig, type ModuleConfig } from "./config.ts";
import { dataPlaneTls, grpcServerCredentials } from "./tls.ts";
import { authRejected, DaemonError, moduleNotFound, readOnly, toStatus } from "./errors.ts";
import {
  acceptChannel, openPullSource, openPushTarget, singleDstTree, slotsHeld, TargetError, Transfer, walkFd, type TransferOptions,
} from "./transfers.ts";
import { startReaper } from "./deadlines.ts";

export interface DaemonHandle {
  /** The bound gRPC port (useful with port 0). */
  port: number;
  host: string;
  /** Stops serving: open transfers are aborted (their temporaries removed). */
  close(): Promise<void>;
  /** Transfers in progress (for tests and status). */
  activeTransfers(): number;
}

export interface DaemonLogger {
  (msg: string): void;
}

const MAX_LIST_ENTRIES = 10_000;
const MAX_EXCLUDES = 1000;

/** Removes `.blit-tmp-*` entries a killed transfer left in writable modules. Returns how many. */
export function removeStaleTemps(mod: ModuleConfig): number {
  let removed = 0;
  const rootFd = openRootDir(mod.path);
  try {
    const tree = walkTree(rootFd, [], "destination");
    for (const rel of tree.staleTemps) {
      const k = rel.lastIndexOf("/");
      const dir = k < 0 ? "" : rel.slice(0, k);
      const name = rel.slice(k + 1);
      let pfd = -1;
      try {
        pfd = openBeneath(rootFd, dir, O_RDONLY | O_DIRECTORY);
        try {
          unlinkAt(pfd, name);
        } catch (err) {
          if ((err as FsError).code === "EISDIR") removeTreeAt(rootFd, rel);
          else throw err;
        }
        removed++;
      } catch {
        /* left for the next start */
      } finally {
        if (pfd >= 0) closeFd(pfd);
      }
    }
  } finally {
    closeFd(rootFd);
  }
  return removed;
}

export async function startDaemon(config: DaemonConfig, log: DaemonLogger = () => {}): Promise<DaemonHandle> {
  const { host, port } = parseBind(config.bind);
  if (!isLoopback(host) && !config.authToken) throw new DaemonError("AUTH", `binding ${config.bind} requires auth_token_file`);
  for (const w of configWarnings(config)) log(`warning: ${w}`);
  for (const m of config.modules.values()) {
    if (!m.readOnly) {
      const n = removeStaleTemps(m);
      if (n) log(`module '${m.name}': removed ${n} temporary file${n === 1 ? "" : "s"} left by an interrupted transfer`);
    }
  }
  const transfers = new Map<string, Transfer>();
  const byToken = new Map<string, Transfer>();
  const telemetryOn = config.telemetry && telemetryEnabled(process.env);
  const storePath = config.telemetryDir ? join(config.telemetryDir, "telemetry.duckdb") : telemetryPath(process.env);
  let recordChain: Promise<unknown> = Promise.resolve();
  const recordRun = (r: RunReport) => {
    if (!telemetryOn) return;
    // One writer at a time in this process: DuckDB allows one writing connection per file.
    recordChain = recordChain.then(() => record(r, { path: storePath })).then((res) => {
      if (res.warning) log(`warning: ${res.warning}`);
    }, () => {});
  };

  const env = {
    bindHost: host,
    tokenTtlMs: config.tokenTtl * 1000,
    forceGrpcData: config.forceGrpcData,
    tls: dataPlaneTls(config.tls),
    helloTimeoutMs: config.handshakeTimeout * 1000,
    onRemove: (t: Transfer) => byToken.delete(t.tokenHex),
    log,
  };

  const authorize = (md: grpc.Metadata) => {
    if (!config.authToken) return;
    const got = md.get(AUTH_METADATA_KEY)[0];
    const a = Buffer.from(typeof got === "string" ? got : "");
    const b = Buffer.from(config.authToken);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw authRejected();
  };
  const findModule = (name: unknown): ModuleConfig => {
    const n = typeof name === "string" ? name : "";
    const m = config.modules.get(n);
    if (!m) throw moduleNotFound(printable(n));
    return m;
  };
  // Each handler: authorize, run, map any error to a status in one place.
  const unary = <Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res) =>
    (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      (async () => {
        authorize(call.metadata);
        return fn(call.request, call);
      })().then((res) => cb(null, res), (err) => {
        if (!(err instanceof DaemonError) && !(err instanceof PathError) && !(err instanceof TargetError)) log(`error: ${(err as Error)?.stack ?? err}`);
        cb(err instanceof TargetError ? toStatus(new DaemonError(err.code, err.message)) : toStatus(err), null);
      });
    };

  const normalizeOpts = (o: any, direction: string, features: Set<string>, mod: ModuleConfig): TransferOptions => {
    const exclude: string[] = Array.isArray(o?.exclude) ? o.exclude.map(String) : [];
    if (exclude.length > MAX_EXCLUDES || exclude.some((e) => e.length > 4096 || e.includes("\0"))) throw new DaemonError("BAD_REQUEST", "too many or too long --exclude patterns");
    const maxDelete = Number(o?.max_delete ?? -1);
    return {
      ...metadataOpts(o, direction, mod),
      mirror: !!o?.mirror, checksum: !!o?.checksum, sizeOnly: !!o?.size_only, ignoreTimes: !!o?.ignore_times,
      maxDelete: Number.isInteger(maxDelete) && maxDelete >= -1 ? maxDelete : -1, force: !!o?.force,
      dryRun: !!o?.dry_run, exclude: direction === "push" || direction === "pull" ? exclude : [],
      bwlimit: Number.isSafeInteger(Number(o?.bwlimit)) && Number(o?.bwlimit) > 0 ? Number(o.bwlimit) : 0,
      hardLinks: !!o?.hard_links,
      sparse: direction === "pull" && features.has(FEATURE_SPARSE),
    };
  };

  // A negotiated transfer: a dry run ends here; otherwise it is registered and its data plane
  // (listener + one-time token) opened, and the reply tells the client where to connect.
  const open = <R extends { data_port: number; token: Uint8Array }>(t: Transfer, reply: R, dryRun: boolean): R => {
    if (dryRun) {
      t.release();
      return reply;
    }
    transfers.set(t.id, t);
    byToken.set(t.tokenHex, t);
    reply.data_port = t.openDataPlane();
    reply.token = t.token;
    return reply;
  };

  const service = {
    ListModules: unary(() => ({
      version: VERSION,
      modules: [...config.modules.values()].map((m) => ({ name: m.name, comment: m.comment, read_only: m.readOnly })),
    })),

    ListDir: unary((req: any) => {
      const mod = findModule(req.module);
      const path = checkPath(String(req.path ?? ""), "path", true);
      const modFd = openRootDir(mod.path);
      let fd = -1;
      try {
        try {
          fd = openBeneath(modFd, path, O_RDONLY);
        } catch (err) {
          const code = (err as FsError).code;
          if (code === "ENOENT") throw new DaemonError("NOT_FOUND", `'${path}' not found in module '${mod.name}'`);
          if (code === "EXDEV" || code === "ELOOP") throw new DaemonError("BAD_PATH", `path '${path}' leads outside the module`);
          throw err;
        }
        let dir: DirHandle;
        try {
          dir = dirReader().fromFd(fd);
        } catch (err) {
          if ((err as FsError).code !== "ENOTDIR") throw err;
          const k = path.lastIndexOf("/");
          const name = path.slice(k + 1);
          const parentFd = openBeneath(modFd, k < 0 ? "" : path.slice(0, k), O_RDONLY | O_DIRECTORY);
          const parent = dirReader().fromFd(parentFd);
          try {
            return { entries: [dirEntry(name, parent)], truncated: false, is_file: true };
          } finally {
            parent.close();
            closeFd(parentFd);
          }
        }
        const entries = [];
        let truncated = false;
        try {
          const names = dir.names().filter((n) => !n.startsWith(TEMP_PREFIX)).sort();
          truncated = names.length > MAX_LIST_ENTRIES;
          for (const name of names.slice(0, MAX_LIST_ENTRIES)) {
            try {
              entries.push(dirEntry(name, dir));
            } catch {}
          }
        } finally {
          dir.close();
        }
        return { entries, truncated, is_file: false };
      } finally {
        if (fd >= 0) closeFd(fd);
        closeFd(modFd);
      }
    }),

    Negotiate: unary((req: any, call) => {
      const direction = String(req.direction);
      if (direction !== "push" && direction !== "pull") throw new DaemonError("BAD_REQUEST", `unknown direction '${printable(direction)}'`);
      const mod = findModule(req.module);
      if (direction === "push" && mod.readOnly) throw readOnly(mod.name);
      const path = checkPath(String(req.path ?? ""), "remote path", true);
      const opts = normalizeOpts(req.options, direction, peerFeatures(req.features), mod);
      if (slotsHeld(transfers.values()) >= config.maxConnections) {
        throw new DaemonError("BUSY", `blitd is at its limit of ${config.maxConnections} concurrent transfers (max_connections); try again later`);
      }
      const peer = call.getPeer();
      const modFd = openRootDir(mod.path);
      try {
        const tWalk = performance.now();
        if (direction === "push") {
          const { tree: src, singleFile, names } = decodeManifest(req.manifest);
          if (opts.owner || opts.group) mapOwners(src, names, opts.numericIds);
          else dropSetIds(src, mod, opts.notKept);
          const target = openPushTarget(modFd, path, singleFile ? src.paths[0]! : undefined);
          let dst: Tree;
          try {
            if (singleFile) {
              src.paths[0] = target.name!;
              dst = singleDstTree(target.rootFd, target.name!);
            } else dst = walkFd(target.rootFd, opts.exclude);
          } catch (err) {
            closeFd(target.rootFd);
            throw err;
          }
          const plan = planTrees(src, dst, opts);
          const walkMs = performance.now() - tWalk;
          const checks = opts.checksum
            ? plan.checkDst.map((j, k) => ({ index: plan.checks[k]!, hash: hashBeneath(target.rootFd, dst.paths[j]!) ?? new Uint8Array(0) }))
            : [];
          const t = new Transfer("push", mod, path, target.rootFd, src, dst, plan, opts, singleFile, peer, env);
          const reply = {
            transfer_id: t.id,
            need: u32List(plan.need),
            checks,
            data_port: 0,
            token: new Uint8Array(0),
            delete_planned: plan.deletePlanned,
            dirs_to_create: plan.mkdirs.length,
            links_to_create: plan.links.length,
            skipped: plan.skipped,
            skipped_bytes: plan.skippedBytes,
            errors: wireErrors(plan.errors.slice(0, 100)),
            error_count: plan.errors.length,
            walk_ms: walkMs,
            delete_paths: opts.dryRun ? plan.extraneousTop.slice(0, 10_000).map((j) => displayName(dst.paths[j]!)) : [],
            features: FEATURES,
            specials_skipped: plan.specialsSkipped,
            not_kept: opts.notKept,
          };
          return open(t, reply, opts.dryRun);
        }
        // pull
        const source = openPullSource(modFd, path, opts.exclude);
        let xattrs;
        if (opts.xattrSel) {
          const read = readTreeXattrs(source.rootFd, source.tree, opts.xattrSel, (e) => source.tree.errors.push(e));
          xattrs = { xattrs: read.xattrs, rootXattrs: source.singleFile ? undefined : read.root };
        }
        const walkMs = performance.now() - tWalk;
        const manifest = encodeManifest(source.tree, source.singleFile, {
          hardLinks: opts.hardLinks, owner: opts.owner, group: opts.group, numericIds: opts.numericIds, ...xattrs,
        });
        const t = new Transfer("pull", mod, path, source.rootFd, source.tree, source.tree, undefined, opts, source.singleFile, peer, env);
        const reply = {
          transfer_id: t.id, need: new Uint8Array(0), checks: [], data_port: 0, token: new Uint8Array(0), manifest,
          errors: wireErrors(source.tree.errors.slice(0, 100)),
          error_count: source.tree.errors.length, walk_ms: walkMs, features: FEATURES,
        };
        return open(t, reply, opts.dryRun);
      } finally {
        closeFd(modFd);
      }
    }),

    Complete: unary(async (req: any) => {
      const t = transfers.get(String(req.transfer_id));
      if (!t) throw new DaemonError("NOT_FOUND", "transfer not found (it ended or expired)");
      t.touch();
      if (req.aborted) t.abort("the client gave up");
      else if (t.dataState === "waiting") t.expire();
      await t.dataDone;
      transfers.delete(t.id);
      byToken.delete(t.tokenHex);
      let summary: ReceiveSummary | undefined;
      try {
        if (t.direction === "push") {
          const r = t.receiver!;
          if (t.dataState === "expired" && !req.aborted) r.prepare();
          await r.settle();
          summary = r.finish({ extraErrors: Number(req.client_errors) || 0, interrupted: !!req.aborted || t.dataState === "failed" });
        }
      } finally {
        t.release();
      }
      const report = daemonReport(t, summary, config);
      recordRun(report);
      const s = summary;
      const errors = s ? s.errors : t.failure ? [{ path: ".", side: "run" as const, code: "TRANSFER_FAILED", message: t.failure }] : [];
      return {
        status: report.status,
        files_written: s?.filesWritten ?? 0,
        bytes_written: s?.bytesWritten ?? 0,
        deleted: s?.deleted ?? 0,
        delete_planned: s?.deletePlanned ?? 0,
        dirs_created: s?.dirsCreated ?? 0,
        symlinks: s?.symlinks ?? 0,
        specials: s?.specials ?? 0,
        errors: wireErrors(errors.slice(0, 100)),
        error_count: s ? s.errorCount : errors.length,
        transport: t.transport,
        files_sent: t.sent.files,
        bytes_sent: t.sent.bytes,
        same: s?.same ?? t.sent.same,
        hole_bytes: s ? s.holeBytes : t.sent.holeBytes,
      };
    }),

    Data: (call: grpc.ServerDuplexStream<any, any>) => {
      const ch = new GrpcChannel(call as unknown as GrpcDuplex, (reason) => {
        call.emit("error", { code: grpc.status.ABORTED, details: reason, metadata: new grpc.Metadata() });
      });
      try {
        authorize(call.metadata);
      } catch {
        call.emit("error", toStatus(authRejected()));
        return;
      }
      // The token inside HELLO names the transfer; until then this stream belongs to none.
      let bound = false;
      const timer = setTimeout(() => {
        if (!bound) ch.destroy("no HELLO in time");
      }, 3000);
      acceptChannel(ch, (tok) => {
        const t = byToken.get(Buffer.from(tok).toString("hex"));
        return t && t.tokenMatches(tok) ? t : undefined;
      }, () => {
        bound = true;
        clearTimeout(timer);
      }, log);
    },
  };

  // Connections are admitted by daemon/admission.ts: strangers get handshake_timeout and their
  // own quota (max_unauthenticated); a call that passes the token check authenticates its
  // connection, up to max_connections of them. Its interceptor checks each call's token and
  // admission when the call's metadata arrives, before grpc-js reads a message.
  let injector: ReturnType<grpc.Server["createConnectionInjector"]> | undefined;
  const admission = new Admission({
    maxConnections: config.maxConnections, maxUnauthenticated: config.maxUnauthenticated,
    handshakeTimeoutMs: config.handshakeTimeout * 1000, tokenRequired: !!config.authToken,
  }, log, (sock) => injector!.injectConnection(sock));
  const server = new grpc.Server({ ...serverOptions(config.idleTimeout * 1000), interceptors: [admission.interceptor(authorize)] });
  server.addService(blitService(), service as unknown as grpc.UntypedServiceImplementation);
  const grpcCredentials = grpcServerCredentials(config.tls); // TLS 1.3 with tls_cert_file, else plaintext
  injector = server.createConnectionInjector(grpcCredentials);
  const gate = createTcpServer({ noDelay: true }, (sock) => admission.accept(sock));
  const boundPort = await new Promise<number>((resolve, reject) => {
    gate.once("error", reject);
    gate.listen(port, host, () => {
      gate.off("error", reject);
      gate.on("error", (err) => log(`error: gRPC listener: ${err.message}`));
      resolve((gate.address() as AddressInfo).port);
    });
  });

  // Every transfer has a deadline (daemon/deadlines.ts): a client that vanished between
  // Negotiate and Complete, or never meant to finish, holds nothing for long.
  const forget = (t: Transfer) => {
    transfers.delete(t.id);
    byToken.delete(t.tokenHex);
  };
  const stopReaper = startReaper(() => transfers.values(), {
    idleMs: config.idleTimeout * 1000, completeMs: config.completeTimeout * 1000,
  }, forget, log);

  return {
    port: boundPort,
    host,
    activeTransfers: () => transfers.size,
    async close() {
      stopReaper();
      for (const t of transfers.values()) {
        t.abort("daemon stopping");
        if (t.direction === "push") t.receiver!.finish({ interrupted: true });
        t.release();
      }
      transfers.clear();
      byToken.clear();
      gate.close();
      injector!.destroy();
      admission.close();
      server.forceShutdown();
      await recordChain;
    },
  };
}

/**
 * What a transfer keeps beyond content, mode and mtime. A pull's daemon sends what the client
 * asks for (trusted.* and security.* attributes only from a keep_owners module). A push keeps
 * owners and groups, device nodes and trusted.* / security.* attributes only in a module with
 * keep_owners = true and only when blitd may give them (root); anything asked for and not kept
 * is named in notKept. user.* attributes, ACLs, FIFOs and sockets need neither.
 */
function metadataOpts(o: any, direction: string, mod: ModuleConfig) {
  const asked = {
    owner: !!o?.owner, group: !!o?.group, xattrs: !!o?.xattrs, acls: !!o?.acls, numericIds: !!o?.numeric_ids,
    specials: !!o?.specials, devices: !!o?.devices,
  };
  const notKept: Record<string, string> = {};
  const priv = metadataPrivileges();
  if (direction === "pull") {
    // trusted.* attributes are for root's eyes: read for clients only from a keep_owners module.
    const privileged = mod.keepOwners && priv.systemXattrs;
    const xattrSel = asked.xattrs || asked.acls ? { xattrs: asked.xattrs, acls: asked.acls, privileged } : undefined;
    return { ...asked, xattrSel, notKept };
  }
  const why = !mod.keepOwners ? `module '${mod.name}' does not keep owners (keep_owners = false)` : undefined;
  const owners = !why && priv.owners;
  if ((asked.owner || asked.group) && !owners) notKept.owners = why ?? `blitd is ${priv.reasons.owners ?? "not allowed to give owners"}`;
  const devices = asked.devices && !why && priv.devices;
  if (asked.devices && !devices) notKept.devices = why ? `module '${mod.name}' does not create device nodes (keep_owners = false)` : `blitd is ${priv.reasons.devices}`;
  const xattrSel = asked.xattrs || asked.acls ? { xattrs: asked.xattrs, acls: asked.acls, privileged: owners && priv.systemXattrs } : undefined;
  return { ...asked, owner: asked.owner && owners, group: asked.group && owners, devices, xattrSel, notKept };
}

/**
 * A push whose owners are not kept makes files that belong to blitd's user (root, often): a
 * setuid or setgid bit from the client would make them run as that user, so it is dropped from
 * everything but directories (where setgid only passes the group on), and the reply says so.
 */
function dropSetIds(src: Tree, mod: ModuleConfig, notKept: Record<string, string>): void {
  let dropped = 0;
  const modes = src.modes as Uint16Array;
  for (let i = 0; i < modes.length; i++) {
    if (src.types[i] === T_DIR || !(modes[i]! & 0o6000)) continue;
    modes[i] = modes[i]! & ~0o6000;
    dropped++;
  }
  const why = mod.keepOwners ? "owners were not asked for" : `module '${mod.name}' does not keep owners`;
  if (dropped) notKept.setid = `${dropped} setuid/setgid bit${dropped === 1 ? "" : "s"} dropped: ${why}, and the files belong to blitd's user`;
}

/**
 * Errors as RemoteError messages: proto strings must be valid UTF-8, so paths and messages
 * travel in their display form (undecodable bytes as `\xff`); they are for people, not for use.
 */
function wireErrors(errors: readonly RunError[]): { path: string; code: string; message: string }[] {
  return errors.map((e) => ({ path: displayName(e.path), code: e.code, message: displayName(e.message) }));
}

/** A ListDir entry; a name that is not UTF-8 also travels as its exact bytes (name_bytes). */
function dirEntry(name: string, dir: DirHandle) {
  const s = dir.stat(name);
  return {
    name: displayName(name), name_bytes: hasEscapedBytes(name) ? bytesOfName(name) : new Uint8Array(0),
    type: s.type, size: s.size, mode: s.mode, mtime_sec: s.mtimeSec, link_target: "",
  };
}

function daemonReport(t: Transfer, s: ReceiveSummary | undefined, config: DaemonConfig): RunReport {
  const now = new Date();
  const totalMs = performance.now() - t.t0;
  const push = t.direction === "push";
  const errors = s?.errors ?? (t.failure ? [{ path: ".", side: "run" as const, code: "TRANSFER_FAILED", message: t.failure }] : []);
  const errorCount = s?.errorCount ?? errors.length + t.sent.errors;
  const failed = t.dataState === "failed" || !!s?.fatal;
  const status = failed ? "failed" : errorCount > 0 ? "partial" : "ok";
  const modPath = join(t.module.path, t.path);
  const bytes = push ? s?.bytesWritten ?? 0 : t.sent.bytes;
  const files = push ? s?.filesWritten ?? 0 : t.sent.files;
  const holes = push ? s?.holeBytes ?? 0 : t.sent.holeBytes;
  void config;
  return {
    id: crypto.randomUUID(),
    startedAt: t.startedAt.toISOString(),
    finishedAt: now.toISOString(),
    host: hostname(),
    pid: process.pid,
    os: `${process.platform} ${release()}`,
    blitVersion: VERSION,
    command: t.opts.mirror ? "mirror" : "copy",
    route: t.direction,
    source: push ? `peer ${t.peer}` : modPath,
    destination: push ? modPath : `peer ${t.peer}`,
    sourceFs: push ? "remote" : filesystemType(t.module.path),
    destinationFs: push ? filesystemType(t.module.path) : "remote",
    options: {
      dryRun: t.opts.dryRun, checksum: t.opts.checksum, sizeOnly: t.opts.sizeOnly, ignoreTimes: t.opts.ignoreTimes,
      exclude: t.opts.exclude, workers: 1, bwlimit: 0, maxDelete: t.opts.maxDelete, force: t.opts.force, hardLinks: t.opts.hardLinks,
      owner: t.opts.owner, group: t.opts.group, xattrs: t.opts.xattrs, acls: t.opts.acls, specials: t.opts.specials, devices: t.opts.devices,
      numericIds: t.opts.numericIds,
    },
    workload: workloadOf(t.src),
    plan: { strategy: "remote", workers: 1, classes: [] },
    phases: { enumerateMs: 0, planMs: 0, transferMs: t.transferMs, deleteMs: 0, totalMs },
    counts: {
      planned: push ? t.plan!.need.length + t.plan!.checks.length : files,
      plannedBytes: 0,
      copied: files,
      copiedBytes: bytes,
      ...(holes ? { holeBytes: holes } : {}),
      skipped: push ? t.plan!.skipped + (s?.same ?? 0) : 0,
      skippedBytes: push ? t.plan!.skippedBytes : 0,
      deleted: s?.deleted ?? 0,
      deletePlanned: s?.deletePlanned ?? 0,
      dirsCreated: s?.dirsCreated ?? 0,
      symlinks: s?.symlinks ?? 0,
    },
    bytesByPath: bytes ? { stream: bytes } : {},
    filesByPath: files ? { stream: files } : {},
    fastPathNotes: {},
    errors: errors.slice(0, 1000).map((e) => ({ ...e, path: displayName(e.path), message: displayName(e.message) })),
    errorCount,
    status,
    exitCode: status === "ok" ? 0 : status === "partial" ? 1 : 2,
    transport: { kind: t.transport === "grpc" ? "grpc" : "tcp", tls: !!config.tls, negotiateMs: 0, transferMs: t.transferMs, completeMs: 0 },
  };
}
