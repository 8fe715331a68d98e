// The one error class of the traces folder. `code` says what the caller should do:
// TRACE_NOT_FOUND — the file cannot be opened; check the path.
// TRACE_EMPTY — the file has no bytes; record the trace again.
// TRACE_NOT_A_TRACE — the content is not any supported trace text; export it first or pass --format.
// TRACE_UNKNOWN — no trace with that id in the store.
// TRACE_USAGE — the caller asked for something impossible (bad format name, unknown run id).

export type TraceErrorCode = "TRACE_NOT_FOUND" | "TRACE_EMPTY" | "TRACE_NOT_A_TRACE" | "TRACE_UNKNOWN" | "TRACE_USAGE";

export class TraceError extends Error {
  readonly code: TraceErrorCode;
  /** The file (or trace id) the error is about. */
  readonly subject: string;

  constructor(code: TraceErrorCode, subject: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "TraceError";
    this.code = code;
    this.subject = subject;
  }
}
