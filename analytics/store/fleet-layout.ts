// The layout of an exported fleet: which tables travel, where their rows go and what their files
// are called. Every file is plain Parquet under hive partitions, so Spark, Trino, ClickHouse or
// DuckDB read the same folder (docs/analytics.md documents the schema):
//
//   DIR/host=<host>/day=<YYYY-MM-DD>/<table>-v<schema version>-<uuid>.parquet
//
// `host` is the host name recorded with the run (BLIT_HOST, else the machine's), `day` the UTC day
// it started. The partition columns live in the path only, as hive layouts do. A run's context,
// timeline and errors go to its partition; a trace and its summaries go to the exporting host's
// partition of the day it was ingested. Folders and files whose names start with "." or "_" are
// not part of the data (an export stages its files there; Spark and Hive skip them too).
// The schema version in a file's name (migrations.ts) lets a reader read all files of one version
// with one schema, without opening each file to learn its columns.
import { relative } from "node:path";

/** Tables of a run, keyed by run_id, that travel with it. */
export const RUN_TABLES = ["run_context", "run_timeline", "run_errors"] as const;

/** Every exported table, in the order an import inserts them. */
export const EXPORTED_TABLES = ["runs", ...RUN_TABLES, "traces", "trace_summaries"] as const;
export type ExportedTable = (typeof EXPORTED_TABLES)[number];

const FILE_NAME = new RegExp(`^(${EXPORTED_TABLES.join("|")})-(?:v(\\d+)-)?[^/]*\\.parquet$`);

/** The FILENAME_PATTERN of an export's files of `table` (DuckDB's COPY fills in {uuid}). */
export function filePattern(table: ExportedTable, schemaVersion: number): string {
  return `${table}-v${schemaVersion}-{uuid}`;
}

/**
 * The table a file of the layout belongs to and the schema version it was written with (0 when
 * its name does not say: read it by column names), from its name; undefined for any other file.
 */
export function tableOfFile(name: string): { table: ExportedTable; version: number } | undefined {
  const m = FILE_NAME.exec(name);
  return m ? { table: m[1] as ExportedTable, version: Number(m[2] ?? 0) } : undefined;
}

/** The day partition of a file's path (YYYY-MM-DD), or undefined when it has none. */
export function dayOfFile(path: string): string | undefined {
  return /\/day=(\d{4}-\d\d-\d\d)\//.exec(path)?.[1];
}

/** False when a folder or file between `root` and `file` is hidden ("." or "_" first). */
export function visibleBelow(root: string, file: string): boolean {
  return !relative(root, file).split("/").some((part) => part.startsWith(".") || part.startsWith("_"));
}
