// The fitted predictor as kept in the store (table predictor_models, migration 3), refitted
// whenever the history has changed since the stored fit, and `predictFor`, the estimate the CLI
// shows before a run.
import type { DuckDBConnection } from "@duckdb/node-api";
import type { Counts, Route, RunOptions, Workload } from "../../engine/index.ts";
import { duckdb } from "../store/duckdb-module.ts";
import { loadHistory, type RecentRuns, type RunRecord } from "../store/run-record.ts";
import {
  defaultModel, fitPredictor, modelFor, predictShape,
  type Model, type Prediction, type Predictor, type TermName, type WorkShape,
} from "./predictor.ts";
import { withStore } from "../store/store.ts";
import { causeText } from "../store/telemetry-error.ts";
import { telemetryPath } from "../store/telemetry-path.ts";

/** "<runs>:<latest start in ms>": changes whenever a run is added. */
export function historyStamp(history: readonly Pick<RunRecord, "startedMs">[]): string {
  let latest = 0;
  for (const r of history) if (r.startedMs > latest) latest = r.startedMs;
  return `${history.length}:${latest}`;
}

async function storeStamp(conn: DuckDBConnection): Promise<string> {
  const reader = await conn.runAndReadAll("SELECT count(*) AS n, coalesce(max(epoch_ms(started_at)), 0) AS t FROM runs");
  const row = reader.getRowObjects()[0] ?? {};
  return `${Number(row.n ?? 0)}:${Number(row.t ?? 0)}`;
}

/**
 * The predictor for the store's current history: the stored fit when it is current, else a new
 * fit (from `history` when the caller has loaded it already), saved for next time.
 */
export async function currentPredictor(conn: DuckDBConnection, history?: readonly RunRecord[], recent?: RecentRuns): Promise<Predictor> {
  const stamp = history ? historyStamp(history) : await storeStamp(conn);
  const stored = await readModels(conn);
  if (stored.models.length > 0 && stored.stamps.every((s) => s === stamp)) return { models: stored.models };
  const predictor = fitPredictor(history ?? (await loadHistory(conn, recent)));
  await saveModels(conn, predictor, stamp);
  return predictor;
}

const COLUMNS = `model_key, route, source_fs, destination_fs, basis, CAST(terms AS VARCHAR) AS terms, fixed_ms,
  per_file_ms, per_byte_ms, per_entry_ms, per_dir_ms, samples, trimmed, holdout_method, holdout_runs,
  holdout_mdape, ratio_low, ratio_high, history_stamp`;

async function readModels(conn: DuckDBConnection): Promise<{ models: Model[]; stamps: string[] }> {
  const reader = await conn.runAndReadAll(`SELECT ${COLUMNS} FROM predictor_models ORDER BY model_key`);
  const rows = reader.getRowObjects();
  return {
    stamps: rows.map((r) => String(r.history_stamp)),
    models: rows.map((r) => ({
      key: String(r.model_key),
      route: String(r.route) as Route,
      sourceFs: String(r.source_fs),
      destinationFs: String(r.destination_fs),
      basis: "fitted" as const,
      terms: JSON.parse(String(r.terms)) as TermName[],
      coefficients: {
        fixed: Number(r.fixed_ms),
        perFile: Number(r.per_file_ms),
        perByte: Number(r.per_byte_ms),
        perEntry: Number(r.per_entry_ms),
        perDir: Number(r.per_dir_ms),
      },
      samples: Number(r.samples),
      trimmed: Number(r.trimmed),
      holdout: {
        method: String(r.holdout_method) as Model["holdout"]["method"],
        runs: Number(r.holdout_runs),
        mdape: r.holdout_mdape == null ? null : Number(r.holdout_mdape),
        ratioLow: Number(r.ratio_low),
        ratioHigh: Number(r.ratio_high),
      },
    })),
  };
}

/** Replaces the stored models with `predictor`'s, in one transaction. */
async function saveModels(conn: DuckDBConnection, predictor: Predictor, stamp: string): Promise<void> {
  const now = duckdb().timestampValue(BigInt(Date.now()) * 1000n);
  await conn.run("BEGIN TRANSACTION");
  try {
    await conn.run("DELETE FROM predictor_models");
    for (const m of predictor.models) {
      await conn.run(
        `INSERT INTO predictor_models VALUES ($1, $2, $3, $4, $5, CAST($6 AS JSON), $7, $8, $9, $10, $11, $12, $13,
           $14, $15, $16, $17, $18, $19, $20)`,
        [
          m.key, m.route, m.sourceFs, m.destinationFs, m.basis, JSON.stringify(m.terms),
          m.coefficients.fixed, m.coefficients.perFile, m.coefficients.perByte, m.coefficients.perEntry,
          m.coefficients.perDir, m.samples, m.trimmed, m.holdout.method, m.holdout.runs, m.holdout.mdape,
          m.holdout.ratioLow, m.holdout.ratioHigh, stamp, now,
        ],
      );
    }
    await conn.run("COMMIT");
  } catch (err) {
    await conn.run("ROLLBACK").catch(() => {});
    throw err;
  }
}

/** What predictFor needs to know about a run: a RunReport (e.g. from a dry run) fits. */
export interface PredictInput {
  workload: Pick<Workload, "files" | "bytes" | "dirs" | "symlinks">;
  /** The plan's counts (a dry run has them); without them every source file counts as transferred. */
  counts?: Pick<Counts, "planned" | "plannedBytes">;
  sourceFs?: string;
  destinationFs?: string;
  options?: Partial<Pick<RunOptions, "bwlimit">>;
}

export interface PredictForOptions {
  /**
   * The store file.
   * @default telemetryPath(process.env)
   */
  path?: string;
  /** Filesystem pair; overrides the input's. Unknown pairs use the route-wide model. */
  sourceFs?: string;
  destinationFs?: string;
  /**
   * Bandwidth limit in bytes per second; overrides the input's options.bwlimit. 0 = none.
   * @default input.options?.bwlimit ?? 0
   */
  bwlimit?: number;
  /**
   * How long to wait for a busy store, in ms.
   * @default 2000
   */
  busyTimeoutMs?: number;
}

/** The shape the predictor charges for, from a report-like input. */
export function shapeOfInput(input: PredictInput): WorkShape {
  const w = input.workload;
  return {
    files: input.counts?.planned ?? w.files + w.symlinks,
    bytes: input.counts?.plannedBytes ?? w.bytes,
    entries: w.files + w.dirs + w.symlinks,
    dirs: w.dirs,
  };
}

/**
 * How long a run of this shape should take on `route`. Never throws: when the store cannot be
 * read, the prediction uses the default coefficients and its note says why.
 */
export async function predictFor(input: PredictInput, route: Route, options: PredictForOptions = {}): Promise<Prediction> {
  const sourceFs = options.sourceFs ?? input.sourceFs ?? "unknown";
  const destinationFs = options.destinationFs ?? input.destinationFs ?? "unknown";
  const bwlimit = options.bwlimit ?? input.options?.bwlimit ?? 0;
  const shape = shapeOfInput(input);
  try {
    const predictor = await withStore(options.path ?? telemetryPath(), ({ conn, recent }) => currentPredictor(conn, undefined, recent), {
      busyTimeoutMs: options.busyTimeoutMs ?? 2000,
    });
    return predictShape(modelFor(predictor, route, sourceFs, destinationFs), shape, bwlimit);
  } catch (err) {
    const p = predictShape(defaultModel(route), shape, bwlimit);
    return { ...p, note: `${p.note}; the telemetry store could not be read (${causeText(err)})` };
  }
}
