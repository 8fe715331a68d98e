// `blit diagnose`: one run explained (prediction, flags, evidence, causes and suggestions), or the
// recent history summarized (models and their error, slowest runs against their prediction,
// flagged runs, trends per route). Both are plain data; diagnose-format.ts renders them.
import { availableParallelism } from "node:os";
import type { DuckDBConnection } from "@duckdb/node-api";
import { median } from "simple-statistics";
import { hostName, type RunReport, type TimelineSample } from "../../engine/index.ts";
import { MIN_RATIO, SCORE_LIMIT, Scorer, verdictOf, type Flag, type Reference, type RunScore } from "./anomalies.ts";
import { buildEvidence, type Evidence } from "./evidence.ts";
import type { Explanation } from "./explanation.ts";
import type { CauseKind } from "./causes.ts";
import { currentPredictor } from "../predict/predictor-store.ts";
import { unhealthyReason } from "../predict/healthy-runs.ts";
import { defaultModel, eligibleForFit, fitPredictor, learnsFrom, modelNote, type HoldOut, type Model, type Prediction } from "../predict/predictor.ts";
import { explainWithRules } from "./rules-explainer.ts";
import { loadHistory, runRecordFromReport, runTimeline, type RunRecord, type RunVerdict } from "../store/run-record.ts";
import { withStore } from "../store/store.ts";
import { countOf, formatBytesPerSec } from "../store/human-units.ts";
import { traceSummariesFor } from "../store/trace-summaries.ts";
import { fleetScan, type FleetView } from "./fleet-view.ts";
import { latestTunedSetting } from "../predict/tuned-settings.ts";

export type DiagnoseErrorCode = "RUN_NOT_FOUND" | "RUN_AMBIGUOUS" | "NO_RUNS";

/** Why a run could not be diagnosed: no such run, an id prefix matching several, or an empty store. */
export class DiagnoseError extends Error {
  constructor(readonly code: DiagnoseErrorCode, message: string) {
    super(message);
    this.name = "DiagnoseError";
  }
}

export interface ModelSummary {
  key: string;
  route: string;
  sourceFs: string;
  destinationFs: string;
  basis: "fitted" | "default";
  /** Milliseconds per unit of each term in the model. */
  terms: { term: string; msEach: number }[];
  samples: number;
  trimmed: number;
  holdout: HoldOut;
  note: string;
}

export interface PredictionSummary {
  durationMs: number;
  lowMs: number;
  highMs: number;
  unthrottledMs: number;
  throttleFloorMs: number | null;
  note: string;
  model: ModelSummary;
}

export interface RunDiagnosis {
  kind: "run";
  generatedAt: string;
  store: string;
  explainer: "rules";
  /** The run, as every reader of the history sees it. */
  run: RunRecord;
  prediction: PredictionSummary;
  score: { ratio: number; peerRatio: number; score: number | null; reference: Reference };
  flags: Flag[];
  evidence: Evidence[];
  explanation: Explanation;
  notes: string[];
  /** The run's timeline (about every 250 ms), oldest first; empty for a short run or one recorded before timelines. */
  timeline: TimelineSample[];
}

/**
 * One run in a history report: the run, how it compares with its prediction and peers, and for a
 * flagged or slow run the cause the rules name first (as `blit diagnose RUN_ID` would), if any.
 */
export type RunLine = RunRecord & RunVerdict & { cause?: { kind: CauseKind; text: string } };

export interface TrendHalf {
  runs: number;
  from: string;
  to: string;
  /** Median actual/predicted. */
  medianRatio: number;
  /** Median transfer rate of runs that moved data, MB/s; null when none did. */
  medianRateMBps: number | null;
}

export interface Trend {
  route: string;
  runs: number;
  earlier: TrendHalf | null;
  later: TrendHalf | null;
  direction: "slower" | "faster" | "steady" | "too few runs";
  text: string;
}

export interface HistoryDiagnosis {
  kind: "history";
  generatedAt: string;
  store: string;
  window: { since: string; label: string; runs: number; totalRuns: number };
  models: ModelSummary[];
  slowest: RunLine[];
  flagged: RunLine[];
  /** Runs with at least one flag in the window (flagged lists at most `limit`). */
  flaggedCount: number;
  trends: Trend[];
  /** Which hosts are slow for the same work, when the window's runs come from two hosts or more. */
  fleet?: FleetView;
  notes: string[];
}

export type Diagnosis = RunDiagnosis | HistoryDiagnosis;

export interface DiagnoseRunOptions {
  /** The store file. */
  path: string;
  /** A run id, or a unique prefix of one (at least 4 characters). Leave out to take the latest run. */
  id?: string;
  /**
   * How long to wait for a busy store, in ms.
   * @default 2000
   */
  busyTimeoutMs?: number;
}

export interface DiagnoseHistoryOptions {
  path: string;
  /** Start of the window, ms since the epoch. */
  sinceMs: number;
  /** How the window was asked for ("7d"), for the report. */
  sinceLabel: string;
  /**
   * Most runs listed as slowest and as flagged.
   * @default 10
   */
  limit?: number;
  busyTimeoutMs?: number;
  /** The clock, for tests. @default Date.now() */
  now?: number;
}

/** Trend: a later half this much slower (or faster) relative to prediction counts as a change. */
const TREND_CHANGE = 1.2;
const TREND_MIN_RUNS = 4;

/** Explains one run. Throws DiagnoseError when there is no such run. */
export function diagnoseRun(options: DiagnoseRunOptions): Promise<RunDiagnosis> {
  return withStore(
    options.path,
    async ({ conn, recent }) => {
      const id = await resolveRunId(conn, options.id);
      const reader = await conn.runAndReadAll("SELECT CAST(report AS VARCHAR) AS report FROM runs WHERE id = $1", [id]);
      const report = JSON.parse(String(reader.getRowObjects()[0]!.report)) as RunReport;
      const target = runRecordFromReport(report);
      // The prediction and the reference never saw the run they judge, and learn only from
      // healthy runs (healthy-runs.ts), on an unusual device setup only when the run is on it too.
      const others = (await loadHistory(conn, recent)).filter((r) => r.id !== id);
      const predictor = fitPredictor(others, target);
      const scorer = new Scorer(predictor, others, target);
      const score = scorer.score(target);
      const similar = scorer.similar(target);
      const tuned = await latestTunedSetting(conn, report.route, report.sourceFs, report.destinationFs, false).catch(() => undefined);
      const traces = await traceSummariesFor(conn, id);
      const evidence = buildEvidence({
        report,
        score,
        similar,
        tuned,
        traces,
        cores: report.host === hostName() ? availableParallelism() : undefined,
      });
      const notes: string[] = [score.prediction.note];
      // Far faster than its peers: said, not flagged (nothing to explain).
      if (score.score !== null && score.score <= -SCORE_LIMIT && score.peerRatio <= 1 / MIN_RATIO) {
        notes.push(`faster than similar runs: ${(1 / score.peerRatio).toFixed(1)}× under what they take (robust score ${score.score.toFixed(1)}); nothing to explain`);
      }
      const comparable = others.filter((r) => learnsFrom(r, target)).length;
      const unhealthy = others.filter((r) => eligibleForFit(r) && !learnsFrom(r, target)).length;
      if (score.model.basis === "default") notes.push(`${comparable} comparable run${comparable === 1 ? "" : "s"} in the store besides this one; flags need a fitted model and 8 comparable runs`);
      if (unhealthy > 0) notes.push(`${unhealthy} complete run${unhealthy === 1 ? " was" : "s were"} left out of the prediction and the reference: contended, traced, with errors, or on a sync or loop device (only healthy runs are learned from)`);
      if (!learnsFrom(target, target)) notes.push(`this run is not one the predictor learns from (${whyIneligible(target)})${target.bwlimit > 0 ? "; it is compared with the unthrottled prediction" : ""}`);
      return {
        kind: "run" as const,
        generatedAt: new Date().toISOString(),
        store: options.path,
        explainer: "rules" as const,
        run: target,
        prediction: predictionSummary(score.prediction),
        score: { ratio: score.ratio, peerRatio: score.peerRatio, score: score.score, reference: score.reference },
        flags: score.flags,
        evidence,
        explanation: explainWithRules(evidence),
        notes,
        timeline: await runTimeline(conn, id),
      };
    },
    { busyTimeoutMs: options.busyTimeoutMs ?? 2000 },
  );
}

/** Summarizes the runs since `sinceMs`: never throws for an empty or small history. */
export function diagnoseHistory(options: DiagnoseHistoryOptions): Promise<HistoryDiagnosis> {
  return withStore(
    options.path,
    async ({ conn, recent, kind }) => {
      const history = await loadHistory(conn, recent);
      const predictor = await currentPredictor(conn, history);
      const scorer = new Scorer(predictor, history);
      const report = historyReport(history, predictor.models, scorer, options);
      await nameCauses(conn, [...report.slowest, ...report.flagged], scorer, recent?.runs ?? "runs");
      // The fleet view and, for a fleet, the counts: one scan of the window's runs.
      const scan = await fleetScan(conn, options.sinceMs);
      if (scan.view) report.fleet = scan.view;
      if (kind === "fleet") {
        report.window.totalRuns = scan.runs;
        report.window.runs = scan.windowRuns;
        const read = "a fleet export: only its day partitions from the window's first day on are read, and \"in the store\" counts those";
        report.notes.push(report.window.totalRuns > history.length
          ? `${read}; the predictor, the slowest runs, flags and trends learn from the latest ${countOf(history.length, "run")} of them; the fleet view and the counts read all`
          : read);
      }
      return report;
    },
    { busyTimeoutMs: options.busyTimeoutMs ?? 2000, sinceMs: options.sinceMs },
  );
}

function historyReport(
  history: readonly RunRecord[],
  models: readonly Model[],
  scorer: Scorer,
  options: DiagnoseHistoryOptions,
): HistoryDiagnosis {
  const limit = options.limit ?? 10;
  const window = history.filter((r) => r.startedMs >= options.sinceMs);
  const scores = window.map((r) => scorer.score(r));
  const real = scores.filter((s) => !s.run.dryRun && s.run.status !== "failed");
  const slowest = real
    .filter((s) => s.peerRatio > 1)
    .sort((a, b) => b.peerRatio - a.peerRatio)
    .slice(0, limit)
    .map(runLine);
  const withFlags = scores.filter((s) => s.flags.length > 0);
  const flagged = withFlags
    .sort((a, b) => warnFirst(a) - warnFirst(b) || b.run.startedMs - a.run.startedMs)
    .slice(0, limit)
    .map(runLine);
  const summaries = models.map(modelSummary);
  for (const route of new Set(window.map((r) => r.route))) {
    if (!models.some((m) => m.route === route)) summaries.push(modelSummary(defaultModel(route)));
  }
  const notes: string[] = [];
  if (history.length === 0) notes.push("no runs recorded yet: run 'blit copy' or 'blit mirror' and come back");
  else if (window.length === 0) notes.push(`no runs since ${new Date(options.sinceMs).toISOString()}; ${history.length} older run${history.length === 1 ? "" : "s"} in the store (try a longer --since)`);
  for (const m of summaries) if (m.basis === "default") notes.push(`${m.route}: ${m.note}`);
  return {
    kind: "history",
    generatedAt: new Date(options.now ?? Date.now()).toISOString(),
    store: options.path,
    window: { since: new Date(options.sinceMs).toISOString(), label: options.sinceLabel, runs: window.length, totalRuns: history.length },
    models: summaries,
    slowest,
    flagged,
    flaggedCount: withFlags.length,
    trends: trends(real),
    notes,
  };
}

/**
 * The first cause of each listed run, by the rules over its evidence (its full report, its
 * similar runs and its traces), so the history says why a run was slow, not only that it was.
 */
async function nameCauses(conn: DuckDBConnection, lines: RunLine[], scorer: Scorer, runsTable: string): Promise<void> {
  const byId = new Map<string, RunLine[]>();
  for (const l of lines) byId.set(l.id, [...(byId.get(l.id) ?? []), l]);
  if (byId.size === 0) return;
  const ids = [...byId.keys()];
  const reader = await conn.runAndReadAll(
    `SELECT id, CAST(report AS VARCHAR) AS report FROM ${runsTable} WHERE id IN (${ids.map((_, i) => `$${i + 1}`).join(", ")})`,
    ids,
  );
  for (const row of reader.getRowObjects()) {
    const id = String(row.id);
    const report = JSON.parse(String(row.report)) as RunReport;
    const record = runRecordFromReport(report);
    const evidence = buildEvidence({
      report,
      score: scorer.score(record),
      similar: scorer.similar(record),
      traces: await traceSummariesFor(conn, id),
      cores: report.host === hostName() ? availableParallelism() : undefined,
    });
    const first = explainWithRules(evidence).causes[0];
    if (!first?.kind) continue;
    for (const l of byId.get(id) ?? []) l.cause = { kind: first.kind, text: first.text };
  }
}

function warnFirst(s: RunScore): number {
  return s.flags.some((f) => f.severity === "warn") ? 0 : 1;
}

function trends(scores: readonly RunScore[]): Trend[] {
  const byRoute = new Map<string, RunScore[]>();
  for (const s of scores) (byRoute.get(s.run.route) ?? byRoute.set(s.run.route, []).get(s.run.route)!).push(s);
  const out: Trend[] = [];
  for (const [route, list] of [...byRoute].sort((a, b) => a[0].localeCompare(b[0]))) {
    const sorted = [...list].sort((a, b) => a.run.startedMs - b.run.startedMs);
    const mid = Math.floor(sorted.length / 2);
    if (mid < TREND_MIN_RUNS) {
      out.push({ route, runs: list.length, earlier: null, later: null, direction: "too few runs", text: `${route}: ${countOf(list.length, "run")} in the window; ${2 * TREND_MIN_RUNS} needed for a trend` });
      continue;
    }
    const earlier = half(sorted.slice(0, mid));
    const later = half(sorted.slice(mid));
    const change = later.medianRatio / earlier.medianRatio;
    const direction = change >= TREND_CHANGE ? "slower" : change <= 1 / TREND_CHANGE ? "faster" : "steady";
    const rate = (h: TrendHalf) => (h.medianRateMBps === null ? "" : `, ${formatBytesPerSec(h.medianRateMBps * 1e6)}`);
    out.push({
      route,
      runs: list.length,
      earlier,
      later,
      direction,
      text: `${route}: earlier ${countOf(earlier.runs, "run")} at ${earlier.medianRatio.toFixed(2)}× prediction${rate(earlier)}; later ${countOf(later.runs, "run")} at ${later.medianRatio.toFixed(2)}×${rate(later)}: ${direction}${direction === "steady" ? "" : ` (${change.toFixed(2)}×)`}`,
    });
  }
  return out;
}

function half(list: readonly RunScore[]): TrendHalf {
  const rates = list.filter((s) => s.run.copiedBytes > 0 && s.run.transferMs > 0).map((s) => s.run.copiedBytes / 1e6 / (s.run.transferMs / 1000));
  return {
    runs: list.length,
    from: new Date(list[0]!.run.startedMs).toISOString(),
    to: new Date(list[list.length - 1]!.run.startedMs).toISOString(),
    medianRatio: median(list.map((s) => s.ratio)),
    medianRateMBps: rates.length > 0 ? median(rates) : null,
  };
}

function runLine(s: RunScore): RunLine {
  return { ...s.run, ...verdictOf(s) };
}

export function modelSummary(m: Model): ModelSummary {
  return {
    key: m.key,
    route: m.route,
    sourceFs: m.sourceFs,
    destinationFs: m.destinationFs,
    basis: m.basis,
    terms: m.terms.map((term) => ({ term, msEach: m.coefficients[term] })),
    samples: m.samples,
    trimmed: m.trimmed,
    holdout: m.holdout,
    note: modelNote(m),
  };
}

export function predictionSummary(p: Prediction): PredictionSummary {
  return {
    durationMs: p.durationMs,
    lowMs: p.lowMs,
    highMs: p.highMs,
    unthrottledMs: p.unthrottledMs,
    throttleFloorMs: p.throttleFloorMs ?? null,
    note: p.note,
    model: modelSummary(p.model),
  };
}

async function resolveRunId(conn: DuckDBConnection, id: string | undefined): Promise<string> {
  if (id === undefined) {
    const r = await conn.runAndReadAll("SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1");
    const row = r.getRowObjects()[0];
    if (!row) throw new DiagnoseError("NO_RUNS", "no runs recorded yet");
    return String(row.id);
  }
  const exact = await conn.runAndReadAll("SELECT id FROM runs WHERE id = $1", [id]);
  if (exact.getRowObjects().length > 0) return id;
  if (id.length >= 4) {
    const like = await conn.runAndReadAll("SELECT id FROM runs WHERE starts_with(id, $1) LIMIT 2", [id]);
    const rows = like.getRowObjects();
    if (rows.length === 1) return String(rows[0]!.id);
    if (rows.length > 1) throw new DiagnoseError("RUN_AMBIGUOUS", `run id prefix '${id}' matches more than one run; give more characters`);
  }
  throw new DiagnoseError("RUN_NOT_FOUND", `no run '${id}' in the store (see 'blit diagnostics perf' for recent run ids)`);
}

function whyIneligible(r: RunRecord): string {
  if (r.dryRun) return "a dry run";
  if (r.bwlimit > 0) return "throttled by --bwlimit";
  if (r.checksum) return "--checksum hashes files";
  if (r.status !== "ok") return `status ${r.status}`;
  if (r.totalMs <= 0) return "no duration";
  return unhealthyReason(r) ?? "no duration";
}
