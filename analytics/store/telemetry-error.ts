// The one error class of the store. `code` says what a caller should do:
// TELEMETRY_BUSY — another process holds the file; try again later.
// TELEMETRY_UNAVAILABLE — the file or its directory cannot be used (corrupt, unwritable, ...).

export type TelemetryErrorCode = "TELEMETRY_BUSY" | "TELEMETRY_UNAVAILABLE";

export class TelemetryError extends Error {
  readonly code: TelemetryErrorCode;
  /** The store file the error is about. */
  readonly path: string;

  constructor(code: TelemetryErrorCode, path: string, message: string, cause: unknown) {
    super(message, { cause });
    this.name = "TelemetryError";
    this.code = code;
    this.path = path;
  }
}

/** True when DuckDB refused to open because another process holds the file's lock. */
export function isLockConflict(err: unknown): boolean {
  const text = causeText(err);
  return text.includes("Could not set lock on file") || text.includes("Conflicting lock is held");
}

/** A one-line description of an error, for warnings. */
export function causeText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const prefix = typeof code === "string" && !err.message.includes(code) ? `${code}: ` : "";
    return (prefix + err.message).split("\n")[0] ?? "";
  }
  return String(err);
}
