// blitd: wiring of the gRPC service (handlers in daemon/rpc/, one per RPC), auth, limits, the
// idle reaper, stale-temporary cleanup at start, and the daemon's own telemetry.
import { timingSafeEqual } from "node:crypto";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { openRooted, type RootHandoff } from "../ffi/index.ts";
import { FsWorkers, adoptCrashTemps, removeEntryAt, sweepPartials, walkTree, type RunReport } from "../engine/index.ts";
import { AUTH_METADATA_KEY, blitService, grpc, serverOptions } from "../proto/index.ts";
import { record, telemetryEnabled, telemetryPath } from "../analytics/index.ts";
import { Admission } from "./admission.ts";
import { configWarnings, isLoopback, parseBind, type DaemonConfig, type ModuleConfig } from "./config.ts";
import { startReaper } from "./deadlines.ts";
import { NO_METRICS, PromMetrics, serveMetrics, type DaemonMetrics, type MetricsListener } from "./metrics.ts";
import { dataPlaneTls, grpcServerCredentials } from "./tls.ts";
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
  /** The Prometheus listener's address (metrics_bind); undefined when metrics are off. */
  metrics?: { host: string; port: number };
}

/** Removes `.blit-tmp-*` entries a killed transfer left in writable modules (keeping parts to resume from); returns how many. */
export function removeStaleTemps(mod: ModuleConfig): number {
  let removed = 0;
  const root = openRooted(mod.path);
  try {
    const tree = walkTree(root.handoff(), [], "destination");
    // What a killed blitd was writing becomes the part of its file the next push resumes from;
    // such a part stays a day. No transfer runs yet, so no temporary here is anyone's.
    const temps = adoptCrashTemps(root, tree.staleTemps);
    const partials = new Set(sweepPartials(root, temps));
    for (const rel of temps) {
      if (partials.has(rel)) continue;
      try {
        removeEntryAt(root, rel);
        removed++;
      } catch {
        /* left for the next start */
      }
    }
  } finally {
    root.close();
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

  const workers = new FsWorkers(2);
  const env = {
    bindHost: host,
    tokenTtlMs: config.tokenTtl * 1000,
    forceGrpcData: config.forceGrpcData,
    tls: dataPlaneTls(config.tls),
    helloTimeoutMs: config.handshakeTimeout * 1000,
    onRemove: (t: Transfer) => byToken.delete(t.tokenHex),
    log,
    hash: (root: RootHandoff, paths: string[]) => workers.hash(root, paths),
  };

  const authorize = (md: grpc.Metadata) => {
    if (!config.authToken) return;
    const got = md.get(AUTH_METADATA_KEY)[0];
    const a = Buffer.from(typeof got === "string" ? got : "");
    const b = Buffer.from(config.authToken);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw authRejected();
  };

  // Metrics only with metrics_bind: a daemon without it has no registry and no listener.
  let admission: Admission | undefined;
  const prom = config.metricsBind ? new PromMetrics({
    transfers: () => transfers.size,
    connections: () => ({ authenticated: admission?.authenticated ?? 0, unauthenticated: admission?.unauthenticated ?? 0 }),
    tls: !!config.tls,
  }) : undefined;
  const metrics: DaemonMetrics = prom ?? NO_METRICS;
  const ctx: RpcContext = { config, transfers, byToken, transferEnv: env, log, recordRun, metrics, authorize, workers, negotiating: { count: 0 } };

  // Connections are admitted by daemon/admission.ts: strangers get handshake_timeout and their
  // own quota (max_unauthenticated); a call that passes the token check authenticates its
  // connection, up to max_connections of them. Its interceptor checks each call's token and
  // admission when the call's metadata arrives, before grpc-js reads a message.
  let injector: ReturnType<grpc.Server["createConnectionInjector"]> | undefined;
  admission = new Admission({
    maxConnections: config.maxConnections, maxUnauthenticated: config.maxUnauthenticated,
    handshakeTimeoutMs: config.handshakeTimeout * 1000, tokenRequired: !!config.authToken,
  }, log, (sock) => injector!.injectConnection(sock), metrics);
  const server = new grpc.Server({ ...serverOptions(config.idleTimeout * 1000), interceptors: [admission.interceptor(authorize)] });
  server.addService(lenientRequests(blitService()), blitHandlers(ctx));
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
  let metricsListener: MetricsListener | undefined;
  if (prom) {
    const at = parseBind(config.metricsBind!);
    try {
      metricsListener = await serveMetrics(prom.registry, at.host, at.port);
    } catch (err) {
      gate.close();
      server.forceShutdown();
      await workers.close();
      throw new Error(`cannot serve metrics on ${config.metricsBind} (metrics_bind): ${(err as Error).message}`);
    }
  }

  // Every transfer has a deadline (daemon/deadlines.ts): a client that vanished between
  // Negotiate and Complete, or never meant to finish, holds nothing for long.
  const forget = (t: Transfer) => {
    transfers.delete(t.id);
    byToken.delete(t.tokenHex);
    metrics.transferCutOff(t, "failed"); // no Complete will come: the client vanished or idled
  };
  const stopReaper = startReaper(() => transfers.values(), {
    idleMs: config.idleTimeout * 1000, completeMs: config.completeTimeout * 1000,
  }, forget, log);

  return {
    port: boundPort,
    host,
    activeTransfers: () => transfers.size,
    metrics: metricsListener && { host: metricsListener.host, port: metricsListener.port },
    async close() {
      stopReaper();
      for (const t of transfers.values()) {
        t.abort("daemon stopping");
        if (t.direction === "push") t.receiver!.finish({ interrupted: true });
        t.release();
        metrics.transferCutOff(t, "interrupted");
      }
      transfers.clear();
      byToken.clear();
      gate.close();
      injector!.destroy();
      admission!.close();
      server.forceShutdown();
      await metricsListener?.close();
      await workers.close();
      await recordChain;
    },
  };
}
