// The one place where outcomes become exit codes (documented in README and `blit --help`).
export const EXIT_OK = 0;
/** Some files failed (each is named on stderr); the rest was done. */
export const EXIT_PARTIAL = 1;
/** blit check: the trees differ (each difference is listed). */
export const EXIT_DIFFERENT = 1;
/** Bad usage or a fatal error (missing source, no space left...). */
export const EXIT_FATAL = 2;
/** Interrupted by Ctrl-C or SIGTERM; the run is recorded as interrupted. */
export const EXIT_INTERRUPTED = 130;

export function exitCodeFor(status: "ok" | "partial" | "failed" | "interrupted"): number {
  switch (status) {
    case "ok":
      return EXIT_OK;
    case "partial":
      return EXIT_PARTIAL;
    case "interrupted":
      return EXIT_INTERRUPTED;
    case "failed":
      return EXIT_FATAL;
  }
}

/** blit check: 0 equal, 1 different, 2 when something could not be compared (errors win). */
export function exitCodeForCheck(status: "equal" | "different" | "error"): number {
  switch (status) {
    case "equal":
      return EXIT_OK;
    case "different":
      return EXIT_DIFFERENT;
    case "error":
      return EXIT_FATAL;
  }
}
