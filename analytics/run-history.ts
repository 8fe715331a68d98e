// The run history as the predictor and the anomaly flags read it: one flat record per run, read
// from the `runs` columns (never the full report JSON), so that 10,000 runs load in milliseconds.
import type { DuckDBConnection } from "@duckdb/node-api";
import type { Route, RunContext, RunReport } from "../engine/index.ts";

export interface HistoryRun {
  id: string;
  /** Start time, ms since the epoch. */
  startedMs: number;
  command: string;
  route: Route;
  status: string;
  source: string;
  destination: string;
  sourceFs: string;
  destinationFs: string;
  /** Source workload. */
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
  /** Source files under 64 KiB (histogram buckets "<4K" and "<64K"). */
  smallFiles: number;
  /** What the plan decided to transfer (files and symlinks; bytes). */
  planned: number;
  plannedBytes: number;
  copied: number;
  copiedBytes: number;
  skipped: number;
  deleted: number;
  errorCount: number;
  enumerateMs: number;
  planMs: number;
  transferMs: number;
  deleteMs: number;
  totalMs: number;
  /** Workers the run used (plan.workers) and asked for (options.workers). */
  workers: number;
  requestedWorkers: number;
  /** Bytes per second; 0 = unlimited. */
  bwlimit: number;
  dryRun: boolean;
  checksum: boolean;
  /** The machine around the run (engine RunContext), when it was recorded. */
  context?: RunContext;
}

const SELECT = `
  SELECT id, epoch_ms(started_at) AS started_ms, command, route, status, source, destination, source_fs, destination_fs,
         files, bytes, dirs, symlinks,
         coalesce(TRY_CAST(json_extract(size_histogram, '$."<4K"') AS BIGINT), 0)
           + coalesce(TRY_CAST(json_extract(size_histogram, '$."<64K"') AS BIGINT), 0) AS small_files,
         planned, planned_bytes, copied, copied_bytes, skipped, deleted, error_count,
         enumerate_ms, plan_ms, transfer_ms, delete_ms, total_ms, workers, requested_workers,
         coalesce(TRY_CAST(json_extract(options, '$.bwlimit') AS DOUBLE), 0) AS bwlimit,
         coalesce(TRY_CAST(json_extract(options, '$.dryRun') AS BOOLEAN), false) AS dry_run,
         coalesce(TRY_CAST(json_extract(options, '$.checksum') AS BOOLEAN), false) AS checksum
  FROM runs`;

/** Every recorded run, oldest first. */
export async function loadHistory(conn: DuckDBConnection): Promise<HistoryRun[]> {
  const reader = await conn.runAndReadAll(`${SELECT} ORDER BY started_at, id`);
  return reader.getRowObjects().map(fromRow);
}

/** One run by id, or undefined. */
export async function loadHistoryRun(conn: DuckDBConnection, id: string): Promise<HistoryRun | undefined> {
  const reader = await conn.runAndReadAll(`${SELECT} WHERE id = $1`, [id]);
  const row = reader.getRowObjects()[0];
  return row ? fromRow(row) : undefined;
}

/** The same record built from a report in memory (a run not stored yet, or a dry run). */
export function historyRunFromReport(r: RunReport): HistoryRun {
  const h = r.workload?.sizeHistogram ?? {};
  return {
    id: r.id,
    startedMs: Date.parse(r.startedAt),
    command: r.command,
    route: r.route,
    status: r.status,
    source: r.source,
    destination: r.destination,
    sourceFs: r.sourceFs ?? "",
    destinationFs: r.destinationFs ?? "",
    files: r.workload.files,
    bytes: r.workload.bytes,
    dirs: r.workload.dirs,
    symlinks: r.workload.symlinks,
    smallFiles: (h["<4K"] ?? 0) + (h["<64K"] ?? 0),
    planned: r.counts.planned,
    plannedBytes: r.counts.plannedBytes,
    copied: r.counts.copied,
    copiedBytes: r.counts.copiedBytes,
    skipped: r.counts.skipped,
    deleted: r.counts.deleted,
    errorCount: r.errorCount,
    enumerateMs: r.phases.enumerateMs,
    planMs: r.phases.planMs,
    transferMs: r.phases.transferMs,
    deleteMs: r.phases.deleteMs,
    totalMs: r.phases.totalMs,
    workers: r.plan.workers,
    requestedWorkers: r.options.workers,
    bwlimit: r.options.bwlimit ?? 0,
    dryRun: r.options.dryRun,
    checksum: r.options.checksum,
    ...(r.context ? { context: r.context } : {}),
  };
}

function fromRow(row: Record<string, unknown>): HistoryRun {
  return {
    id: String(row.id),
    startedMs: n(row.started_ms),
    command: s(row.command),
    route: s(row.route) as Route,
    status: s(row.status),
    source: s(row.source),
    destination: s(row.destination),
    sourceFs: s(row.source_fs),
    destinationFs: s(row.destination_fs),
    files: n(row.files),
    bytes: n(row.bytes),
    dirs: n(row.dirs),
    symlinks: n(row.symlinks),
    smallFiles: n(row.small_files),
    planned: n(row.planned),
    plannedBytes: n(row.planned_bytes),
    copied: n(row.copied),
    copiedBytes: n(row.copied_bytes),
    skipped: n(row.skipped),
    deleted: n(row.deleted),
    errorCount: n(row.error_count),
    enumerateMs: n(row.enumerate_ms),
    planMs: n(row.plan_ms),
    transferMs: n(row.transfer_ms),
    deleteMs: n(row.delete_ms),
    totalMs: n(row.total_ms),
    workers: n(row.workers),
    requestedWorkers: n(row.requested_workers),
    bwlimit: n(row.bwlimit),
    dryRun: row.dry_run === true,
    checksum: row.checksum === true,
  };
}

function n(value: unknown): number {
  const v = value == null ? 0 : Number(value);
  return Number.isFinite(v) ? v : 0;
}

function s(value: unknown): string {
  return value == null ? "" : String(value);
}
