// A fleet's telemetry read in place: the Parquet files `blit telemetry export` writes (one folder
// per host and day, see fleet-layout.ts), opened as a store that every reader uses like the local
// file. An in-memory DuckDB gets the schema of a current store (the migrations), and each exported
// table is replaced by a view over its Parquet files; nothing is copied. The tables that are not
// exported (predictor fits, tuned settings, AI answers) stay real in-memory tables, so a reader
// that caches a fit writes it there and it is gone at close. Inserting a run into a view fails:
// a fleet store is read-only.
import { statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, resolve } from "node:path";
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { preloadTelemetry } from "./duckdb-module.ts";
import { tableOfFile, visibleBelow, type ExportedTable } from "./fleet-layout.ts";
import { migrate } from "./migrations.ts";
import { causeText, TelemetryError } from "./telemetry-error.ts";

/**
 * Readers that load a whole history into memory (the predictor, the flags, the run list) load at
 * most this many runs of a fleet store: the most recent ones. The fleet view and every count read
 * all runs in SQL. A file store has no limit (a host's own history stays small).
 */
export const FLEET_HISTORY_LIMIT = 20_000;

/** DuckDB's memory for a fleet read: its scans spill beyond this instead of growing. */
const FLEET_MEMORY_LIMIT = "256MB";

/** True when `spec` names Parquet files (a glob, a .parquet file or a directory), not a store file. */
export function isFleetSpec(spec: string): boolean {
  if (/[*?[]/.test(spec) || spec.endsWith(".parquet")) return true;
  try {
    return statSync(spec).isDirectory();
  } catch {
    return false;
  }
}

/** The glob a fleet spec stands for: a directory means every Parquet file below it. */
export function fleetGlob(spec: string): string {
  if (/[*?[]/.test(spec) || spec.endsWith(".parquet")) return spec;
  return `${spec.replace(/\/+$/, "")}/**/*.parquet`;
}

export interface FleetFiles {
  /** Parquet files per exported table. */
  byTable: Map<ExportedTable, string[]>;
  /** Every file matched, of any table. */
  total: number;
}

/** Opens the fleet at `spec` as an in-memory store. Throws TelemetryError when nothing matches. */
export async function openFleet(spec: string): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection; files: FleetFiles }> {
  const { DuckDBInstance } = await preloadTelemetry();
  const instance = await DuckDBInstance.create(":memory:", {
    memory_limit: FLEET_MEMORY_LIMIT,
    threads: String(availableParallelism()),
  });
  let conn: DuckDBConnection | undefined;
  try {
    conn = await instance.connect();
    const files = await fleetFiles(conn, spec);
    await migrate(conn);
    await conn.run("SET parquet_metadata_cache = true");
    for (const [table, list] of files.byTable) {
      const columns = await columnsOf(conn, table);
      await conn.run(`DROP TABLE ${ident(table)}`);
      await viewOver(conn, columns, list, table);
    }
    return { instance, conn, files };
  } catch (err) {
    conn?.closeSync();
    instance.closeSync();
    if (err instanceof TelemetryError) throw err;
    throw new TelemetryError("TELEMETRY_UNAVAILABLE", spec, `fleet telemetry ${spec} cannot be read: ${causeText(err)}`, err);
  }
}

/** The files of the layout that `spec` matches, by table. Throws TelemetryError when no runs match. */
export async function fleetFiles(conn: DuckDBConnection, spec: string, requireRuns = true): Promise<FleetFiles> {
  const glob = fleetGlob(spec);
  const reader = await conn.runAndReadAll("SELECT file FROM glob($1) ORDER BY file", [glob]);
  const root = globRoot(glob);
  const byTable = new Map<ExportedTable, string[]>();
  let total = 0;
  for (const row of reader.getRowObjects()) {
    const file = String(row.file);
    const table = tableOfFile(basename(file));
    if (!table || !visibleBelow(root, file)) continue;
    total++;
    const list = byTable.get(table) ?? [];
    list.push(file);
    byTable.set(table, list);
  }
  if (requireRuns && !byTable.has("runs")) {
    throw new TelemetryError(
      "TELEMETRY_UNAVAILABLE",
      spec,
      `no blit runs in ${glob}: expected files like DIR/host=H/day=D/runs-*.parquet, as 'blit telemetry export DIR' writes them`,
      undefined,
    );
  }
  return { byTable, total };
}

/** The directory part of a glob before its first wildcard: hidden folders below it are skipped. */
function globRoot(glob: string): string {
  const wild = glob.search(/[*?[]/);
  const head = wild < 0 ? glob : glob.slice(0, wild);
  return resolve(head.slice(0, head.lastIndexOf("/") + 1) || ".");
}

/**
 * Creates the view `view` over `files` with the columns and types `wanted` (a store table's, from
 * columnsOf): a column some files lack (written by an older blit) reads as NULL; hive partition
 * columns other than the table's own (host, day) are left out.
 */
export async function viewOver(
  conn: DuckDBConnection, wanted: readonly { name: string; type: string }[], files: readonly string[], view: string, temp = false,
): Promise<void> {
  const source = `read_parquet([${files.map(sqlString).join(", ")}], hive_partitioning = true, union_by_name = true)`;
  const present = new Set(
    (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)).getRowObjects().map((r) => String(r.column_name)),
  );
  const select = wanted
    .map(({ name, type }) => (present.has(name) ? `CAST(${ident(name)} AS ${type}) AS ${ident(name)}` : `CAST(NULL AS ${type}) AS ${ident(name)}`))
    .join(", ");
  await conn.run(`CREATE ${temp ? "TEMP " : ""}VIEW ${ident(view)} AS SELECT ${select} FROM ${source}`);
}

/** The columns of the store's table `table` (schema main), in order, with their types. */
export async function columnsOf(conn: DuckDBConnection, table: string): Promise<{ name: string; type: string }[]> {
  const reader = await conn.runAndReadAll(
    "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = $1 ORDER BY column_index",
    [table],
  );
  return reader.getRowObjects().map((r) => ({ name: String(r.column_name), type: String(r.data_type) }));
}

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

