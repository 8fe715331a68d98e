// The blit command line and its terminal views.
export { main } from "./cli.ts";
export type { Io } from "./cli.ts";
export { EXIT_OK, EXIT_PARTIAL, EXIT_FATAL, EXIT_INTERRUPTED, exitCodeFor } from "./exit-codes.ts";
