// What a report shows, gathered from analytics' public API only: the history report is
// diagnoseHistory (slowest, flagged, trends, models) plus every run of the window scored with its
// prediction and band (recentRuns + scoreRuns, as the TUI's run list); a run's report is
// diagnoseRun (prediction, flags, evidence, causes, suggestions, timeline). Nothing here predicts.
import {
  diagnoseHistory, diagnoseRun, FLEET_HISTORY_LIMIT, isFleetSpec, recentRuns, scoreRuns,
  type HistoryDiagnosis, type RunDiagnosis, type ScoredRun,
} from "../../analytics/index.ts";

/** Most runs drawn in the history charts; a longer window keeps its newest runs and says so. */
export const MAX_CHART_RUNS = 100_000;

export interface HistoryReportData {
  kind: "history";
  /** The telemetry store (file or glob) the report was read from. */
  store: string;
  generatedAt: string;
  diagnosis: HistoryDiagnosis;
  /** Every run of the window (at most MAX_CHART_RUNS, the newest), oldest first, with its verdict. */
  runs: ScoredRun[];
}

export interface RunReportData {
  kind: "run";
  store: string;
  generatedAt: string;
  diagnosis: RunDiagnosis;
}

export type ReportData = HistoryReportData | RunReportData;

export interface HistoryRequest {
  /** The telemetry store: a DuckDB file (or what the analytics calls accept as `path`). */
  store: string;
  sinceMs: number;
  /** How the window was asked for ("30d"). */
  sinceLabel: string;
  /** Runs listed as slowest and as flagged. @default 10 */
  limit?: number;
}

/** The history report's facts: the diagnosis of the window and each of its runs scored. */
export async function historyReportData(request: HistoryRequest): Promise<HistoryReportData> {
  const { store: path, sinceMs, sinceLabel } = request;
  const diagnosis = await diagnoseHistory({ path, sinceMs, sinceLabel, limit: request.limit ?? 10 });
  // The window is the newest `window.runs` runs of the store (runs start in order), so the list
  // of that length, kept to the window, is exactly its runs.
  // A fleet's predictions cover its latest FLEET_HISTORY_LIMIT runs (the fleet view covers all).
  const wanted = Math.min(diagnosis.window.runs, isFleetSpec(path) ? FLEET_HISTORY_LIMIT : MAX_CHART_RUNS);
  let runs: ScoredRun[] = [];
  if (wanted > 0) {
    const list = await scoreRuns(await recentRuns({ path, limit: wanted }));
    runs = list.runs.filter((r) => r.startedMs >= sinceMs).reverse();
  }
  return { kind: "history", store: path, generatedAt: diagnosis.generatedAt, diagnosis, runs };
}

/** One run's facts; `id` undefined is the latest run. Rejects with DiagnoseError for no such run. */
export async function runReportData(store: string, id: string | undefined): Promise<RunReportData> {
  const diagnosis = await diagnoseRun({ path: store, id });
  return { kind: "run", store, generatedAt: diagnosis.generatedAt, diagnosis };
}
