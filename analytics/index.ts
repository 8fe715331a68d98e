// The analytics folder's public API. Other folders import from here only.

export { telemetryPath, telemetryEnabled, spoolDirFor } from "./telemetry-path.ts";
export { record, startRecording } from "./record.ts";
export type { Recording, RecordOptions, TelemetryResult } from "./record.ts";
export { listRuns, getRun } from "./runs-query.ts";
export type { ListOptions, ReadOptions, RunSummary } from "./runs-query.ts";
export { formatRunsTable } from "./runs-table.ts";
export type { RunsTableOptions } from "./runs-table.ts";
export { formatBytes, formatDuration, formatRate } from "./human-units.ts";
export { withStore } from "./store.ts";
export { preloadTelemetry } from "./duckdb-module.ts";
export type { OpenOptions, OpenStore } from "./store.ts";
export type { MergeOutcome } from "./spool.ts";
export { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
export type { Migration } from "./migrations.ts";
export { TelemetryError } from "./telemetry-error.ts";
export type { TelemetryErrorCode } from "./telemetry-error.ts";
