// What every RPC handler of blitd shares: the config, the registry of open transfers, the
// logger, the telemetry recorder and the auth check; and the one wrapper that turns a handler's
// result or error into a gRPC reply.
import type { FsWorkers, RunError, RunReport } from "../../engine/index.ts";
import { describeCode, displayName, openRooted, type FsError, type RootedDir } from "../../ffi/index.ts";
import { checkPath, ManifestLimitError, PathError, printable, type grpc } from "../../proto/index.ts";
import type { DaemonConfig, ModuleConfig } from "../config.ts";
import { DaemonError, moduleNotFound, toStatus } from "../errors.ts";
import type { DaemonMetrics } from "../metrics.ts";
import { TargetError, type Transfer, type TransferEnv } from "../transfers.ts";

export interface DaemonLogger {
  (msg: string): void;
}

export interface RpcContext {
  config: DaemonConfig;
  /** Transfers between Negotiate and Complete, by id. */
  transfers: Map<string, Transfer>;
  /** The same transfers by data token (hex), until the token is used or expires. */
  byToken: Map<string, Transfer>;
  /** What a new Transfer needs from the daemon. */
  transferEnv: TransferEnv;
  log: DaemonLogger;
  /** Records a finished transfer in the daemon's telemetry store (when on). */
  recordRun(r: RunReport): void;
  /** Counts transfers for the Prometheus listener (metrics_bind); NO_METRICS when off. */
  metrics: DaemonMetrics;
  /**
   * Negotiates under way (awaiting their worker threads): they count toward max_connections
   * with the registered transfers, so concurrent Negotiates cannot overshoot the limit.
   */
  negotiating: { count: number };
  /** Worker threads for the long synchronous steps (walks, manifests, plans, hashes). */
  workers: FsWorkers;
  /** Throws DaemonError AUTH unless the call carries the daemon's token (when it has one). */
  authorize(md: grpc.Metadata): void;
}

/** The module `name` names, or MODULE_NOT_FOUND. */
export function findModule(ctx: RpcContext, name: unknown): ModuleConfig {
  const n = typeof name === "string" ? name : "";
  const m = ctx.config.modules.get(n);
  if (!m) throw moduleNotFound(printable(n));
  return m;
}

/**
 * A path from a request's string field, checked like a manifest path. Protobuf strings are
 * UTF-8: bytes that are not arrive as U+FFFD, which would silently name another entry, so a path
 * holding one is refused in words (manifest names travel as bytes and have no such limit).
 */
export function requestPath(raw: unknown, what: string): string {
  const path = checkPath(String(raw ?? ""), what, true);
  if (path.includes("\uFFFD")) {
    throw new DaemonError("BAD_REQUEST", `${what} '${printable(path)}' is not valid UTF-8 (bytes that are not UTF-8 arrived as U+FFFD); name it in UTF-8`);
  }
  return path;
}

/** The module's root directory, opened; a module whose directory is gone is said so, without its path. */
export function openModule(mod: ModuleConfig): RootedDir {
  try {
    return openRooted(mod.path);
  } catch (err) {
    const code = (err as FsError).code ?? "EIO";
    throw new DaemonError("INTERNAL", `module '${mod.name}' is not available on the daemon (${describeCode(code)}); tell its operator`);
  }
}

/** Marks a request whose bytes were not a valid protobuf message (see lenientRequests). */
const MALFORMED = Symbol("malformed request");

/**
 * The service definition with unary requests decoded leniently: bytes that are not a valid
 * message become a marked request that unary() answers BAD_REQUEST in words (grpc-js itself
 * would answer INTERNAL "Error deserializing request").
 */
export function lenientRequests(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    if (m.requestStream || m.responseStream) {
      out[name] = m;
      continue;
    }
    out[name] = {
      ...m,
      requestDeserialize: (b: Buffer) => {
        try {
          return m.requestDeserialize(b);
        } catch (err) {
          return { [MALFORMED]: err instanceof Error ? err.message.split("\n", 1)[0] : String(err) };
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

/** A unary handler: authorize, run, map any error to a status in one place. */
export function unary<Req, Res>(ctx: RpcContext, fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res) {
  return (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
    (async () => {
      ctx.authorize(call.metadata);
      const bad = (call.request as { [MALFORMED]?: string } | null)?.[MALFORMED];
      if (bad !== undefined) throw new DaemonError("BAD_REQUEST", `request is not a valid protobuf message (${printable(bad)})`);
      return fn(call.request, call);
    })().then((res) => cb(null, res), (err) => {
      if (!(err instanceof DaemonError) && !(err instanceof PathError) && !(err instanceof ManifestLimitError) && !(err instanceof TargetError)) ctx.log(`error: ${(err as Error)?.stack ?? err}`);
      cb(err instanceof TargetError ? toStatus(new DaemonError(err.code, err.message)) : toStatus(err), null);
    });
  };
}

/**
 * Errors as RemoteError messages: proto strings must be valid UTF-8, so paths and messages
 * travel in their display form (undecodable bytes as `\xff`); they are for people, not for use.
 */
export function wireErrors(errors: readonly RunError[]): { path: string; code: string; message: string }[] {
  return errors.map((e) => ({ path: displayName(e.path), code: e.code, message: displayName(e.message) }));
}

/**
 * A negotiated transfer: a dry run ends here; otherwise it is registered and its data plane
 * (listener + one-time token) opened, and the reply tells the client where to connect.
 */
export function registerTransfer<R extends { data_port: number; token: Uint8Array }>(ctx: RpcContext, t: Transfer, reply: R, dryRun: boolean): R {
  if (dryRun) {
    t.release();
    return reply;
  }
  ctx.transfers.set(t.id, t);
  ctx.byToken.set(t.tokenHex, t);
  ctx.metrics.transferStarted(t);
  reply.data_port = t.openDataPlane();
  reply.token = t.token;
  return reply;
}
