// The store's schema, as an ordered list of migrations. A migration is never edited once
// released: change the schema by appending one. Each is applied in its own transaction together
// with its `schema_version` row, so a store is always at exactly one version.
import type { DuckDBConnection } from "@duckdb/node-api";
import { duckdb } from "./duckdb-module.ts";

export interface Migration {
  /** Strictly increasing, starting at 1. */
  version: number;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE runs (
        id                VARCHAR NOT NULL, -- unique; see insertRun for why not a PRIMARY KEY
        started_at        TIMESTAMP NOT NULL,
        finished_at       TIMESTAMP,
        host              VARCHAR,
        os                VARCHAR,
        blit_version      VARCHAR,
        command           VARCHAR,
        route             VARCHAR,
        source            VARCHAR,
        destination       VARCHAR,
        source_fs         VARCHAR,
        destination_fs    VARCHAR,
        status            VARCHAR,
        exit_code         INTEGER,
        workers           INTEGER,
        requested_workers INTEGER,
        strategy          VARCHAR,
        files             BIGINT,
        bytes             BIGINT,
        dirs              BIGINT,
        symlinks          BIGINT,
        planned           BIGINT,
        planned_bytes     BIGINT,
        copied            BIGINT,
        copied_bytes      BIGINT,
        skipped           BIGINT,
        skipped_bytes     BIGINT,
        deleted           BIGINT,
        delete_planned    BIGINT,
        dirs_created      BIGINT,
        error_count       BIGINT,
        enumerate_ms      DOUBLE,
        plan_ms           DOUBLE,
        transfer_ms       DOUBLE,
        delete_ms         DOUBLE,
        total_ms          DOUBLE,
        transport         VARCHAR,
        options           JSON,
        size_histogram    JSON,
        bytes_by_path     JSON,
        files_by_path     JSON,
        fast_path_notes   JSON,
        plan_classes      JSON,
        transport_details JSON,
        report            JSON NOT NULL
      );
      CREATE TABLE run_errors (
        run_id  VARCHAR NOT NULL,
        seq     INTEGER NOT NULL,
        path    VARCHAR,
        side    VARCHAR,
        code    VARCHAR,
        message VARCHAR
      );
    `,
  },
];

/** The version a store reaches after `migrate`. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/**
 * Brings the store up to SCHEMA_VERSION; a no-op (one read) when it already is there.
 * A store written by a newer blit (higher version) is left as it is.
 * Returns the versions applied, in order.
 */
export async function migrate(conn: DuckDBConnection): Promise<number[]> {
  const current = await currentVersion(conn);
  const applied: number[] = [];
  for (const migration of MIGRATIONS) {
    if (migration.version <= current) continue;
    await conn.run("BEGIN TRANSACTION");
    try {
      await conn.run(migration.sql);
      await conn.run("INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)", [
        migration.version,
        duckdb().timestampValue(BigInt(Date.now()) * 1000n),
      ]);
      await conn.run("COMMIT");
    } catch (err) {
      await conn.run("ROLLBACK").catch(() => {});
      throw err;
    }
    applied.push(migration.version);
  }
  return applied;
}

async function currentVersion(conn: DuckDBConnection): Promise<number> {
  // The common case (a current store) costs one small read; only a failed read looks further.
  try {
    const reader = await conn.runAndReadAll("SELECT coalesce(max(version), 0) AS v FROM schema_version");
    return Number(reader.getRowObjects()[0]?.v ?? 0);
  } catch (err) {
    const exists = await conn.runAndReadAll(
      "SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'schema_version'",
    );
    if (Number(exists.getRowObjects()[0]?.n ?? 0) > 0) throw err;
    await conn.run("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)");
    return 0;
  }
}
