// The blit command line and its terminal views.
export { main } from "./cli.ts";
export type { Io } from "./cli.ts";
export { EXIT_OK, EXIT_PARTIAL, EXIT_DIFFERENT, EXIT_FATAL, EXIT_INTERRUPTED, exitCodeFor, exitCodeForCheck } from "./exit-codes.ts";
// `blit diagnose --ai`: blit's transfer flags as data, and the diagnose UI's pieces.
export { TRANSFER_FLAGS, transferFlag, transferFlagNames } from "./transfer-flags.ts";
export type { TransferCommand, TransferFlag } from "./transfer-flags.ts";
export { DiagnoseApp } from "./ai/diagnose-app.tsx";
export type { DiagnoseAppProps } from "./ai/diagnose-app.tsx";
export { storeSource } from "./ai/ai-source.ts";
export type { AiSource, RunDetail, StoreSourceOptions } from "./ai/ai-source.ts";
export { launchDiagnoseUi } from "./ai/launch.tsx";
export type { LaunchOptions } from "./ai/launch.tsx";
export { listMarkdown, runMarkdown } from "./ai/markdown.ts";
export { tryCommand } from "./ai/try-command.ts";
