// How one RunReport becomes rows of `runs` and `run_errors`. Values are always bound as
// parameters, never spliced into SQL text.
import type { DuckDBConnection, DuckDBValue } from "@duckdb/node-api";
import { duckdb } from "./duckdb-module.ts";
import type { RunReport } from "../engine/index.ts";

type Column = readonly [name: string, value: (r: RunReport) => DuckDBValue, json?: "json"];

// Order here is the order of the INSERT's parameters; names match migration 1 onward.
const COLUMNS: readonly Column[] = [
  ["id", (r) => r.id],
  ["started_at", (r) => time(r.startedAt)],
  ["finished_at", (r) => time(r.finishedAt)],
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
  ["report", (r) => JSON.stringify(r), "json"],
];

// The run is added only when its id is not there yet. Uniqueness is kept by this statement (the
// store is written by one process at a time) rather than by a PRIMARY KEY: DuckDB rewrites a
// table's whole key index at every checkpoint, and each record ends in one, which measured
// ~65 ms at 20,000 runs against ~15 ms without the index.
const INSERT_RUN_ONCE = `INSERT INTO runs (${COLUMNS.map((c) => c[0]).join(", ")}) SELECT ${COLUMNS.map((c, i) =>
  c[2] === "json" ? `CAST($${i + 1} AS JSON)` : `$${i + 1}`,
).join(", ")} WHERE NOT EXISTS (SELECT 1 FROM runs WHERE id = $1)`;

/** Error rows per INSERT statement; the engine already caps how many errors a report keeps. */
const ERROR_ROWS_PER_STATEMENT = 200;

/**
 * Stores one run and its errors atomically. Idempotent on `report.id`: a run already present is
 * left untouched and the call returns false; true means the run was added.
 */
export async function insertRun(conn: DuckDBConnection, report: RunReport): Promise<boolean> {
  const values = COLUMNS.map((c) => c[1](report));
  const errors = Array.isArray(report.errors) ? report.errors : [];
  // One statement commits on its own; the explicit transaction is only paid for when errors follow.
  if (errors.length === 0) {
    return (await conn.run(INSERT_RUN_ONCE, values)).rowsChanged > 0;
  }
  await conn.run("BEGIN TRANSACTION");
  try {
    const added = (await conn.run(INSERT_RUN_ONCE, values)).rowsChanged > 0;
    if (added) {
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
    await conn.run("COMMIT");
    return added;
  } catch (err) {
    await conn.run("ROLLBACK").catch(() => {});
    throw err;
  }
}

function time(iso: unknown): DuckDBValue {
  if (typeof iso !== "string") return null;
  const ms = Date.parse(iso);
  // Through epoch microseconds, so a UTC offset in the string is honoured (a string cast drops it).
  return Number.isNaN(ms) ? null : duckdb().timestampValue(BigInt(ms) * 1000n);
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
