// The run history as the predictor and the anomaly flags read it: one flat record per run, read
// from the `runs` columns (never the full report JSON) and its `run_context` row, so that 10,000
// runs load in milliseconds.
import type { DuckDBConnection } from "@duckdb/node-api";
import type { Route, RunContext, RunReport, TimelineSample } from "../../engine/index.ts";

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
         coalesce(TRY_CAST(json_extract(options, '$.checksum') AS BOOLEAN), false) AS checksum,
         c.run_id AS ctx_run_id, c.cpu_count, c.self_user_ms, c.self_system_ms, c.self_voluntary_ctx_switches,
         c.self_involuntary_ctx_switches, c.self_major_faults, c.self_read_bytes, c.self_write_bytes, c.load_start, c.load_end,
         c.psi_cpu_some, c.psi_io_some, c.psi_io_full, c.psi_memory_some, c.others_cpu_share, c.tracer_pid, c.tracer_name,
         c.source_cached, CAST(c.devices AS VARCHAR) AS ctx_devices, CAST(c.openers AS VARCHAR) AS ctx_openers
  FROM runs LEFT JOIN run_context c ON c.run_id = runs.id`;

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
    ...(row.ctx_run_id == null ? {} : { context: contextFromRow(row) }),
  };
}

/** RunContext from its run_context row; a NULL column is a fact that was not recorded. */
function contextFromRow(row: Record<string, unknown>): RunContext {
  const self: RunContext["self"] = {
    userMs: n(row.self_user_ms),
    systemMs: n(row.self_system_ms),
    voluntaryCtxSwitches: n(row.self_voluntary_ctx_switches),
    involuntaryCtxSwitches: n(row.self_involuntary_ctx_switches),
    majorFaults: n(row.self_major_faults),
  };
  if (row.self_read_bytes != null) self.readBytes = n(row.self_read_bytes);
  if (row.self_write_bytes != null) self.writeBytes = n(row.self_write_bytes);
  const ctx = { cpuCount: n(row.cpu_count), self, load: { start: n(row.load_start), end: n(row.load_end) } } as RunContext;
  lazyList(ctx, "devices", row.ctx_devices, []);
  if (row.psi_cpu_some != null) {
    ctx.pressure = { cpuSome: n(row.psi_cpu_some), ioSome: n(row.psi_io_some), ioFull: n(row.psi_io_full), memorySome: n(row.psi_memory_some) };
  }
  if (row.others_cpu_share != null) ctx.othersCpuShare = n(row.others_cpu_share);
  if (row.tracer_name != null) ctx.tracer = { pid: n(row.tracer_pid), name: s(row.tracer_name) };
  if (row.source_cached != null) ctx.sourceCached = n(row.source_cached);
  if (typeof row.ctx_openers === "string") lazyList(ctx, "openers", row.ctx_openers, []);
  return ctx;
}

/**
 * Sets `key` to the JSON list in `text`, parsed on first read: most readers of a long history
 * never look at a run's devices, and parsing them for 10,000 runs would be most of a load.
 */
function lazyList(target: object, key: string, text: unknown, fallback: unknown[]): void {
  if (typeof text !== "string") {
    Object.defineProperty(target, key, { value: fallback, enumerable: true, writable: true, configurable: true });
    return;
  }
  Object.defineProperty(target, key, {
    enumerable: true,
    configurable: true,
    get() {
      const value = parseList(text) ?? fallback;
      Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
      return value;
    },
    set(value: unknown) {
      Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
    },
  });
}

function parseList(text: string): unknown[] | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function n(value: unknown): number {
  const v = value == null ? 0 : Number(value);
  return Number.isFinite(v) ? v : 0;
}

function s(value: unknown): string {
  return value == null ? "" : String(value);
}

/** A run's timeline, oldest sample first; empty when the run has none (too short, or recorded before timelines). */
export async function runTimeline(conn: DuckDBConnection, runId: string): Promise<TimelineSample[]> {
  const reader = await conn.runAndReadAll(
    "SELECT t_ms, bytes, files, self_cpu_ms, others_cpu_share, cpu_some, io_some FROM run_timeline WHERE run_id = $1 ORDER BY t_ms",
    [runId],
  );
  return reader.getRowObjects().map((row) => {
    const sample: TimelineSample = { tMs: n(row.t_ms), bytes: n(row.bytes), files: n(row.files) };
    if (row.self_cpu_ms != null) sample.selfCpuMs = n(row.self_cpu_ms);
    if (row.others_cpu_share != null) sample.othersCpuShare = n(row.others_cpu_share);
    if (row.cpu_some != null) sample.cpuSome = n(row.cpu_some);
    if (row.io_some != null) sample.ioSome = n(row.io_some);
    return sample;
  });
}
