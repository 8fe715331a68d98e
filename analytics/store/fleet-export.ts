// `blit telemetry export DIR` and `blit telemetry import DIR`: a host's runs out to the fleet's
// Parquet folder (fleet-layout.ts), and a folder's runs into a local store. Both add only what is
// new, by id (run ids and trace ids are unique): exporting twice writes nothing the second time,
// and no file already in DIR is ever rewritten, so DIR can be a share that many hosts export to.
// An export writes its files into a hidden staging folder of DIR first and renames each into its
// partition, so a reader of DIR never sees a half-written file, whatever happens to the export.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { removeEntryAt } from "../../engine/index.ts";
import { openRooted, type RootedDir } from "../../ffi/index.ts";
import type { DuckDBConnection } from "@duckdb/node-api";
import { EXPORTED_TABLES, filePattern, RUN_TABLES, type ExportedTable } from "./fleet-layout.ts";
import { SCHEMA_VERSION } from "./migrations.ts";
import { columnsOf, fleetFiles, isFleetSpec, viewOver, type FleetFiles } from "./fleet-store.ts";
import { sqlIdent, sqlString } from "./sql-text.ts";
import { withStore } from "./store.ts";
import { causeText, TelemetryError } from "./telemetry-error.ts";

export interface ExportOptions {
  /** The store file to export. */
  path: string;
  /** The fleet folder (created if missing). */
  dir: string;
  /** The host name for rows that carry none (traces): normally hostName(). */
  host: string;
  /** @default 5000 */
  busyTimeoutMs?: number;
}

export interface TransferCounts {
  /** The folder written or read. */
  dir: string;
  /** Rows added, per table. */
  rows: Record<ExportedTable, number>;
  /** Runs in the store (export) or in the folder (import) that were there already and were skipped. */
  skippedRuns: number;
  /** Host names of the runs added. */
  hosts: string[];
  /** Parquet files written (export) or read (import). */
  files: number;
}

/** Staging folders of exports that died are removed by a later export once this old. */
const STALE_STAGING_MS = 6 * 60 * 60 * 1000;
const STAGING_PREFIX = ".blit-export-";

/** Exports the runs (with their context, timeline, errors) and traces of the store not yet in `dir`. */
export function exportTelemetry(options: ExportOptions): Promise<TransferCounts> {
  const dir = resolve(options.dir);
  return withStore(
    options.path,
    async ({ conn, kind }) => {
      if (kind === "fleet") throw new TelemetryError("TELEMETRY_UNAVAILABLE", options.path, `${options.path} is already a fleet export; export a store file`, undefined);
      const root = openExportRoot(dir);
      const staging = `${STAGING_PREFIX}${crypto.randomUUID()}`;
      try {
        const existing = await fleetFiles(conn, dir, { requireRuns: false });
        await idsNotIn(conn, "runs", existing, "new_runs");
        await idsNotIn(conn, "traces", existing, "new_traces");
        // DuckDB writes by path. It is given the staging folder this export made (0700) as
        // /proc/self/fd/N of its open handle, so swapping the folder's name in DIR for a symlink
        // (another user who can write DIR, watching it) cannot send the files anywhere else.
        root.mkdir(staging, 0o700);
        const stagingDir = root.openDir(staging);
        const rows = {} as Record<ExportedTable, number>;
        try {
          const target = stagingDir.fd === undefined ? join(dir, staging) : `/proc/self/fd/${stagingDir.fd}`;
          for (const table of EXPORTED_TABLES) rows[table] = await copyOut(conn, table, target, sqlString(options.host));
        } finally {
          stagingDir.close();
        }
        const files = publish(root, staging);
        return {
          dir,
          rows,
          skippedRuns: await count(conn, "SELECT count(*) AS n FROM runs") - rows.runs,
          hosts: await hostsOf(conn, "SELECT DISTINCT coalesce(nullif(r.host, ''), $1) AS host FROM runs r JOIN new_runs n ON n.id = r.id", [options.host]),
          files,
        };
      } finally {
        try {
          removeEntryAt(root, staging);
        } catch {
          // nothing was staged
        }
        root.close();
      }
    },
    { busyTimeoutMs: options.busyTimeoutMs ?? 5000 },
  );
}

export interface ImportOptions {
  /** The store file to import into. */
  path: string;
  /** A fleet folder (or glob) as `blit telemetry export` writes it. */
  dir: string;
  /** @default 5000 */
  busyTimeoutMs?: number;
}

/** Adds to the store the runs and traces of `dir` it does not have, in one transaction. */
export function importTelemetry(options: ImportOptions): Promise<TransferCounts> {
  if (!isFleetSpec(options.dir)) {
    throw new TelemetryError("TELEMETRY_UNAVAILABLE", options.dir, `${options.dir} is not a folder of Parquet files (give the folder 'blit telemetry export' wrote)`, undefined);
  }
  return withStore(
    options.path,
    async ({ conn, kind }) => {
      if (kind === "fleet") throw new TelemetryError("TELEMETRY_UNAVAILABLE", options.path, `cannot import into ${options.path}: a fleet export is read-only; import into a store file`, undefined);
      const files = await fleetFiles(conn, options.dir);
      for (const [table, list] of files.byTable) await viewOver(conn, await columnsOf(conn, table), list, `fleet_${table}`, true);
      for (const table of EXPORTED_TABLES) {
        if (!files.byTable.has(table)) await conn.run(`CREATE TEMP VIEW ${sqlIdent(`fleet_${table}`)} AS SELECT * FROM ${sqlIdent(table)} WHERE false`);
      }
      await conn.run("CREATE TEMP TABLE new_runs AS SELECT DISTINCT f.id FROM fleet_runs f WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = f.id)");
      await conn.run("CREATE TEMP TABLE new_traces AS SELECT DISTINCT f.id FROM fleet_traces f WHERE NOT EXISTS (SELECT 1 FROM traces x WHERE x.id = f.id)");
      const rows = {} as Record<ExportedTable, number>;
      await conn.run("BEGIN TRANSACTION");
      try {
        for (const table of EXPORTED_TABLES) rows[table] = await copyIn(conn, table);
        await conn.run("COMMIT");
      } catch (err) {
        await conn.run("ROLLBACK").catch(() => {});
        throw err;
      }
      return {
        dir: resolve(options.dir),
        rows,
        skippedRuns: await count(conn, "SELECT count(DISTINCT id) AS n FROM fleet_runs") - rows.runs,
        hosts: await hostsOf(conn, "SELECT DISTINCT r.host FROM runs r JOIN new_runs n ON n.id = r.id", []),
        files: files.total,
      };
    },
    { busyTimeoutMs: options.busyTimeoutMs ?? 5000 },
  );
}

/**
 * Makes DIR if needed and opens it as a root: every later step below it (the sweep, the moves into
 * partitions) goes through the root's fd and never follows a symlink, so a folder another user
 * swapped for a link (a share is writable by many) makes the export fail, naming it, instead of
 * writing or deleting through it. Staging folders of exports that died are removed here.
 */
function openExportRoot(dir: string): RootedDir {
  let root: RootedDir;
  try {
    mkdirSync(dir, { recursive: true });
    root = openRooted(dir);
  } catch (err) {
    throw new TelemetryError("TELEMETRY_UNAVAILABLE", dir, `cannot export to ${dir}: ${causeText(err)}`, err);
  }
  for (const name of root.names()) {
    if (!name.startsWith(STAGING_PREFIX)) continue;
    try {
      const st = root.lstat(name);
      if (st.type === "dir" && Date.now() - st.mtimeSec * 1000 > STALE_STAGING_MS) removeEntryAt(root, name);
    } catch {
      // another export's, or gone already
    }
  }
  return root;
}

/** A temporary table `into` of the store's ids of `table` (runs or traces) that `existing` lacks. */
async function idsNotIn(conn: DuckDBConnection, table: "runs" | "traces", existing: FleetFiles, into: string): Promise<void> {
  const files = [...(existing.byTable.get(table)?.values() ?? [])].flat();
  const there = files.length === 0
    ? "SELECT NULL::VARCHAR AS id WHERE false"
    : `SELECT id FROM read_parquet([${files.map(sqlString).join(", ")}], union_by_name = true)`;
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${into} AS SELECT t.id FROM ${table} t WHERE t.id NOT IN (SELECT id FROM (${there}) WHERE id IS NOT NULL)`);
}

/** The new rows of `table`, each with its host and day, as Parquet files under `staging`. */
async function copyOut(conn: DuckDBConnection, table: ExportedTable, staging: string, host: string): Promise<number> {
  const runHost = `coalesce(nullif(r.host, ''), ${host})`;
  const runDay = "strftime(r.started_at, '%Y-%m-%d')";
  const select: Record<ExportedTable, string> = {
    runs: `SELECT r.* EXCLUDE (host), ${runHost} AS host, ${runDay} AS day FROM runs r JOIN new_runs n ON n.id = r.id`,
    run_context: childOfRun("run_context", runHost, runDay),
    run_timeline: childOfRun("run_timeline", runHost, runDay),
    run_errors: childOfRun("run_errors", runHost, runDay),
    traces: `SELECT x.*, ${host} AS host, strftime(x.ingested_at, '%Y-%m-%d') AS day FROM traces x JOIN new_traces n ON n.id = x.id`,
    trace_summaries: `SELECT s.*, ${host} AS host, strftime(x.ingested_at, '%Y-%m-%d') AS day
      FROM trace_summaries s JOIN traces x ON x.id = s.trace_id JOIN new_traces n ON n.id = x.id`,
  };
  const rows = await count(conn, `SELECT count(*) AS n FROM (${select[table]})`);
  if (rows === 0) return 0;
  await conn.run(
    `COPY (${select[table]}) TO ${sqlString(staging)}
       (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (host, day), FILENAME_PATTERN '${filePattern(table, SCHEMA_VERSION)}', APPEND)`,
  );
  return rows;
}

function childOfRun(table: (typeof RUN_TABLES)[number], host: string, day: string): string {
  return `SELECT t.*, ${host} AS host, ${day} AS day FROM ${table} t JOIN runs r ON r.id = t.run_id JOIN new_runs n ON n.id = r.id`;
}

/**
 * Moves every file staged under `staging` (a folder of `root`) to the same place below the root,
 * making the partition folders; returns how many. A partition folder that is a symlink stops
 * the export with an error naming it (files moved before it stay: they are complete).
 */
function publish(root: RootedDir, staging: string): number {
  let moved = 0;
  const walk = (rel: string): void => {
    for (const name of root.names(`${staging}/${rel}`.replace(/\/$/, ""))) {
      const inner = rel ? `${rel}/${name}` : name;
      if (root.lstat(`${staging}/${inner}`).type === "dir") {
        makeDir(root, inner);
        walk(inner);
        continue;
      }
      try {
        root.rename(`${staging}/${inner}`, inner);
      } catch (err) {
        throw new TelemetryError("TELEMETRY_UNAVAILABLE", inner, `cannot put ${inner} in place: ${causeText(err)} (a folder on the way that is a symlink is refused)`, err);
      }
      moved++;
    }
  };
  walk("");
  return moved;
}

/** Makes the folder `rel` below the root unless a folder is there; a symlink there is refused. */
function makeDir(root: RootedDir, rel: string): void {
  try {
    root.mkdir(rel, 0o755);
  } catch (err) {
    if ((err as { code?: string }).code !== "EEXIST") throw err;
    if (root.lstat(rel).type !== "dir") {
      throw new TelemetryError("TELEMETRY_UNAVAILABLE", rel, `cannot export into ${rel}: it is not a folder (a symlink or a file is there; remove it)`, err);
    }
  }
}

/** Inserts the fleet's rows of `table` that belong to new runs (or traces); returns how many. */
async function copyIn(conn: DuckDBConnection, table: ExportedTable): Promise<number> {
  const source = sqlIdent(`fleet_${table}`);
  const where: Record<ExportedTable, string> = {
    runs: `id IN (SELECT id FROM new_runs) QUALIFY row_number() OVER (PARTITION BY id) = 1`,
    run_context: "run_id IN (SELECT id FROM new_runs)",
    run_timeline: "run_id IN (SELECT id FROM new_runs)",
    run_errors: "run_id IN (SELECT id FROM new_runs)",
    traces: `id IN (SELECT id FROM new_traces) QUALIFY row_number() OVER (PARTITION BY id) = 1`,
    trace_summaries: "trace_id IN (SELECT id FROM new_traces)",
  };
  const reader = await conn.runAndReadAll(`INSERT INTO ${sqlIdent(table)} SELECT * FROM ${source} WHERE ${where[table]}`);
  return Number(reader.getRowObjects()[0]?.Count ?? reader.getRowObjects()[0]?.count ?? 0);
}

async function count(conn: DuckDBConnection, sql: string): Promise<number> {
  return Number((await conn.runAndReadAll(sql)).getRowObjects()[0]?.n ?? 0);
}

async function hostsOf(conn: DuckDBConnection, sql: string, params: string[]): Promise<string[]> {
  return (await conn.runAndReadAll(sql, params)).getRowObjects().map((r) => String(r.host)).sort();
}
