// The run list of `blit diagnose --ai`: recent runs with what a person scans for (route, size,
// duration, the prediction, a flag mark) and a throughput series across the whole history.
// Two steps, so the first screen never waits for the predictor: `recentRuns` is one indexed read;
// `scoreRuns` then adds predictions and flags (fitting the predictor when the history changed).
import type { DuckDBConnection } from "@duckdb/node-api";
import { Scorer, verdictOf } from "../diagnose/anomalies.ts";
import { fleetView, type FleetView } from "../diagnose/fleet-view.ts";
import { currentPredictor } from "../predict/predictor-store.ts";
import { loadHistory, loadRecentRuns, type RecentRuns, type ScoredRun } from "./run-record.ts";
import { withStore } from "./store.ts";

export interface RunList {
  /** The store file. */
  path: string;
  /** Runs in the store. */
  total: number;
  /** The most recent runs, newest first. */
  runs: ScoredRun[];
  /** Transfer rate (MiB/s: bytes moved over the transfer phase) of every run that moved data, oldest first. */
  throughput: number[];
  /** True once predictions and flags are in. */
  scored: boolean;
  /** With the scores, when the last FLEET_WINDOW_MS of runs come from two hosts or more: which host is slow for the same work. */
  fleet?: FleetView;
}

/** The window of the run list's fleet view: the last 7 days, as the history report's default. */
export const FLEET_WINDOW_MS = 7 * 24 * 60 * 60 * 1000;

export interface RunListOptions {
  /** The store file. */
  path: string;
  /**
   * Most recent runs listed.
   * @default 500
   */
  limit?: number;
  /** @default 2000 */
  busyTimeoutMs?: number;
}

/** The most recent runs and the throughput series, without predictions. */
export function recentRuns(options: RunListOptions): Promise<RunList> {
  return withStore(options.path, (store) => readList(store.conn, options, store.recent), { busyTimeoutMs: options.busyTimeoutMs ?? 2000 });
}

/** `list` with each run's prediction (80% band) and flags, scored as the history report scores them. */
export function scoreRuns(list: RunList, options: Pick<RunListOptions, "busyTimeoutMs"> = {}): Promise<RunList> {
  const sinceMs = Date.now() - FLEET_WINDOW_MS;
  return withStore(
    list.path,
    async ({ conn, recent }) => {
      const fleet = await fleetView(conn, sinceMs);
      const history = await loadHistory(conn, recent);
      const scorer = new Scorer(await currentPredictor(conn, history), history);
      const byId = new Map(history.map((h) => [h.id, h]));
      const runs = list.runs.map((entry) => {
        const h = byId.get(entry.id);
        if (!h) return entry;
        return { ...entry, ...verdictOf(scorer.score(h)) };
      });
      return { ...list, runs, scored: true, ...(fleet ? { fleet } : {}) };
    },
    { busyTimeoutMs: options.busyTimeoutMs ?? 2000, sinceMs },
  );
}

async function readList(conn: DuckDBConnection, options: RunListOptions, recent: RecentRuns | undefined): Promise<RunList> {
  const limit = options.limit ?? 500;
  const runs = await loadRecentRuns(conn, limit);
  const total = Number((await conn.runAndReadAll("SELECT count(*) AS n FROM runs")).getRowObjects()[0]?.n ?? 0);
  const rates = (
    await conn.runAndReadAll(
      `SELECT mbps FROM (
         SELECT started_at, id, copied_bytes / (transfer_ms / 1000.0) / 1048576.0 AS mbps FROM ${recent?.runs ?? "runs"}
         WHERE copied_bytes > 0 AND transfer_ms > 0 ORDER BY started_at DESC, id DESC ${recent === undefined ? "" : `LIMIT ${recent.limit}`}
       ) ORDER BY started_at, id`,
    )
  ).getRowObjects();
  return {
    path: options.path,
    total,
    runs,
    throughput: rates.map((r) => num(r.mbps)),
    scored: false,
  };
}

function num(v: unknown): number {
  const n = v == null ? 0 : Number(v);
  return Number.isFinite(n) ? n : 0;
}

