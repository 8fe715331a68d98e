// The one read model of a recorded run: what the history table, the run list of the TUI, the
// predictor, the anomaly flags and the diagnosis all read. A run stored in DuckDB and a run still
// in memory (a report not stored yet) become a RunRecord through the same function: the report is
// first turned into the very row values the store would hold (run-row.ts, the write path), then
// read like a stored row. So the two can never disagree, and a new fact is added in one place.
import type { DuckDBConnection } from "@duckdb/node-api";
import type { Command, FastPath, Route, RunContext, RunReport, RunStatus, TimelineSample } from "../../engine/index.ts";
import type { Flag } from "../diagnose/anomalies.ts";
import { contextRowValues, runRowValues } from "./run-row.ts";

export interface RunRecord {
  id: string;
  /** Start time: ISO 8601, UTC, and the same instant in ms since the epoch. */
  startedAt: string;
  startedMs: number;
  /** End time, ISO 8601, UTC; undefined when the report had none. */
  finishedAt: string | undefined;
  command: Command;
  route: Route;
  status: RunStatus;
  exitCode: number;
  source: string;
  destination: string;
  sourceFs: string;
  destinationFs: string;
  /** The data plane of a remote run ("tcp", "grpc", "tcp+tls", ...); "" for a local run. */
  transport: string;
  /** Source workload: regular files, bytes, directories, symlinks. */
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
  strategy: string;
  /** Bytes per second; 0 = unlimited. */
  bwlimit: number;
  dryRun: boolean;
  checksum: boolean;
  /** The fast path that carried the most bytes (files, when no bytes moved); undefined if none. */
  mainFastPath: FastPath | undefined;
  /** The machine around the run (engine RunContext), when it was recorded. */
  context?: RunContext;
}

/** What scoring a run against its prediction and similar runs adds (the history report, the TUI list). */
export interface RunVerdict {
  prediction: { durationMs: number; lowMs: number; highMs: number };
  /** actual / what similar runs take (prediction × their median ratio). */
  peerRatio: number;
  score: number | null;
  flags: Flag[];
}

/** A run with its verdict: present in a history report, filled in later in the TUI's list. */
export type ScoredRun = RunRecord & Partial<RunVerdict>;

// Every column a RunRecord is read from, named as in the tables (run_context's next to runs'), so
// that runRecordFromReport can build the same row from a report. No JSON of `runs` is parsed: what
// a reader needs of it is in columns of its own (migration 6); a context's lists come back as text.
const SELECT = `
  SELECT id, epoch_ms(started_at) AS started_at, epoch_ms(finished_at) AS finished_at, command, route, status, exit_code,
         source, destination, source_fs, destination_fs, transport, files, bytes, dirs, symlinks, small_files,
         planned, planned_bytes, copied, copied_bytes, skipped, deleted, error_count,
         enumerate_ms, plan_ms, transfer_ms, delete_ms, total_ms, workers, requested_workers, strategy,
         bwlimit, dry_run, checksum, main_fast_path,
         c.run_id AS ctx_run_id, c.cpu_count, c.self_user_ms, c.self_system_ms, c.self_voluntary_ctx_switches,
         c.self_involuntary_ctx_switches, c.self_major_faults, c.self_read_bytes, c.self_write_bytes, c.load_start, c.load_end,
         c.psi_cpu_some, c.psi_io_some, c.psi_io_full, c.psi_memory_some, c.others_cpu_share, c.tracer_pid, c.tracer_name,
         c.source_cached, CAST(c.devices AS VARCHAR) AS devices, CAST(c.openers AS VARCHAR) AS openers
  FROM runs LEFT JOIN run_context c ON c.run_id = runs.id`;

/**
 * Where a store too large to load whole keeps its recent runs (a fleet store, fleet-store.ts):
 * views `runs` and `context` over the files of its latest days, holding at least `limit` runs.
 */
export interface RecentRuns {
  limit: number;
  runs: string;
  context: string;
}

/** Every recorded run, oldest first; with `recent`, only the `recent.limit` most recent runs. */
export async function loadHistory(conn: DuckDBConnection, recent?: RecentRuns): Promise<RunRecord[]> {
  if (recent === undefined) {
    const reader = await conn.runAndReadAll(`${SELECT} ORDER BY runs.started_at, runs.id`);
    return reader.getRowObjects().map(runRecordFromRow);
  }
  const latest = `(SELECT * FROM ${recent.runs} ORDER BY started_at DESC, id DESC LIMIT ${Math.max(0, Math.floor(recent.limit))}) AS runs`;
  const sql = SELECT.replace("FROM runs LEFT JOIN run_context c", `FROM ${latest} LEFT JOIN ${recent.context} c`);
  const reader = await conn.runAndReadAll(`${sql} ORDER BY runs.started_at, runs.id`);
  return reader.getRowObjects().map(runRecordFromRow);
}

/** The `limit` most recent runs, newest first. */
export async function loadRecentRuns(conn: DuckDBConnection, limit: number): Promise<RunRecord[]> {
  const reader = await conn.runAndReadAll(`${SELECT} ORDER BY runs.started_at DESC, runs.id DESC LIMIT $1`, [BigInt(limit)]);
  return reader.getRowObjects().map(runRecordFromRow);
}

/** One run by id, or undefined. */
export async function loadRunRecord(conn: DuckDBConnection, id: string): Promise<RunRecord | undefined> {
  const reader = await conn.runAndReadAll(`${SELECT} WHERE runs.id = $1`, [id]);
  const row = reader.getRowObjects()[0];
  return row ? runRecordFromRow(row) : undefined;
}

/** The record of a report in memory (a run not stored yet, or the full report of a stored one). */
export function runRecordFromReport(report: RunReport): RunRecord {
  const row: Record<string, unknown> = runRowValues(report);
  if (typeof report.context === "object" && report.context !== null) {
    Object.assign(row, contextRowValues(report.context), { ctx_run_id: report.id });
  }
  return runRecordFromRow(row);
}

function runRecordFromRow(row: Record<string, unknown>): RunRecord {
  const startedMs = n(row.started_at);
  const record: RunRecord = {
    id: String(row.id),
    startedAt: iso(startedMs) ?? "",
    startedMs,
    finishedAt: row.finished_at == null ? undefined : iso(n(row.finished_at)),
    command: s(row.command) as Command,
    route: s(row.route) as Route,
    status: s(row.status) as RunStatus,
    exitCode: n(row.exit_code),
    source: s(row.source),
    destination: s(row.destination),
    sourceFs: s(row.source_fs),
    destinationFs: s(row.destination_fs),
    transport: s(row.transport),
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
    strategy: s(row.strategy),
    bwlimit: n(row.bwlimit),
    dryRun: row.dry_run === true,
    checksum: row.checksum === true,
    mainFastPath: row.main_fast_path == null ? undefined : (s(row.main_fast_path) as FastPath),
  };
  if (row.ctx_run_id != null) record.context = contextFromRow(row);
  return record;
}

/** RunContext from its run_context columns; a NULL column is a fact that was not recorded. */
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
  // Most readers of a long history never look at a run's devices or openers: parsed on first read.
  lazy(ctx, "devices", () => parseList(row.devices) ?? []);
  if (row.psi_cpu_some != null) {
    ctx.pressure = { cpuSome: n(row.psi_cpu_some), ioSome: n(row.psi_io_some), ioFull: n(row.psi_io_full), memorySome: n(row.psi_memory_some) };
  }
  if (row.others_cpu_share != null) ctx.othersCpuShare = n(row.others_cpu_share);
  if (row.tracer_name != null) ctx.tracer = { pid: n(row.tracer_pid), name: s(row.tracer_name) };
  if (row.source_cached != null) ctx.sourceCached = n(row.source_cached);
  if (typeof row.openers === "string") lazy(ctx, "openers", () => parseList(row.openers) ?? []);
  return ctx;
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

/** Defines `key` on `target` as the value `compute` gives on first read (then a plain property). */
function lazy<T extends object>(target: T, key: keyof T & string, compute: () => unknown): void {
  const settle = (value: unknown) => Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(target, key, {
    enumerable: true,
    configurable: true,
    get() {
      const value = compute();
      settle(value);
      return value;
    },
    set(value: unknown) {
      settle(value);
    },
  });
}

function parseList(text: unknown): unknown[] | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function iso(ms: number): string | undefined {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function n(value: unknown): number {
  const v = value == null ? 0 : Number(value);
  return Number.isFinite(v) ? v : 0;
}

function s(value: unknown): string {
  return value == null ? "" : String(value);
}
