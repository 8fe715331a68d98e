// Admission on the gRPC port. blitd accepts each TCP connection itself and hands it to grpc-js,
// so it decides who may hold one. A new connection is a stranger until a call on it passes the
// token check; strangers have their own small quota (max_unauthenticated) and a short handshake
// deadline (handshake_timeout), so they can never hold the max_connections slots that belong to
// authenticated clients, and a half-open stream does not keep a stranger's connection alive.
import type { Socket as NetSocket } from "node:net";
import type { ServerInterceptor, ServerInterceptingCallInterface, StatusObject } from "@grpc/grpc-js";
import { grpc } from "../proto/index.ts";
import { authRejected, DaemonError, toStatus } from "./errors.ts";
import { NO_METRICS, type DaemonMetrics } from "./metrics.ts";

export interface AdmissionLimits {
  /** Authenticated connections at once. */
  maxConnections: number;
  /** Connections that have not authenticated yet, at once. */
  maxUnauthenticated: number;
  /** How long a connection may stay unauthenticated before it is closed. */
  handshakeTimeoutMs: number;
  /** An auth token is configured: only a call carrying it authenticates its connection. */
  tokenRequired: boolean;
}

interface Connection {
  readonly sock: NetSocket;
  readonly key: string;
  timer?: ReturnType<typeof setTimeout>;
}

/** The gRPC data-fallback method: without a token it carries no credential (see interceptor). */
const DATA_METHOD = "/blit.v1.Blit/Data";
const LOG_EVERY_MS = 10_000;

/**
 * The key of a connection as grpc-js names its peer (`call.getPeer()`): "address:port".
 * IPv6 addresses are not bracketed there, so they are not here either.
 */
export function peerKey(address: string | undefined, port: number | undefined): string | undefined {
  if (!address || !port) return undefined;
  return `${address}:${port}`;
}

/**
 * Logs one line per kind of event at most every 10 s, with how many more there were, so a peer
 * opening thousands of connections cannot flood the log.
 */
export function throttledLog(log: (msg: string) => void, everyMs = LOG_EVERY_MS): (kind: string, msg: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (kind, msg) => {
    const now = Date.now();
    const seen = last.get(kind);
    if (seen && now - seen.at < everyMs) {
      seen.suppressed++;
      return;
    }
    const more = seen?.suppressed ? ` (and ${seen.suppressed} more like it in the last ${Math.round((now - seen.at) / 1000)} s)` : "";
    last.set(kind, { at: now, suppressed: 0 });
    log(msg + more);
  };
}

export class Admission {
  /** Unauthenticated connections by peer key, oldest first (a Map keeps insertion order). */
  private readonly strangers = new Map<string, Connection>();
  private readonly clients = new Map<string, Connection>();
  private readonly note: (kind: string, msg: string) => void;

  constructor(
    private readonly limits: AdmissionLimits,
    log: (msg: string) => void,
    /** Hands an accepted connection to grpc-js. */
    private readonly inject: (sock: NetSocket) => void,
    /** Told of every refusal and auth failure (daemon/metrics.ts). */
    private readonly metrics: Pick<DaemonMetrics, "connectionRefused" | "authFailed"> = NO_METRICS,
  ) {
    this.note = throttledLog(log);
  }

  /** Authenticated connections open now. */
  get authenticated(): number {
    return this.clients.size;
  }

  /** Unauthenticated connections open now. */
  get unauthenticated(): number {
    return this.strangers.size;
  }

  /**
   * A new TCP connection: a stranger until a call on it authenticates. When the strangers'
   * quota is full the oldest stranger makes room, so strangers that sit still cannot keep a
   * client's new connection out (a flood can only race it, never lock it out).
   */
  accept(sock: NetSocket): void {
    sock.on("error", () => {}); // a reset connection ends that connection only
    const key = peerKey(sock.remoteAddress, sock.remotePort);
    if (!key) {
      sock.destroy();
      return;
    }
    if (this.strangers.size >= this.limits.maxUnauthenticated) this.evictOldestStranger();
    const conn: Connection = { sock, key };
    conn.timer = setTimeout(() => this.handshakeExpired(conn), this.limits.handshakeTimeoutMs);
    conn.timer.unref?.();
    this.strangers.set(key, conn);
    sock.once("close", () => this.forget(conn));
    this.inject(sock);
  }

  /**
   * A call on the connection named `peer` passed the token check. True: the connection is
   * authenticated (now or before). False: max_connections authenticated connections are open.
   */
  authenticate(peer: string): boolean {
    if (this.clients.has(peer)) return true;
    const conn = this.strangers.get(peer);
    if (!conn) {
      // Closing already; or grpc-js named the peer otherwise than the socket did, which would
      // leave that connection to its handshake deadline: say so rather than fail in silence.
      this.note("unmatched", `warning: a call from ${peer} matches no open connection (it may have just closed)`);
      return true;
    }
    if (this.clients.size >= this.limits.maxConnections) return false;
    clearTimeout(conn.timer);
    this.strangers.delete(peer);
    this.clients.set(peer, conn);
    return true;
  }

  /**
   * The gRPC interceptor that admits each call when its metadata arrives, before any message is
   * read: a call without the right token is answered "auth token rejected" (its body is never
   * taken in), one that has it authenticates its connection, or is answered "at its limit"
   * when max_connections authenticated connections are open. Without a token configured every
   * call authenticates its connection except a Data stream, which carries no credential before
   * its HELLO (the client always opens it on the connection it negotiated on).
   */
  interceptor(authorize: (md: grpc.Metadata) => void): ServerInterceptor {
    return (method, call) =>
      new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMetadata: (md, pass) => {
              const refusal = this.admitCall(call, md, method.path, authorize);
              if (refusal) call.sendStatus(refusal);
              else pass(md);
            },
          }),
      });
  }

  private admitCall(call: ServerInterceptingCallInterface, md: grpc.Metadata, path: string, authorize: (md: grpc.Metadata) => void): StatusObject | undefined {
    try {
      authorize(md);
    } catch {
      this.metrics.authFailed();
      return statusOf(authRejected());
    }
    if (!this.limits.tokenRequired && path === DATA_METHOD) return undefined;
    const peer = call.getPeer();
    if (this.authenticate(peer)) return undefined;
    this.metrics.connectionRefused("max_connections");
    this.note("busy", `refused a call from ${peer}: ${this.clients.size} authenticated client connections open (max_connections)`);
    return statusOf(new DaemonError("BUSY", `blitd is at its limit of ${this.limits.maxConnections} client connections (max_connections); try again later`));
  }

  /** Closes every connection (the daemon is stopping). */
  close(): void {
    for (const c of [...this.strangers.values(), ...this.clients.values()]) {
      clearTimeout(c.timer);
      c.sock.destroy();
    }
    this.strangers.clear();
    this.clients.clear();
  }

  private evictOldestStranger(): void {
    const oldest = this.strangers.values().next().value;
    if (!oldest) return;
    this.metrics.connectionRefused("max_unauthenticated");
    this.note("evicted", `closed an unauthenticated connection from ${oldest.key}: ${this.strangers.size} unauthenticated connections open (max_unauthenticated)`);
    this.drop(oldest);
  }

  private handshakeExpired(conn: Connection): void {
    if (this.strangers.get(conn.key) !== conn) return;
    this.metrics.connectionRefused("handshake_timeout");
    this.note("handshake", `closed a connection from ${conn.key}: no authenticated call within ${this.limits.handshakeTimeoutMs / 1000} s (handshake_timeout)`);
    this.drop(conn);
  }

  private drop(conn: Connection): void {
    this.forget(conn);
    conn.sock.destroy();
  }

  private forget(conn: Connection): void {
    clearTimeout(conn.timer);
    if (this.strangers.get(conn.key) === conn) this.strangers.delete(conn.key);
    if (this.clients.get(conn.key) === conn) this.clients.delete(conn.key);
  }
}

function statusOf(err: DaemonError): StatusObject {
  const s = toStatus(err);
  return { code: s.code, details: s.details, metadata: new grpc.Metadata() };
}
