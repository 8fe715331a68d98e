// How one RunReport becomes rows of `runs`, `run_errors`, `run_context` and `run_timeline`.
// Values are always bound as parameters, never spliced into SQL text.
import type { DuckDBConnection, DuckDBValue } from "@duckdb/node-api";
import { duckdb } from "./duckdb-module.ts";
import type { RunContext, RunReport } from "../../engine/index.ts";

// A "time" column's value is ms since the epoch (or null), bound as a TIMESTAMP: the same number
// epoch_ms() reads back, so runRowValues needs no DuckDB module loaded.
type Column = readonly [name: string, value: (r: RunReport) => DuckDBValue, kind?: "json" | "time"];

// Order here is the order of the INSERT's parameters; names match migration 1 onward.
const COLUMNS: readonly Column[] = [
  ["id", (r) => r.id],
  ["started_at", (r) => epochMs(r.startedAt), "time"],
  ["finished_at", (r) => epochMs(r.finishedAt), "time"],
  ["host", (r) => text(r.host)],
  ["os", (r) => text(r.os)],
  ["blit_version", (r) => text(r.blitVersion)],
  ["command", (r) => text(r.command)],
  ["route", (r) => text(r.route)],
  ["source", (r) => text(r.source)],
  ["destination", (r) => text(r.destination)],
  ["source_fs", (r) => text(r.sourceFs)],
  ["destination_fs", (r) => text(r.destinationFs)],
  ["status", (r) => text(r.status)],
  ["exit_code", (r) => int(r.exitCode)],
  ["workers", (r) => int(r.plan?.workers)],
  ["requested_workers", (r) => int(r.options?.workers)],
  ["strategy", (r) => text(r.plan?.strategy)],
  ["files", (r) => big(r.workload?.files)],
  ["bytes", (r) => big(r.workload?.bytes)],
  ["dirs", (r) => big(r.workload?.dirs)],
  ["symlinks", (r) => big(r.workload?.symlinks)],
  ["planned", (r) => big(r.counts?.planned)],
  ["planned_bytes", (r) => big(r.counts?.plannedBytes)],
  ["copied", (r) => big(r.counts?.copied)],
  ["copied_bytes", (r) => big(r.counts?.copiedBytes)],
  ["skipped", (r) => big(r.counts?.skipped)],
  ["skipped_bytes", (r) => big(r.counts?.skippedBytes)],
  ["deleted", (r) => big(r.counts?.deleted)],
  ["delete_planned", (r) => big(r.counts?.deletePlanned)],
  ["dirs_created", (r) => big(r.counts?.dirsCreated)],
  ["error_count", (r) => big(r.errorCount)],
  ["enumerate_ms", (r) => num(r.phases?.enumerateMs)],
  ["plan_ms", (r) => num(r.phases?.planMs)],
  ["transfer_ms", (r) => num(r.phases?.transferMs)],
  ["delete_ms", (r) => num(r.phases?.deleteMs)],
  ["total_ms", (r) => num(r.phases?.totalMs)],
  // "tcp", "grpc"; "+tls" when the run was under TLS (transport_details.tls says the same)
  ["transport", (r) => text(r.transport && (r.transport.tls ? `${r.transport.kind}+tls` : r.transport.kind))],
  ["options", (r) => json(r.options), "json"],
  ["size_histogram", (r) => json(r.workload?.sizeHistogram), "json"],
  ["bytes_by_path", (r) => json(r.bytesByPath), "json"],
  ["files_by_path", (r) => json(r.filesByPath), "json"],
  ["fast_path_notes", (r) => json(r.fastPathNotes), "json"],
  ["plan_classes", (r) => json(r.plan?.classes), "json"],
  ["transport_details", (r) => json(r.transport), "json"],
  // Facts read for every run in a history (migration 6), kept as columns so a load parses no JSON.
  ["small_files", (r) => big((r.workload?.sizeHistogram?.["<4K"] ?? 0) + (r.workload?.sizeHistogram?.["<64K"] ?? 0))],
  ["bwlimit", (r) => num(r.options?.bwlimit ?? 0)],
  ["dry_run", (r) => r.options?.dryRun === true],
  ["checksum", (r) => r.options?.checksum === true],
  ["main_fast_path", (r) => text(mainFastPath(r))],
  ["report", (r) => JSON.stringify(r), "json"],
];

// The run is added only when its id is not there yet. Uniqueness is kept by this statement (the
// store is written by one process at a time) rather than by a PRIMARY KEY: DuckDB rewrites a
// table's whole key index at every checkpoint, and each record ends in one, which measured
// ~65 ms at 20,000 runs against ~15 ms without the index.
const INSERT_RUN_ONCE = `INSERT INTO runs (${COLUMNS.map((c) => c[0]).join(", ")}) SELECT ${COLUMNS.map((c, i) =>
  c[2] === "json" ? `CAST($${i + 1} AS JSON)` : `$${i + 1}`,
).join(", ")} WHERE NOT EXISTS (SELECT 1 FROM runs WHERE id = $1)`;

/**
 * The `runs` row of a report as the values the INSERT binds, by column name (without the full
 * report): what run-record.ts reads a report in memory through, so it is read like a stored run.
 */
export function runRowValues(report: RunReport): Record<string, DuckDBValue> {
  const row: Record<string, DuckDBValue> = {};
  for (const [name, value] of COLUMNS) if (name !== "report") row[name] = value(report);
  return row;
}

/** The fast path that carried the most bytes (files, when no bytes moved); ties go to the first name. */
function mainFastPath(r: RunReport): string | undefined {
  return largest(r.bytesByPath) ?? largest(r.filesByPath);
}

function largest(counts: unknown): string | undefined {
  if (!isObject(counts)) return undefined;
  let best: string | undefined;
  let bestValue = 0;
  for (const [key, value] of Object.entries(counts as Record<string, unknown>)) {
    if (typeof value !== "number" || !(value > 0)) continue;
    if (value > bestValue || (value === bestValue && best !== undefined && key < best)) {
      best = key;
      bestValue = value;
    }
  }
  return best;
}

/** Error rows per INSERT statement; the engine already caps how many errors a report keeps. */
const ERROR_ROWS_PER_STATEMENT = 200;

/**
 * Stores one run with its errors, context and timeline atomically. Idempotent on `report.id`: a
 * run already present is left untouched and the call returns false; true means the run was added.
 */
export async function insertRun(conn: DuckDBConnection, report: RunReport): Promise<boolean> {
  // One statement commits on its own; the explicit transaction is only paid for when rows follow.
  if (!hasDependentRows(report)) return (await conn.run(INSERT_RUN_ONCE, runParams(report))).rowsChanged > 0;
  await conn.run("BEGIN TRANSACTION");
  try {
    const added = await insertRunRows(conn, report);
    await conn.run("COMMIT");
    return added;
  } catch (err) {
    await conn.run("ROLLBACK").catch(() => {});
    throw err;
  }
}

/**
 * insertRun's statements without a transaction of their own, for a caller that holds one around
 * many runs (recordMany). The dependent rows are written only when the run row was added.
 */
export async function insertRunRows(conn: DuckDBConnection, report: RunReport): Promise<boolean> {
  const added = (await conn.run(INSERT_RUN_ONCE, runParams(report))).rowsChanged > 0;
  if (!added) return false;
  await insertErrors(conn, report);
  await insertContext(conn, report);
  await insertTimeline(conn, report);
  return true;
}

function hasDependentRows(r: RunReport): boolean {
  return (Array.isArray(r.errors) && r.errors.length > 0) || isObject(r.context) || (Array.isArray(r.timeline) && r.timeline.length > 0);
}

async function insertErrors(conn: DuckDBConnection, report: RunReport): Promise<void> {
  const errors = Array.isArray(report.errors) ? report.errors : [];
  for (let first = 0; first < errors.length; first += ERROR_ROWS_PER_STATEMENT) {
    const chunk = errors.slice(first, first + ERROR_ROWS_PER_STATEMENT);
    const params: DuckDBValue[] = [];
    const rows = chunk.map((e, i) => {
      const at = params.length;
      params.push(report.id, first + i, text(e?.path), text(e?.side), text(e?.code), text(e?.message));
      return `($${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5}, $${at + 6})`;
    });
    await conn.run(`INSERT INTO run_errors (run_id, seq, path, side, code, message) VALUES ${rows.join(", ")}`, params);
  }
}

type ContextColumn = readonly [name: string, value: (c: RunContext) => DuckDBValue, json?: "json"];

// run_context's columns (migration 5), in the INSERT's parameter order after run_id. A report
// read back from a spool file is not trusted to have the shape: every value is checked.
const CONTEXT_COLUMNS: readonly ContextColumn[] = [
  ["cpu_count", (c) => int(c.cpuCount)],
  ["self_user_ms", (c) => num(c.self?.userMs)],
  ["self_system_ms", (c) => num(c.self?.systemMs)],
  ["self_voluntary_ctx_switches", (c) => big(c.self?.voluntaryCtxSwitches)],
  ["self_involuntary_ctx_switches", (c) => big(c.self?.involuntaryCtxSwitches)],
  ["self_major_faults", (c) => big(c.self?.majorFaults)],
  ["self_read_bytes", (c) => big(c.self?.readBytes)],
  ["self_write_bytes", (c) => big(c.self?.writeBytes)],
  ["load_start", (c) => num(c.load?.start)],
  ["load_end", (c) => num(c.load?.end)],
  ["psi_cpu_some", (c) => num(c.pressure?.cpuSome)],
  ["psi_io_some", (c) => num(c.pressure?.ioSome)],
  ["psi_io_full", (c) => num(c.pressure?.ioFull)],
  ["psi_memory_some", (c) => num(c.pressure?.memorySome)],
  ["others_cpu_share", (c) => num(c.othersCpuShare)],
  ["tracer_pid", (c) => int(c.tracer?.pid)],
  ["tracer_name", (c) => text(c.tracer?.name)],
  ["source_cached", (c) => num(c.sourceCached)],
  ["devices", (c) => json(Array.isArray(c.devices) ? c.devices : []), "json"],
  ["openers", (c) => json(Array.isArray(c.openers) ? c.openers : undefined), "json"],
];

/** The `run_context` row of a context, by column name, as the INSERT binds it. */
export function contextRowValues(context: RunContext): Record<string, DuckDBValue> {
  const row: Record<string, DuckDBValue> = {};
  for (const [name, value] of CONTEXT_COLUMNS) row[name] = value(context);
  return row;
}

const INSERT_CONTEXT = `INSERT INTO run_context (run_id, ${CONTEXT_COLUMNS.map((c) => c[0]).join(", ")}) VALUES ($1, ${CONTEXT_COLUMNS.map((c, i) =>
  c[2] === "json" ? `CAST($${i + 2} AS JSON)` : `$${i + 2}`,
).join(", ")})`;

async function insertContext(conn: DuckDBConnection, report: RunReport): Promise<void> {
  const c = report.context;
  if (!isObject(c)) return;
  await conn.run(INSERT_CONTEXT, [report.id, ...CONTEXT_COLUMNS.map((col) => col[1](c))]);
}

// The whole timeline in one statement: its samples travel as one JSON parameter that DuckDB
// unnests (a 2,400-sample timeline costs ~15 ms this way, against one statement per 200 rows).
const INSERT_TIMELINE = `INSERT INTO run_timeline (run_id, t_ms, bytes, files, self_cpu_ms, others_cpu_share, cpu_some, io_some)
  SELECT $1, s.tMs, s.bytes, s.files, s.selfCpuMs, s.othersCpuShare, s.cpuSome, s.ioSome
  FROM (SELECT unnest(from_json($2, '[{"tMs":"DOUBLE","bytes":"BIGINT","files":"BIGINT","selfCpuMs":"DOUBLE","othersCpuShare":"DOUBLE","cpuSome":"DOUBLE","ioSome":"DOUBLE"}]')) AS s)`;

const SAMPLE_KEYS = ["tMs", "bytes", "files", "selfCpuMs", "othersCpuShare", "cpuSome", "ioSome"] as const;

async function insertTimeline(conn: DuckDBConnection, report: RunReport): Promise<void> {
  if (!Array.isArray(report.timeline)) return;
  // Only finite numbers reach the statement; a sample without its time is not a sample.
  const samples = report.timeline.flatMap((s) => {
    if (!isObject(s) || typeof s.tMs !== "number" || !Number.isFinite(s.tMs)) return [];
    const clean: Record<string, number> = {};
    for (const k of SAMPLE_KEYS) {
      const v = (s as unknown as Record<string, unknown>)[k];
      if (typeof v === "number" && Number.isFinite(v)) clean[k] = k === "bytes" || k === "files" ? Math.round(v) : v;
    }
    return [clean];
  });
  if (samples.length === 0) return;
  await conn.run(INSERT_TIMELINE, [report.id, JSON.stringify(samples)]);
}

function isObject<T>(value: T | undefined | null): value is T {
  return typeof value === "object" && value !== null;
}

function epochMs(iso: unknown): number | null {
  if (typeof iso !== "string") return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** The INSERT's parameters: time columns through epoch microseconds, so a UTC offset in the string is honoured (a string cast drops it). */
function runParams(report: RunReport): DuckDBValue[] {
  return COLUMNS.map(([, value, kind]) => {
    const v = value(report);
    return kind === "time" && typeof v === "number" ? duckdb().timestampValue(BigInt(v) * 1000n) : v;
  });
}

function text(value: unknown): DuckDBValue {
  return typeof value === "string" ? value : null;
}

function num(value: unknown): DuckDBValue {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function int(value: unknown): DuckDBValue {
  return typeof value === "number" && Number.isFinite(value) ? Math.round(value) : null;
}

function big(value: unknown): DuckDBValue {
  return typeof value === "number" && Number.isFinite(value) ? BigInt(Math.round(value)) : null;
}

function json(value: unknown): DuckDBValue {
  return value === undefined ? null : JSON.stringify(value);
}
