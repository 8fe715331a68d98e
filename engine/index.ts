// The copy engine's public API: run a local copy or mirror and get its RunReport.
export { run, resolvePaths, refusedReport } from "./run.ts";
export type { Action, Phase, Progress, RunHooks, RunResult } from "./run.ts";
export { normalizeOptions, parseRate } from "./options.ts";
export type { Job } from "./options.ts";
export { UsageError, FatalError } from "./errors.ts";
export { VERSION } from "./version.ts";
export type {
  Command, Counts, FastPath, PhaseTimes, Route, RunError, RunOptions, RunReport, RunStatus,
  SizeClassPlan, Workload,
} from "./report.ts";
