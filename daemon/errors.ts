// Errors the daemon returns, classified once; the one place where they become gRPC statuses.
import { grpc } from "../proto/index.ts";

export type DaemonErrorCode =
  | "MODULE_NOT_FOUND" | "READ_ONLY" | "AUTH" | "BAD_PATH" | "BAD_REQUEST" | "NOT_FOUND" | "BUSY" | "INTERNAL";

export class DaemonError extends Error {
  constructor(readonly code: DaemonErrorCode, message: string) {
    super(message);
    this.name = "DaemonError";
  }
}

const STATUS: Record<DaemonErrorCode, grpc.status> = {
  MODULE_NOT_FOUND: grpc.status.NOT_FOUND,
  NOT_FOUND: grpc.status.NOT_FOUND,
  READ_ONLY: grpc.status.PERMISSION_DENIED,
  AUTH: grpc.status.UNAUTHENTICATED,
  BAD_PATH: grpc.status.INVALID_ARGUMENT,
  BAD_REQUEST: grpc.status.INVALID_ARGUMENT,
  BUSY: grpc.status.RESOURCE_EXHAUSTED,
  INTERNAL: grpc.status.INTERNAL,
};

/** A gRPC error object for any thrown value; unknown errors become INTERNAL with their message. */
export function toStatus(err: unknown): grpc.ServiceError {
  if (err instanceof DaemonError) {
    return Object.assign(new Error(err.message), { code: STATUS[err.code], details: err.message, metadata: new grpc.Metadata() }) as grpc.ServiceError;
  }
  const code = (err as { code?: unknown }).code;
  // An error nobody classified: its first line only, control characters escaped, never a stack.
  const full = err instanceof Error ? err.message : String(err);
  const line = full.split("\n", 1)[0]!.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  const msg = line.length > 300 ? `${line.slice(0, 300)}…` : line;
  const status = code === "BAD_PATH" ? grpc.status.INVALID_ARGUMENT : code === "TOO_LARGE" ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.INTERNAL;
  return Object.assign(new Error(msg), { code: status, details: msg, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

export const moduleNotFound = (name: string) => new DaemonError("MODULE_NOT_FOUND", `module '${name}' not found`);
export const readOnly = (name: string) => new DaemonError("READ_ONLY", `module '${name}' is read-only`);
export const authRejected = () => new DaemonError("AUTH", "auth token rejected");
