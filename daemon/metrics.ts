// blitd's Prometheus metrics (metrics_bind; off by default): what the daemon counts, and the
// plain-HTTP listener that serves them at GET /metrics. The server calls the small DaemonMetrics
// interface; only this file knows prom-client. A finished transfer is counted from the daemon's
// own run report (the record its telemetry keeps), so metrics and telemetry never disagree.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RunReport } from "../engine/index.ts";
import type { Transfer } from "./transfers.ts";

/** Why a gRPC connection was closed or a call on it refused before it could do anything. */
export type RefusalReason = "max_connections" | "max_unauthenticated" | "handshake_timeout";

/** How a transfer ended: its run report's status (ok, partial, failed, interrupted). */
export type TransferStatus = RunReport["status"];

/** What the daemon tells its metrics; a daemon without metrics_bind gets NO_METRICS. */
export interface DaemonMetrics {
  /** A negotiated transfer (not a dry run) was registered. */
  transferStarted(t: Transfer): void;
  /** A transfer ended by its Complete, as its run report says. */
  transferCompleted(t: Transfer, report: RunReport): void;
  /** A transfer ended without a Complete: its client vanished or idled (failed) or blitd is stopping (interrupted). */
  transferCutOff(t: Transfer, status: "failed" | "interrupted"): void;
  /** A Negotiate was refused (read-only module, unknown module, bad path, busy...). */
  transferRejected(module: string | undefined, direction: string, code: string): void;
  connectionRefused(reason: RefusalReason): void;
  /** A call with a missing or wrong auth token. */
  authFailed(): void;
}

export const NO_METRICS: DaemonMetrics = {
  transferStarted() {},
  transferCompleted() {},
  transferCutOff() {},
  transferRejected() {},
  connectionRefused() {},
  authFailed() {},
};

/** What the gauges read when scraped: the daemon's own tables, never a second count. */
export interface LiveState {
  /** Transfers between Negotiate and Complete. */
  transfers(): number;
  connections(): { authenticated: number; unauthenticated: number };
  /** The daemon serves TLS (a transport label then ends in "+tls"). */
  tls: boolean;
}

/** From 10 ms (a small file) to an hour (a large tree): transfers span six orders of magnitude. */
export const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** The data plane a transfer used: "tcp" or "grpc" (with "+tls" under TLS), "none" when no data connection came. */
export function transportLabel(transport: Transfer["transport"], tls: boolean): string {
  return transport === "none" ? "none" : `${transport}${tls ? "+tls" : ""}`;
}

/** The counters and gauges of one daemon, in its own registry (never prom-client's global one). */
export class PromMetrics implements DaemonMetrics {
  readonly registry = new Registry();
  /** Transfers counted as started and not yet as finished: each is finished exactly once. */
  private readonly open = new Set<string>();
  private readonly started: Counter<"module" | "direction">;
  private readonly finished: Counter<"module" | "direction" | "transport" | "status">;
  private readonly rejected: Counter<"module" | "direction" | "reason">;
  private readonly received: Counter<"module" | "transport">;
  private readonly sent: Counter<"module" | "transport">;
  private readonly files: Counter<"module" | "direction">;
  private readonly duration: Histogram<"module" | "direction">;
  private readonly refused: Counter<"reason">;
  private readonly authFailures: Counter<string>;

  constructor(private readonly live: LiveState) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "blitd_" });
    this.started = new Counter({ name: "blitd_transfers_started_total", help: "Transfers negotiated (dry runs not counted)", labelNames: ["module", "direction"], registers });
    this.finished = new Counter({
      name: "blitd_transfers_finished_total", help: "Transfers ended, by the status of the daemon's run report (ok, partial, failed, interrupted)",
      labelNames: ["module", "direction", "transport", "status"], registers,
    });
    this.rejected = new Counter({
      name: "blitd_transfers_rejected_total", help: "Negotiates refused before a transfer started, by error code (read_only, module_not_found, busy...)",
      labelNames: ["module", "direction", "reason"], registers,
    });
    this.received = new Counter({ name: "blitd_bytes_received_total", help: "File bytes written by pushes (after delta reconstruction)", labelNames: ["module", "transport"], registers });
    this.sent = new Counter({ name: "blitd_bytes_sent_total", help: "File bytes sent by pulls", labelNames: ["module", "transport"], registers });
    this.files = new Counter({ name: "blitd_files_total", help: "Files written (push) or sent (pull)", labelNames: ["module", "direction"], registers });
    this.duration = new Histogram({
      name: "blitd_transfer_duration_seconds", help: "Time from Negotiate to the end of a transfer", labelNames: ["module", "direction"], buckets: DURATION_BUCKETS, registers,
    });
    this.refused = new Counter({ name: "blitd_connections_refused_total", help: "gRPC connections closed or calls refused by a limit", labelNames: ["reason"], registers });
    this.authFailures = new Counter({ name: "blitd_auth_failures_total", help: "gRPC calls with a missing or wrong auth token", registers });
    new Gauge({
      name: "blitd_active_transfers", help: "Transfers between Negotiate and Complete", registers,
      collect() {
        this.set(live.transfers());
      },
    });
    new Gauge({
      name: "blitd_connections_active", help: "Open gRPC connections, by whether a call on them passed the token check", labelNames: ["state"], registers,
      collect() {
        const c = live.connections();
        this.set({ state: "authenticated" }, c.authenticated);
        this.set({ state: "unauthenticated" }, c.unauthenticated);
      },
    });
  }

  transferStarted(t: Transfer): void {
    this.open.add(t.id);
    this.started.inc({ module: t.module.name, direction: t.direction });
  }

  transferCompleted(t: Transfer, report: RunReport): void {
    const tls = report.transport?.tls ?? this.live.tls;
    this.count(t, report.status, transportLabel(t.transport, tls), report.counts.copiedBytes, report.counts.copied, report.phases.totalMs / 1000);
  }

  transferCutOff(t: Transfer, status: "failed" | "interrupted"): void {
    const bytes = t.direction === "push" ? t.receiver?.summary.bytesWritten ?? 0 : t.sent.bytes;
    const files = t.direction === "push" ? t.receiver?.summary.filesWritten ?? 0 : t.sent.files;
    this.count(t, status, transportLabel(t.transport, this.live.tls), bytes, files, (performance.now() - t.t0) / 1000);
  }

  transferRejected(module: string | undefined, direction: string, code: string): void {
    const dir = direction === "push" || direction === "pull" ? direction : "unknown";
    this.rejected.inc({ module: module ?? "", direction: dir, reason: code.toLowerCase() });
  }

  connectionRefused(reason: RefusalReason): void {
    this.refused.inc({ reason });
  }

  authFailed(): void {
    this.authFailures.inc();
  }

  private count(t: Transfer, status: TransferStatus, transport: string, bytes: number, files: number, seconds: number): void {
    if (!this.open.delete(t.id)) return; // already counted (a Complete racing the reaper)
    const module = t.module.name;
    this.finished.inc({ module, direction: t.direction, transport, status });
    (t.direction === "push" ? this.received : this.sent).inc({ module, transport }, bytes);
    this.files.inc({ module, direction: t.direction }, files);
    this.duration.observe({ module, direction: t.direction }, seconds);
  }
}

/** How long a scraper has to send its request, and how long a connection may sit idle (ms). */
const REQUEST_DEADLINE_MS = 5000;
const IDLE_MS = 10_000;
/** Connections at once on the metrics port (a scraper needs one or two); one more closes the oldest. */
const MAX_CONNECTIONS = 32;

export interface MetricsListener {
  host: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics on host:port (0: a free port), plain HTTP without auth. A peer that sends
 * half a request, or drips it, is closed after REQUEST_DEADLINE_MS; it holds nothing else.
 */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsListener> {
  const server = createServer({ requestTimeout: REQUEST_DEADLINE_MS, headersTimeout: REQUEST_DEADLINE_MS, keepAliveTimeout: IDLE_MS, connectionsCheckingInterval: 1000 }, (req, res) => {
    void answer(registry, req, res);
  });
  server.setTimeout(IDLE_MS, (sock: Socket) => sock.destroy());
  server.on("clientError", (_err, sock: Socket) => sock.destroy());
  // Open connections, oldest first. When full, the oldest makes room (server.maxConnections would
  // refuse the newcomer, and is not enforced under Bun): a flood can delay a scrape, never lock it out.
  const sockets = new Set<Socket>();
  server.on("connection", (sock: Socket) => {
    if (sockets.size >= MAX_CONNECTIONS) {
      const oldest = sockets.values().next().value!;
      sockets.delete(oldest);
      oldest.destroy();
    }
    sockets.add(sock);
    sock.once("close", () => sockets.delete(sock));
  });
  await listen(server, host, port);
  return {
    host,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** GET /metrics: the exposition; another path: 404; another method: 405. */
async function answer(registry: Registry, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "").split("?", 1)[0];
  if (path !== "/metrics") return reply(res, 404, "not found: blitd serves only GET /metrics here\n");
  if (req.method !== "GET" && req.method !== "HEAD") return reply(res, 405, "method not allowed: use GET /metrics\n", { Allow: "GET, HEAD" });
  try {
    const body = await registry.metrics();
    reply(res, 200, req.method === "HEAD" ? "" : body, { "Content-Type": registry.contentType });
  } catch (err) {
    reply(res, 500, `cannot collect metrics: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", ...headers });
  res.end(body);
}
