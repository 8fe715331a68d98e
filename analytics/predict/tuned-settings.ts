// Worker counts found by `blit tune`, per route and filesystem pair (table tuned_settings,
// migration 3). Only an applied setting (`blit tune --apply`) is offered to later runs.
import type { DuckDBConnection } from "@duckdb/node-api";
import type { Route } from "../../engine/index.ts";
import { duckdb } from "../store/duckdb-module.ts";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { withStore } from "../store/store.ts";
import { telemetryPath } from "../store/telemetry-path.ts";

export interface TrialSummary {
  workers: number;
  /** Recorded runs of this worker count, in the order they ran. */
  runIds: string[];
  totalMs: number[];
  medianMs: number;
}

export interface TunedSetting {
  route: Route;
  sourceFs: string;
  destinationFs: string;
  workers: number;
  applied: boolean;
  trials: TrialSummary[];
  sampleFiles: number;
  sampleBytes: number;
  source: string;
  destination: string;
  /** ISO 8601. */
  tunedAt: string;
}

export async function saveTunedSetting(conn: DuckDBConnection, s: TunedSetting): Promise<void> {
  await conn.run(
    `INSERT INTO tuned_settings VALUES ($1, $2, $3, $4, $5, CAST($6 AS JSON), $7, $8, $9, $10, $11)`,
    [
      s.route, s.sourceFs, s.destinationFs, s.workers, s.applied, JSON.stringify(s.trials),
      BigInt(Math.round(s.sampleFiles)), BigInt(Math.round(s.sampleBytes)), s.source, s.destination,
      duckdb().timestampValue(BigInt(Date.parse(s.tunedAt)) * 1000n),
    ],
  );
}

/** The latest setting for a route and filesystem pair (applied ones only, unless `appliedOnly` is false). */
export async function latestTunedSetting(
  conn: DuckDBConnection,
  route: Route,
  sourceFs: string,
  destinationFs: string,
  appliedOnly = true,
): Promise<TunedSetting | undefined> {
  const reader = await conn.runAndReadAll(
    `SELECT route, source_fs, destination_fs, workers, applied, CAST(trials AS VARCHAR) AS trials, sample_files,
            sample_bytes, source, destination, epoch_ms(tuned_at) AS tuned_ms
     FROM tuned_settings
     WHERE route = $1 AND source_fs = $2 AND destination_fs = $3 ${appliedOnly ? "AND applied" : ""}
     ORDER BY tuned_at DESC LIMIT 1`,
    [route, sourceFs, destinationFs],
  );
  const r = reader.getRowObjects()[0];
  if (!r) return undefined;
  return {
    route: String(r.route) as Route,
    sourceFs: String(r.source_fs),
    destinationFs: String(r.destination_fs),
    workers: Number(r.workers),
    applied: r.applied === true,
    trials: JSON.parse(String(r.trials)) as TrialSummary[],
    sampleFiles: Number(r.sample_files ?? 0),
    sampleBytes: Number(r.sample_bytes ?? 0),
    source: String(r.source ?? ""),
    destination: String(r.destination ?? ""),
    tunedAt: new Date(Number(r.tuned_ms)).toISOString(),
  };
}

export interface TunedWorkersOptions {
  /**
   * The store file.
   * @default telemetryPath(process.env)
   */
  path?: string;
}

/**
 * Applied settings are also kept in a small JSON file beside the store, so that every run can
 * read them in well under a millisecond without loading DuckDB before it starts.
 */
export function tunedFileFor(storePath: string): string {
  return join(dirname(storePath), "tuned-settings.json");
}

const keyOf = (route: Route, sourceFs: string, destinationFs: string) => `${route} ${sourceFs}->${destinationFs}`;

/** Records an applied setting in the file beside the store (temp name, then rename). */
export function writeTunedFile(storePath: string, s: TunedSetting): void {
  const file = tunedFileFor(storePath);
  let all: Record<string, { workers: number; tunedAt: string }> = {};
  try {
    all = JSON.parse(readFileSync(file, "utf8"));
  } catch {}
  all[keyOf(s.route, s.sourceFs, s.destinationFs)] = { workers: s.workers, tunedAt: s.tunedAt };
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(all, null, 2) + "\n");
  renameSync(tmp, file);
}

/**
 * The worker count `blit tune --apply` chose for this route and filesystem pair, or undefined
 * (none applied, or the file cannot be read). Never throws: a run must not fail over advice.
 * An explicit --workers or BLIT_WORKERS should still win over this.
 */
export function tunedWorkers(
  route: Route,
  sourceFs: string,
  destinationFs: string,
  options: TunedWorkersOptions = {},
): number | undefined {
  try {
    const all = JSON.parse(readFileSync(tunedFileFor(options.path ?? telemetryPath()), "utf8"));
    const w = all?.[keyOf(route, sourceFs, destinationFs)]?.workers;
    return Number.isInteger(w) && w >= 1 ? w : undefined;
  } catch {
    return undefined;
  }
}
