// blitd: wiring of the gRPC service (handlers in daemon/rpc/, one per RPC), auth, limits, the
// idle reaper, stale-temporary cleanup at start, and the daemon's own telemetry.
import { timingSafeEqual } from "node:crypto";
import { createServer as createTcpServer, type AddressInfo, type Socket as NetSocket } from "node:net";
import { join } from "node:path";
import { closeFd, openBeneath, openRootDir, O_DIRECTORY, O_RDONLY, unlinkAt, type FsError } from "../ffi/index.ts";
import { FsWorkers, removeTreeAt, walkTree, type RunReport } from "../engine/index.ts";
import { AUTH_METADATA_KEY, blitService, grpc, serverOptions } from "../proto/index.ts";
import { record, telemetryEnabled, telemetryPath } from "../analytics/index.ts";
import { isLoopback, parseBind, type DaemonConfig, type ModuleConfig } from "./config.ts";
import { authRejected, DaemonError, toStatus } from "./errors.ts";
import { blitHandlers, lenientRequests, type DaemonLogger, type RpcContext } from "./rpc/index.ts";
import { Transfer } from "./transfers.ts";

export type { DaemonLogger } from "./rpc/index.ts";

export interface DaemonHandle {
  /** The bound gRPC port (useful with port 0). */
  port: number;
  host: string;
  /** Stops serving: open transfers are aborted (their temporaries removed). */
  close(): Promise<void>;
  /** Transfers in progress (for tests and status). */
  activeTransfers(): number;
}

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

  const workers = new FsWorkers(2);
  const env = {
    bindHost: host,
    tokenTtlMs: config.tokenTtl * 1000,
    forceGrpcData: config.forceGrpcData,
    onRemove: (t: Transfer) => byToken.delete(t.tokenHex),
    log,
    hash: (rootFd: number, paths: string[]) => workers.hash(rootFd, paths),
  };

  const authorize = (md: grpc.Metadata) => {
    if (!config.authToken) return;
    const got = md.get(AUTH_METADATA_KEY)[0];
    const a = Buffer.from(typeof got === "string" ? got : "");
    const b = Buffer.from(config.authToken);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw authRejected();
  };

  const ctx: RpcContext = { config, transfers, byToken, transferEnv: env, log, recordRun, authorize, workers, negotiating: { count: 0 } };

  const server = new grpc.Server(serverOptions(config.idleTimeout * 1000));
  server.addService(lenientRequests(blitService()), blitHandlers(ctx));
  // The gRPC port is our own TCP listener that hands each connection to grpc-js (its public
  // connection injector), so the number of client connections is bounded too: one over
  // max_connections goes to a second server that answers every call "at its limit" in words,
  // and is closed a few seconds later.
  const busy = new grpc.Server(serverOptions(5000));
  const busyError = () => toStatus(new DaemonError("BUSY", `blitd is at its limit of ${config.maxConnections} client connections (max_connections); try again later`));
  const busyUnary = (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(busyError(), null);
  busy.addService(blitService(), {
    ListModules: busyUnary, ListDir: busyUnary, Negotiate: busyUnary, Complete: busyUnary,
    Data: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.emit("error", busyError()),
  } as unknown as grpc.UntypedServiceImplementation);
  const insecure = grpc.ServerCredentials.createInsecure();
  const injector = server.createConnectionInjector(insecure);
  const busyInjector = busy.createConnectionInjector(insecure);
  const live = new Set<NetSocket>();
  const gate = createTcpServer({ noDelay: true }, (sock) => {
    sock.on("error", () => {}); // a reset connection ends that connection only
    if (live.size >= config.maxConnections) {
      log(`refused a connection from ${sock.remoteAddress}: ${live.size} client connections open (max_connections)`);
      busyInjector.injectConnection(sock);
      setTimeout(() => sock.destroy(), 5000).unref?.();
      return;
    }
    live.add(sock);
    sock.once("close", () => live.delete(sock));
    injector.injectConnection(sock);
  });
  const boundPort = await new Promise<number>((resolve, reject) => {
    gate.once("error", reject);
    gate.listen(port, host, () => {
      gate.off("error", reject);
      gate.on("error", (err) => log(`error: gRPC listener: ${err.message}`));
      resolve((gate.address() as AddressInfo).port);
    });
  });

  // Idle transfers are ended: a client that vanished between Negotiate and Complete.
  const reaper = setInterval(() => {
    const now = Date.now();
    for (const t of transfers.values()) {
      // A transfer whose data connection broke (client killed) waits 30 s for its Complete at most.
      const limitMs = t.dataState === "failed" ? Math.min(30_000, config.idleTimeout * 1000) : config.idleTimeout * 1000;
      if (now - t.lastActivity > limitMs) {
        log(`transfer ${t.id}: idle for ${config.idleTimeout} s; ended`);
        t.abort(`idle for more than ${config.idleTimeout} s`);
        transfers.delete(t.id);
        byToken.delete(t.tokenHex);
        if (t.direction === "push") t.receiver!.finish({ interrupted: true });
        t.release();
      }
    }
  }, 1000);
  // The reaper also keeps the process alive: the gRPC server's socket may be unref'd under Bun.

  return {
    port: boundPort,
    host,
    activeTransfers: () => transfers.size,
    async close() {
      clearInterval(reaper);
      for (const t of transfers.values()) {
        t.abort("daemon stopping");
        if (t.direction === "push") t.receiver!.finish({ interrupted: true });
        t.release();
      }
      transfers.clear();
      byToken.clear();
      gate.close();
      injector.destroy();
      busyInjector.destroy();
      for (const s of live) s.destroy();
      server.forceShutdown();
      busy.forceShutdown();
      await workers.close();
      await recordChain;
    },
  };
}
