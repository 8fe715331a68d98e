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
  {
    // Offline traces (traces/): one row per ingested file, its normalized events, and the
    // summaries diagnose cites. ts and duration are seconds; wall time is ts + epoch_offset.
    version: 2,
    sql: `
      CREATE TABLE traces (
        id              VARCHAR NOT NULL,
        file            VARCHAR NOT NULL,
        format          VARCHAR NOT NULL,
        size_bytes      BIGINT,
        ingested_at     TIMESTAMP NOT NULL,
        run_id          VARCHAR,
        link_method     VARCHAR,  -- 'flag', 'pid-time', 'pid', or NULL when not linked
        events          BIGINT NOT NULL,
        unparsed_lines  BIGINT NOT NULL,
        first_ts        DOUBLE,
        last_ts         DOUBLE,
        clock           VARCHAR,  -- epoch, time-of-day, relative, boot, unknown
        epoch_offset    DOUBLE,   -- seconds added to ts for epoch seconds; NULL when unknown
        clock_estimated BOOLEAN,  -- true when epoch_offset was guessed from the file's mtime
        started_at      TIMESTAMP,
        finished_at     TIMESTAMP,
        unparsed_sample JSON,     -- the first unparsed lines: [{line, reason, text}]
        notes           JSON
      );
      CREATE TABLE trace_events (
        trace_id   VARCHAR NOT NULL,
        seq        BIGINT NOT NULL,
        line       BIGINT,
        ts         DOUBLE,
        process    VARCHAR,
        pid        INTEGER,
        tid        INTEGER,
        kind       VARCHAR NOT NULL,
        category   VARCHAR NOT NULL,
        path       VARCHAR,
        bytes      BIGINT,
        duration   DOUBLE,
        result     VARCHAR,
        failed     BOOLEAN,
        event_name VARCHAR,
        fields     JSON
      );
      CREATE TABLE trace_summaries (
        trace_id   VARCHAR NOT NULL,
        scope      VARCHAR NOT NULL,  -- 'trace' (whole file) or 'run' (the linked run's window)
        run_id     VARCHAR,
        created_at TIMESTAMP NOT NULL,
        summary    JSON NOT NULL
      );
    `,
  },
  {
    // The predictor and tuning (analytics/predictor-store.ts, analytics/tuned-settings.ts):
    // the latest fitted model per route and filesystem pair, with its hold-out error, and the
    // worker counts `blit tune` measured. Coefficients are milliseconds per unit.
    version: 3,
    sql: `
      CREATE TABLE predictor_models (
        model_key      VARCHAR NOT NULL,  -- 'local', or 'local ext4->xfs' for one filesystem pair
        route          VARCHAR NOT NULL,
        source_fs      VARCHAR NOT NULL,  -- '*' in a route-wide model
        destination_fs VARCHAR NOT NULL,
        basis          VARCHAR NOT NULL,  -- 'fitted'
        terms          JSON NOT NULL,     -- the terms in the model, e.g. ["fixed","perFile","perByte"]
        fixed_ms       DOUBLE NOT NULL,   -- per run
        per_file_ms    DOUBLE NOT NULL,   -- per file transferred
        per_byte_ms    DOUBLE NOT NULL,   -- per byte transferred
        per_entry_ms   DOUBLE NOT NULL,   -- per source entry enumerated
        per_dir_ms     DOUBLE NOT NULL,   -- per source directory
        samples        INTEGER NOT NULL,  -- runs the fit used
        trimmed        INTEGER NOT NULL,  -- runs left out as outliers
        holdout_method VARCHAR NOT NULL,  -- 'leave-one-out', '10-fold' or 'none'
        holdout_runs   INTEGER NOT NULL,
        holdout_mdape  DOUBLE,            -- median absolute percentage error on held-out runs, a fraction
        ratio_low      DOUBLE NOT NULL,   -- 10th percentile of actual/predicted on held-out runs
        ratio_high     DOUBLE NOT NULL,   -- 90th percentile
        history_stamp  VARCHAR NOT NULL,  -- '<runs>:<latest started_at in ms>' of the history fitted
        fitted_at      TIMESTAMP NOT NULL
      );
      CREATE TABLE tuned_settings (
        route          VARCHAR NOT NULL,
        source_fs      VARCHAR NOT NULL,
        destination_fs VARCHAR NOT NULL,
        workers        INTEGER NOT NULL,  -- the fastest worker count of the calibration
        applied        BOOLEAN NOT NULL,  -- true: later runs on this route use it (blit tune --apply)
        trials         JSON NOT NULL,     -- [{workers, runIds, totalMs, medianMs}]
        sample_files   BIGINT,
        sample_bytes   BIGINT,
        source         VARCHAR,
        destination    VARCHAR,
        tuned_at       TIMESTAMP NOT NULL
      );
    `,
  },
  {
    // The LLM explainer's answer cache (analytics/answer-cache.ts): one validated answer per run,
    // evidence hash and model, so reopening a run in `blit diagnose --ai` asks the model nothing.
    version: 4,
    sql: `
      CREATE TABLE ai_answers (
        run_id        VARCHAR NOT NULL,
        evidence_hash VARCHAR NOT NULL,  -- sha256 prefix of the request's messages as sent (after --redact)
        model         VARCHAR NOT NULL,
        base_url      VARCHAR,           -- the endpoint that answered, for the record
        explanation   JSON NOT NULL,     -- the validated answer as received (placeholders kept)
        dropped       JSON NOT NULL,     -- claims validation dropped: [{claim, text, reason}]
        created_at    TIMESTAMP NOT NULL
      );
    `,
  },
  {
    // The machine around each run (engine/run-context.ts), written with the run: the scalars a
    // query filters on as columns, the lists as JSON; and the run's timeline, one row per sample.
    // Shares are 0..1, times milliseconds; NULL where the platform could not give the fact.
    // run_id is unique as runs.id is: rows are written only when their run is added, in the same
    // transaction, and no key index is kept (DuckDB rewrites it at every checkpoint; see insertRun).
    version: 5,
    sql: `
      CREATE TABLE run_context (
        run_id          VARCHAR NOT NULL,
        cpu_count       INTEGER,
        self_user_ms    DOUBLE,   -- blit's own CPU over the run (all its threads)
        self_system_ms  DOUBLE,
        self_voluntary_ctx_switches   BIGINT,
        self_involuntary_ctx_switches BIGINT,
        self_major_faults BIGINT,
        self_read_bytes  BIGINT,  -- /proc/self/io: bytes blit made the storage layer read / write
        self_write_bytes BIGINT,
        load_start      DOUBLE,   -- 1-minute load average
        load_end        DOUBLE,
        psi_cpu_some    DOUBLE,   -- share of the run's wall time some task stalled on CPU (PSI)
        psi_io_some     DOUBLE,
        psi_io_full     DOUBLE,
        psi_memory_some DOUBLE,
        others_cpu_share DOUBLE,  -- CPU used by everything but blit, share of all CPUs
        tracer_pid      INTEGER,
        tracer_name     VARCHAR,  -- the process tracing blit (strace, perf, gdb), NULL when none
        source_cached   DOUBLE,   -- share of the source's sampled pages in the page cache
        devices         JSON,     -- [DeviceContext]: mount, fs type, device, class, options, sync, disk deltas
        openers         JSON      -- [{pid, name, files}]: other processes with files under the destination open
      );
      CREATE TABLE run_timeline (
        run_id           VARCHAR NOT NULL,
        t_ms             DOUBLE NOT NULL,  -- end of the sample, ms since the run started
        bytes            BIGINT,           -- done in this sample (a delta, like every column below)
        files            BIGINT,
        self_cpu_ms      DOUBLE,
        others_cpu_share DOUBLE,
        cpu_some         DOUBLE,
        io_some          DOUBLE
      );
    `,
  },
  {
    // The facts every reader of a run needs, as columns written with the run (run-row.ts), so
    // that a stored run and a report in memory are read by one function (run-record.ts) and a
    // history of 10,000 runs loads without parsing JSON: the small files of the size histogram,
    // the run's --bwlimit, --dry-run and --checksum, and the fast path that carried most bytes
    // (files, when no bytes moved; ties to the first name). Older runs are filled from their JSON.
    version: 6,
    sql: `
      ALTER TABLE runs ADD COLUMN small_files BIGINT;
      ALTER TABLE runs ADD COLUMN bwlimit DOUBLE;
      ALTER TABLE runs ADD COLUMN dry_run BOOLEAN;
      ALTER TABLE runs ADD COLUMN checksum BOOLEAN;
      ALTER TABLE runs ADD COLUMN main_fast_path VARCHAR;
      UPDATE runs SET
        small_files = coalesce(TRY_CAST(json_extract(size_histogram, '$."<4K"') AS BIGINT), 0)
          + coalesce(TRY_CAST(json_extract(size_histogram, '$."<64K"') AS BIGINT), 0),
        bwlimit = coalesce(TRY_CAST(json_extract(options, '$.bwlimit') AS DOUBLE), 0),
        dry_run = coalesce(TRY_CAST(json_extract(options, '$.dryRun') AS BOOLEAN), false),
        checksum = coalesce(TRY_CAST(json_extract(options, '$.checksum') AS BOOLEAN), false),
        main_fast_path = coalesce(
          (SELECT key FROM json_each(runs.bytes_by_path) WHERE TRY_CAST(value AS DOUBLE) > 0
             ORDER BY TRY_CAST(value AS DOUBLE) DESC, key LIMIT 1),
          (SELECT key FROM json_each(runs.files_by_path) WHERE TRY_CAST(value AS DOUBLE) > 0
             ORDER BY TRY_CAST(value AS DOUBLE) DESC, key LIMIT 1));
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
