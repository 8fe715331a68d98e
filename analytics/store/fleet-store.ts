// A fleet's telemetry read in place: the Parquet files `blit telemetry export` writes (one folder
// per host and day, see fleet-layout.ts), opened as a store that every reader uses like the local
// file. An in-memory DuckDB gets the schema of a current store (the migrations), and each exported
// table is replaced by a view over its Parquet files; nothing is copied. The tables that are not
// exported (predictor fits, tuned settings, AI answers) stay real in-memory tables, so a reader
// that caches a fit writes it there and it is gone at close. Inserting a run into a view fails:
// a fleet store is read-only.
//
// A fleet is many small files (hosts × days × tables), and opening a file costs more than reading
// its few hundred rows, so: files are listed by walking the folder, not opened to learn their
// columns (the schema version is in each name), and a reader that needs only recent runs names the
// start of its window, so the files of earlier days are left out of the views altogether.
import { readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, join, resolve } from "node:path";
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { preloadTelemetry } from "./duckdb-module.ts";
import { dayOfFile, tableOfFile, visibleBelow, type ExportedTable } from "./fleet-layout.ts";
import { migrate } from "./migrations.ts";
import { sqlIdent, sqlString } from "./sql-text.ts";
import type { RecentRuns } from "./run-record.ts";
import { causeText, TelemetryError } from "./telemetry-error.ts";

/**
 * Readers that load a whole history into memory (the predictor, the flags, the run list) load at
 * most this many runs of a fleet store: the most recent ones. The fleet view and every count read
 * all runs in SQL. A file store has no limit (a host's own history stays small).
 */
export const FLEET_HISTORY_LIMIT = 2_000;

/** DuckDB's memory for a fleet read: its scans spill beyond this instead of growing. */
const FLEET_MEMORY_LIMIT = "192MB";

/** True when `spec` names Parquet files (a glob, a .parquet file or a directory), not a store file. */
export function isFleetSpec(spec: string): boolean {
  if (namesFiles(spec)) return true;
  try {
    return statSync(spec).isDirectory();
  } catch {
    return false;
  }
}

/** A glob or a .parquet file: Parquet files by name, whatever is on disk. */
function namesFiles(spec: string): boolean {
  return /[*?[]/.test(spec) || spec.endsWith(".parquet");
}

/** The glob a fleet spec stands for: a directory means every Parquet file below it. */
export function fleetGlob(spec: string): string {
  if (namesFiles(spec)) return spec;
  return `${spec.replace(/\/+$/, "")}/**/*.parquet`;
}

export interface FleetFiles {
  /** Parquet files per exported table, grouped by the schema version in their names. */
  byTable: Map<ExportedTable, Map<number, string[]>>;
  /** Every file matched, of any table. */
  total: number;
}

export interface FleetOpenOptions {
  /** Only runs from this instant on are needed: files of earlier days are not read. */
  sinceMs?: number;
}

/** Opens the fleet at `spec` as an in-memory store. Throws TelemetryError when nothing matches. */
export async function openFleet(
  spec: string,
  options: FleetOpenOptions = {},
): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection; files: FleetFiles; recent: RecentRuns }> {
  const { DuckDBInstance } = await preloadTelemetry();
  const instance = await DuckDBInstance.create(":memory:", {
    memory_limit: FLEET_MEMORY_LIMIT,
    threads: String(availableParallelism()),
  });
  let conn: DuckDBConnection | undefined;
  try {
    conn = await instance.connect();
    const files = await fleetFiles(conn, spec, { sinceMs: options.sinceMs });
    await migrate(conn);
    // DuckDB's Parquet metadata cache stays off (its default): with thousands of small files it
    // cost more memory than the footers it saves reading (bench:fleet: 420 against 500 MiB).
    const columns = new Map<ExportedTable, { name: string; type: string }[]>();
    for (const [table, groups] of files.byTable) {
      columns.set(table, await columnsOf(conn, table));
      await conn.run(`DROP TABLE ${sqlIdent(table)}`);
      // A run's other tables keep their partition's host, so a reader of a few hosts opens only their folders.
      await viewOver(conn, columns.get(table)!, groups, table, false, table === "runs" ? [] : ["host"]);
    }
    return { instance, conn, files, recent: await recentViews(conn, files, columns) };
  } catch (err) {
    conn?.closeSync();
    instance.closeSync();
    if (err instanceof TelemetryError) throw err;
    throw new TelemetryError("TELEMETRY_UNAVAILABLE", spec, `fleet telemetry ${spec} cannot be read: ${causeText(err)}`, err);
  }
}

/**
 * Views `recent_runs` and `recent_run_context` over the files of the fleet's latest days that hold
 * FLEET_HISTORY_LIMIT runs or more (row counts come from the files' footers), so that loading the
 * most recent runs opens a day or two of files instead of every file of the window.
 */
async function recentViews(
  conn: DuckDBConnection, files: FleetFiles, columns: ReadonlyMap<ExportedTable, { name: string; type: string }[]>,
): Promise<RecentRuns> {
  const byDay = new Map<string, string[]>();
  for (const file of [...(files.byTable.get("runs")?.values() ?? [])].flat()) {
    const day = dayOfFile(file) ?? "9999-99-99"; // a file outside the layout's days: always read
    byDay.set(day, [...(byDay.get(day) ?? []), file]);
  }
  const days: string[] = [];
  let runs = 0;
  for (const day of [...byDay.keys()].sort().reverse()) {
    days.push(day);
    runs += Number((await conn.runAndReadAll(`SELECT count(*) AS n FROM read_parquet([${byDay.get(day)!.map(sqlString).join(", ")}])`)).getRowObjects()[0]?.n ?? 0);
    if (runs >= FLEET_HISTORY_LIMIT) break;
  }
  const recentDays = new Set(days);
  for (const [table, view] of [["runs", "recent_runs"], ["run_context", "recent_run_context"]] as const) {
    const groups = new Map<number, string[]>();
    for (const [version, list] of files.byTable.get(table) ?? []) {
      const kept = list.filter((f) => recentDays.has(dayOfFile(f) ?? "9999-99-99"));
      if (kept.length > 0) groups.set(version, kept);
    }
    if (groups.size > 0) await viewOver(conn, columns.get(table)!, groups, view);
    else await conn.run(`CREATE TABLE ${view} AS SELECT * FROM ${table} WHERE false`);
  }
  return { limit: FLEET_HISTORY_LIMIT, runs: "recent_runs", context: "recent_run_context" };
}

/**
 * The files of the layout that `spec` matches, by table and schema version. Throws TelemetryError
 * when no runs match (unless `requireRuns` is false: an export's first time into an empty folder).
 * With `sinceMs`, files in day partitions before that instant's UTC day are left out.
 */
export async function fleetFiles(
  conn: DuckDBConnection,
  spec: string,
  options: { requireRuns?: boolean; sinceMs?: number } = {},
): Promise<FleetFiles> {
  const glob = fleetGlob(spec);
  const root = globRoot(glob);
  const firstDay = options.sinceMs === undefined ? undefined : new Date(options.sinceMs).toISOString().slice(0, 10);
  const byTable = new Map<ExportedTable, Map<number, string[]>>();
  let total = 0;
  for (const file of await matching(conn, glob, root)) {
    const kind = tableOfFile(basename(file));
    if (!kind || !visibleBelow(root, file)) continue;
    const day = dayOfFile(file);
    if (firstDay !== undefined && day !== undefined && day < firstDay) continue;
    total++;
    const groups = byTable.get(kind.table) ?? new Map<number, string[]>();
    groups.set(kind.version, [...(groups.get(kind.version) ?? []), file]);
    byTable.set(kind.table, groups);
  }
  if ((options.requireRuns ?? true) && !byTable.has("runs")) {
    const when = firstDay === undefined ? "" : ` from ${firstDay} on`;
    throw new TelemetryError(
      "TELEMETRY_UNAVAILABLE",
      spec,
      `no blit runs${when} in ${glob}: expected files like DIR/host=H/day=D/runs-*.parquet, as 'blit telemetry export DIR' writes them`,
      undefined,
    );
  }
  return { byTable, total };
}

/**
 * The files `glob` matches. The usual spec, a folder or 'DIR/**\/*.parquet', is listed by walking
 * the folder (a tenth of the time DuckDB's glob takes over thousands of partitions); any other
 * pattern goes to DuckDB's glob.
 */
async function matching(conn: DuckDBConnection, glob: string, root: string): Promise<string[]> {
  if (glob === `${root}/**/*.parquet` || resolve(glob) === join(root, "**/*.parquet")) {
    try {
      // Regular files only: a symlink planted in a shared folder is not followed to what it names.
      return readdirSync(root, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile() && d.name.endsWith(".parquet"))
        .map((d) => join(d.parentPath, d.name))
        .sort();
    } catch {
      return [];
    }
  }
  const reader = await conn.runAndReadAll("SELECT file FROM glob($1) ORDER BY file", [glob]);
  return reader.getRowObjects().map((row) => String(row.file));
}

/** The directory part of a glob before its first wildcard: hidden folders below it are skipped. */
function globRoot(glob: string): string {
  const wild = glob.search(/[*?[]/);
  const head = wild < 0 ? glob : glob.slice(0, wild);
  return resolve(head.slice(0, head.lastIndexOf("/") + 1) || ".");
}

/**
 * Creates the view `view` over the files of `groups` with the columns and types `wanted` (a store
 * table's, from columnsOf). The files of one schema version share their columns, so each group is
 * one read_parquet whose columns are learnt from its first file; files whose names carry no
 * version are matched by column name. A column a group lacks (written by an older blit) reads as
 * NULL; hive partition columns other than the table's own (host, day) are left out, except
 * `partitionColumns`, kept as text.
 */
export async function viewOver(
  conn: DuckDBConnection,
  wanted: readonly { name: string; type: string }[],
  groups: ReadonlyMap<number, readonly string[]>,
  view: string,
  temp = false,
  partitionColumns: readonly string[] = [],
): Promise<void> {
  const parts: string[] = [];
  for (const [version, files] of groups) {
    const source = `read_parquet([${files.map(sqlString).join(", ")}], hive_partitioning = true${version === 0 ? ", union_by_name = true" : ""})`;
    const present = new Set(
      (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)).getRowObjects().map((r) => String(r.column_name)),
    );
    const select = [
      ...wanted.map(({ name, type }) => (present.has(name) ? `CAST(${sqlIdent(name)} AS ${type}) AS ${sqlIdent(name)}` : `CAST(NULL AS ${type}) AS ${sqlIdent(name)}`)),
      ...partitionColumns.map((name) => (present.has(name) ? `CAST(${sqlIdent(name)} AS VARCHAR) AS ${sqlIdent(name)}` : `CAST(NULL AS VARCHAR) AS ${sqlIdent(name)}`)),
    ].join(", ");
    parts.push(`SELECT ${select} FROM ${source}`);
  }
  await conn.run(`CREATE ${temp ? "TEMP " : ""}VIEW ${sqlIdent(view)} AS ${parts.join(" UNION ALL ")}`);
}

/** The columns of the store's table `table` (schema main), in order, with their types. */
export async function columnsOf(conn: DuckDBConnection, table: string): Promise<{ name: string; type: string }[]> {
  const reader = await conn.runAndReadAll(
    "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = $1 ORDER BY column_index",
    [table],
  );
  return reader.getRowObjects().map((r) => ({ name: String(r.column_name), type: String(r.data_type) }));
}

