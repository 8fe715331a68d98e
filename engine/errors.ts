// Errors the engine raises, classified by what the caller should do. The CLI maps them to exit
// codes in one place (tui/exit-codes.ts).

/** Bad input found before anything was written: missing source, destination inside source... */
export class UsageError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "UsageError";
    this.code = code;
  }
}

/** A condition that stops the whole run (no space left, read-only destination). */
export class FatalError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FatalError";
    this.code = code;
  }
}

/** Codes after which continuing with other files cannot succeed. */
export const FATAL_CODES = new Set(["ENOSPC", "EDQUOT", "EROFS"]);

/**
 * Codes that are about where a file is written, whatever path the failing call named (a
 * sendfile or copy_file_range that runs out of space names its source): the destination's.
 */
export const DESTINATION_CODES = new Set(["ENOSPC", "EDQUOT", "EROFS", "EFBIG"]);

/** What to do about a destination-only code, after its description. */
export function destinationRemedy(code: string): string {
  if (code === "ENOSPC" || code === "EDQUOT") return "free space on the destination, or choose another";
  if (code === "EROFS") return "the destination is mounted read-only; choose another";
  return "the destination's filesystem cannot hold a file this large; choose another";
}
