// Exit codes of blit's commands (documented in README and `blit --help`). A run's code comes
// from the engine's one rule, exitCodeFor, which blitd's record of a transfer shares.
import { EXIT_CODES, exitCodeFor } from "../engine/index.ts";

export { exitCodeFor };
export const EXIT_OK = EXIT_CODES.ok;
/** Some files failed (each is named on stderr); the rest was done. */
export const EXIT_PARTIAL = EXIT_CODES.partial;
/** blit check: the trees differ (each difference is listed). */
export const EXIT_DIFFERENT = 1;
/** Bad usage or a fatal error (missing source, no space left...). */
export const EXIT_FATAL = EXIT_CODES.failed;
/** Interrupted by Ctrl-C or SIGTERM; the run is recorded as interrupted. */
export const EXIT_INTERRUPTED = EXIT_CODES.interrupted;

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
