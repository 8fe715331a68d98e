// The duration predictor: per route, and per filesystem pair once there is enough history,
// duration ≈ fixed + per file × files + per byte × bytes (+ per entry scanned, + per directory
// when they earn their place), fitted by least squares on past runs. Its error is measured on
// runs the fit did not see, and with too little history it falls back to documented defaults.
import { median, medianAbsoluteDeviation, quantileSorted } from "simple-statistics";
import type { Route } from "../../engine/index.ts";
import { nonNegativeLeastSquares } from "./least-squares.ts";
import { unhealthyReason } from "./healthy-runs.ts";
import type { RunRecord } from "../store/run-record.ts";

export type TermName = "fixed" | "perFile" | "perByte" | "perEntry" | "perDir";

/** What a run has to do, in the units the terms charge for. */
export interface WorkShape {
  /** Files and symlinks to transfer. */
  files: number;
  /** Bytes to transfer. */
  bytes: number;
  /** Source entries to enumerate (files, directories, symlinks), transferred or not. */
  entries: number;
  dirs: number;
}

export interface TermInfo {
  label: string;
  /** What one unit of the term is. */
  unit: string;
  quantity: (shape: WorkShape) => number;
}

export const TERMS: Readonly<Record<TermName, TermInfo>> = {
  fixed: { label: "fixed cost", unit: "run", quantity: () => 1 },
  perFile: { label: "per file transferred", unit: "file", quantity: (s) => s.files },
  perByte: { label: "per byte transferred", unit: "byte", quantity: (s) => s.bytes },
  perEntry: { label: "per entry enumerated", unit: "entry", quantity: (s) => s.entries },
  perDir: { label: "per directory", unit: "directory", quantity: (s) => s.dirs },
};

const BASE_TERMS: readonly TermName[] = ["fixed", "perFile", "perByte"];
/** Tried in this order; each is kept only if it lowers the hold-out error by MIN_GAIN. */
const OPTIONAL_TERMS: readonly TermName[] = ["perEntry", "perDir"];
const MIN_GAIN = 0.05;
/** ...and only if its quantity per file spans this factor across the history (variesApart). */
const OPTIONAL_SPREAD = 3;

/** Comparable runs needed before a route gets a fitted model. */
export const MIN_ROUTE_RUNS = 8;
/** Runs needed before one filesystem pair gets its own model instead of the route's. */
export const MIN_PAIR_RUNS = 20;
/** Leave-one-out up to this many runs, 10-fold cross-validation beyond. */
const LOO_MAX = 100;
/** Robust z-score (median/MAD of log residuals) beyond which a run is left out of the refit. */
const TRIM_Z = 3.5;
/**
 * A run this much slower than the first fit's median ratio, at this robust z, is left out too: it
 * is what a slow-vs-prediction flag looks like, and a slow run taught to the model raises the bar
 * for the next (one-sided, because a fast run is no sign of contention).
 */
const TRIM_SLOW_RATIO = 1.5;
const TRIM_SLOW_Z = 2;

/**
 * Defaults when a route has too little history. Rough figures for this project's machines
 * (docs/analytics.md): local from the benchmarks (≈0.04 ms per small file, ≈500 MB/s), remote
 * routes assume a 1 Gbit/s link. The band says how little they are worth: 0.25×–4×.
 */
export const DEFAULT_COEFFICIENTS: Readonly<Record<Route, Readonly<Record<TermName, number>>>> = {
  local: { fixed: 60, perFile: 0.04, perByte: 2e-6, perEntry: 0.005, perDir: 0 },
  push: { fixed: 400, perFile: 0.2, perByte: 1e-5, perEntry: 0.01, perDir: 0 },
  pull: { fixed: 400, perFile: 0.2, perByte: 1e-5, perEntry: 0.01, perDir: 0 },
};
export const DEFAULT_BAND = { ratioLow: 0.25, ratioHigh: 4 } as const;

export interface HoldOut {
  method: "leave-one-out" | "10-fold" | "none";
  /** Held-out predictions the figures below come from. */
  runs: number;
  /** Median absolute percentage error on held-out runs, as a fraction (0.12 = 12%); null when unmeasured. */
  mdape: number | null;
  /** 10th and 90th percentile of actual/predicted on held-out runs: the 80% band. */
  ratioLow: number;
  ratioHigh: number;
}

export interface Model {
  /** "local" for a route-wide model, "local ext4->xfs" for one filesystem pair. */
  key: string;
  route: Route;
  /** "*" in a route-wide model. */
  sourceFs: string;
  destinationFs: string;
  basis: "fitted" | "default";
  terms: TermName[];
  /** Milliseconds per unit of each term; 0 for a term not in `terms`. */
  coefficients: Record<TermName, number>;
  /** Runs the fit used (after trimming) and runs it left out as outliers. */
  samples: number;
  trimmed: number;
  holdout: HoldOut;
}

export interface Predictor {
  /** Fitted models: route-wide ones, and pair ones where the pair has enough runs. */
  models: Model[];
}

export interface PredictedTerm {
  term: TermName;
  label: string;
  quantity: number;
  unit: string;
  msEach: number;
  ms: number;
}

export interface Prediction {
  durationMs: number;
  /** The model's 80% band (held-out ratios applied to durationMs). */
  lowMs: number;
  highMs: number;
  /** The duration without any bandwidth limit. */
  unthrottledMs: number;
  /** With --bwlimit: fixed cost + bytes / limit; the run cannot be faster than this. */
  throttleFloorMs?: number;
  model: Model;
  terms: PredictedTerm[];
  /** One sentence saying what the prediction rests on (history, or defaults). */
  note: string;
}

export function shapeOf(run: Pick<RunRecord, "planned" | "plannedBytes" | "files" | "dirs" | "symlinks">): WorkShape {
  return { files: run.planned, bytes: run.plannedBytes, entries: run.files + run.dirs + run.symlinks, dirs: run.dirs };
}

/**
 * Runs the predictor learns from: complete, real, unthrottled runs. Dry runs move nothing,
 * --bwlimit sets the pace by decree, --checksum adds hashing the terms do not describe, and a
 * failed or interrupted run stopped early.
 */
export function eligibleForFit(run: RunRecord): boolean {
  return run.status === "ok" && !run.dryRun && !(run.bwlimit > 0) && !run.checksum && run.totalMs > 0;
}

/**
 * Runs the predictor and the "similar runs" reference learn from: eligible (above) and healthy
 * (healthy-runs.ts: no contention, no tracer, no errors, no sync or loop device unless `like`, the
 * run being judged, is on the same).
 */
export function learnsFrom(run: RunRecord, like?: Pick<RunRecord, "context">): boolean {
  return eligibleForFit(run) && unhealthyReason(run, like) === undefined;
}

export function groupKey(route: string, sourceFs?: string, destinationFs?: string): string {
  return sourceFs === undefined || sourceFs === "*" ? route : `${route} ${sourceFs}->${destinationFs}`;
}

/** Fits every route and every filesystem pair that has enough healthy runs (learnsFrom; `like`: the run to be judged). */
export function fitPredictor(history: readonly RunRecord[], like?: Pick<RunRecord, "context">): Predictor {
  const byRoute = new Map<string, RunRecord[]>();
  const byPair = new Map<string, RunRecord[]>();
  for (const run of history) {
    if (!learnsFrom(run, like)) continue;
    push(byRoute, run.route, run);
    push(byPair, groupKey(run.route, run.sourceFs, run.destinationFs), run);
  }
  const models: Model[] = [];
  for (const [route, runs] of byRoute) {
    const m = fitModel(runs, route as Route, "*", "*");
    if (m) models.push(m);
  }
  for (const runs of byPair.values()) {
    // A pair that holds all of its route's runs would only repeat the route's model.
    if (runs.length < MIN_PAIR_RUNS || runs.length === byRoute.get(runs[0]!.route)?.length) continue;
    const first = runs[0]!;
    const m = fitModel(runs, first.route, first.sourceFs, first.destinationFs);
    if (m) models.push(m);
  }
  return { models };
}

/** The most specific model for a route and filesystem pair: the pair's, the route's, or the default. */
export function modelFor(predictor: Predictor, route: Route, sourceFs: string, destinationFs: string): Model {
  return (
    predictor.models.find((m) => m.route === route && m.sourceFs === sourceFs && m.destinationFs === destinationFs) ??
    predictor.models.find((m) => m.route === route && m.sourceFs === "*") ??
    defaultModel(route)
  );
}

export function defaultModel(route: Route): Model {
  const coefficients = { ...(DEFAULT_COEFFICIENTS[route] ?? DEFAULT_COEFFICIENTS.local) };
  return {
    key: route,
    route,
    sourceFs: "*",
    destinationFs: "*",
    basis: "default",
    terms: ["fixed", "perFile", "perByte", "perEntry"],
    coefficients,
    samples: 0,
    trimmed: 0,
    holdout: { method: "none", runs: 0, mdape: null, ...DEFAULT_BAND },
  };
}

/** The model's estimate for a shape; `bwlimit` (bytes/s) adds the floor a limit imposes. */
export function predictShape(model: Model, shape: WorkShape, bwlimit = 0): Prediction {
  const terms = model.terms.map((term) => {
    const quantity = TERMS[term].quantity(shape);
    const msEach = model.coefficients[term];
    return { term, label: TERMS[term].label, quantity, unit: TERMS[term].unit, msEach, ms: quantity * msEach };
  });
  const unthrottledMs = terms.reduce((a, t) => a + t.ms, 0);
  const throttleFloorMs = bwlimit > 0 ? model.coefficients.fixed + (shape.bytes / bwlimit) * 1000 : undefined;
  const durationMs = Math.max(unthrottledMs, throttleFloorMs ?? 0);
  return {
    durationMs,
    lowMs: durationMs * model.holdout.ratioLow,
    highMs: durationMs * model.holdout.ratioHigh,
    unthrottledMs,
    ...(throttleFloorMs !== undefined ? { throttleFloorMs } : {}),
    model,
    terms,
    note: modelNote(model),
  };
}

/** What a model rests on, in one sentence, for every report that shows a prediction. */
export function modelNote(model: Model): string {
  if (model.basis === "default") {
    return `default coefficients for route ${model.route}: fewer than ${MIN_ROUTE_RUNS} comparable runs recorded, so this is a rough guess (${fmtRatio(model.holdout.ratioLow)}–${fmtRatio(model.holdout.ratioHigh)})`;
  }
  const h = model.holdout;
  const err = h.mdape === null ? "hold-out error not measured" : `hold-out MdAPE ${(h.mdape * 100).toFixed(0)}% (${h.method}, ${h.runs} runs)`;
  return `fitted on ${model.samples} ${model.key} runs${model.trimmed ? ` (${model.trimmed} outliers left out)` : ""}; ${err}; 80% of held-out runs within ${fmtRatio(h.ratioLow)}–${fmtRatio(h.ratioHigh)} of the prediction`;
}

function fmtRatio(r: number): string {
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`;
}

// ---- fitting ----

interface Fitted {
  coefficients: Record<TermName, number>;
  samples: number;
  trimmed: number;
}

function fitModel(runs: RunRecord[], route: Route, sourceFs: string, destinationFs: string): Model | undefined {
  if (runs.length < MIN_ROUTE_RUNS) return undefined;
  let terms: TermName[] = [...BASE_TERMS];
  let best = crossValidate(runs, terms);
  // Forward selection: an optional term stays only if held-out error drops by MIN_GAIN.
  for (const extra of OPTIONAL_TERMS) {
    if (runs.length < 4 * (terms.length + 1)) break;
    if (!variesApart(runs, extra)) continue;
    const trial = [...terms, extra];
    const cv = crossValidate(runs, trial);
    if (cv.mdape !== null && best.mdape !== null && cv.mdape < best.mdape * (1 - MIN_GAIN)) {
      terms = trial;
      best = cv;
    }
  }
  const fit = fitRobust(runs, terms);
  if (!fit) return undefined;
  return {
    key: groupKey(route, sourceFs, destinationFs),
    route,
    sourceFs,
    destinationFs,
    basis: "fitted",
    terms,
    coefficients: fit.coefficients,
    samples: fit.samples,
    trimmed: fit.trimmed,
    holdout: best,
  };
}

/**
 * Whether the history tells `term` apart from the per-file term: its quantity per file (directories
 * per file, entries per file) spans at least OPTIONAL_SPREAD between the runs. Where every run has
 * the same tree's proportions, a per-directory cost is only a share of the per-file cost under
 * another name, and a tree with ten times the directories per file would be predicted ten times
 * too slow (1,600 nested directories: 4.70 s predicted, 0.57 s taken, docs/benchmarks.md).
 */
function variesApart(runs: readonly RunRecord[], term: TermName): boolean {
  const perFile = runs.map((r) => {
    const s = shapeOf(r);
    return TERMS[term].quantity(s) / Math.max(1, s.files);
  });
  const lo = Math.min(...perFile);
  const hi = Math.max(...perFile);
  return hi > 0 && hi >= OPTIONAL_SPREAD * Math.max(lo, 1e-9);
}

/** Least squares on relative error (weights 1/y²), then once more without runs far off the first fit. */
function fitRobust(runs: readonly RunRecord[], terms: readonly TermName[]): Fitted | undefined {
  const first = fitPlain(runs, terms);
  if (!first) return undefined;
  const logs = runs.map((r) => Math.log(r.totalMs / Math.max(1e-3, evaluate(first, terms, shapeOf(r)))));
  const med = median(logs);
  const scale = 1.4826 * medianAbsoluteDeviation(logs);
  if (!(scale > 0)) return { coefficients: first, samples: runs.length, trimmed: 0 };
  const kept = runs.filter((_, i) => {
    const z = (logs[i]! - med) / scale;
    return Math.abs(z) <= TRIM_Z && !(z >= TRIM_SLOW_Z && logs[i]! - med >= Math.log(TRIM_SLOW_RATIO));
  });
  if (kept.length === runs.length || kept.length < Math.max(terms.length + 2, MIN_ROUTE_RUNS)) {
    return { coefficients: first, samples: runs.length, trimmed: 0 };
  }
  const second = fitPlain(kept, terms);
  return second
    ? { coefficients: second, samples: kept.length, trimmed: runs.length - kept.length }
    : { coefficients: first, samples: runs.length, trimmed: 0 };
}

function fitPlain(runs: readonly RunRecord[], terms: readonly TermName[]): Record<TermName, number> | undefined {
  const X = runs.map((r) => {
    const s = shapeOf(r);
    return terms.map((t) => TERMS[t].quantity(s));
  });
  const y = runs.map((r) => r.totalMs);
  // Relative error: a 100 ms run counts as much as a 10 min one. Weights 1/y² first, then once
  // more with 1/ŷ² from that fit, because 1/y² alone favours predicting low (one reweighting
  // step of the usual fit for errors proportional to the mean).
  let fit = nonNegativeLeastSquares(X, y, y.map((v) => 1 / Math.max(10, v) ** 2));
  if (!fit) return undefined;
  const first = fit.coefficients;
  const yHat = X.map((row) => row.reduce((a, x, j) => a + x * first[j]!, 0));
  fit = nonNegativeLeastSquares(X, y, yHat.map((v) => 1 / Math.max(10, v) ** 2)) ?? fit;
  const coefficients: Record<TermName, number> = { fixed: 0, perFile: 0, perByte: 0, perEntry: 0, perDir: 0 };
  terms.forEach((t, j) => (coefficients[t] = fit.coefficients[j]!));
  return coefficients;
}

function evaluate(coefficients: Record<TermName, number>, terms: readonly TermName[], shape: WorkShape): number {
  let ms = 0;
  for (const t of terms) ms += coefficients[t] * TERMS[t].quantity(shape);
  return ms;
}

/** Hold-out error: each run predicted by a fit (trimming included) that never saw it. */
function crossValidate(runs: readonly RunRecord[], terms: readonly TermName[]): HoldOut {
  const loo = runs.length <= LOO_MAX;
  const folds = loo ? runs.length : 10;
  const ratios: number[] = [];
  for (let f = 0; f < folds; f++) {
    const train = runs.filter((_, i) => i % folds !== f);
    const test = runs.filter((_, i) => i % folds === f);
    const fit = fitRobust(train, terms);
    if (!fit) continue;
    for (const r of test) {
      const p = evaluate(fit.coefficients, terms, shapeOf(r));
      if (p > 0) ratios.push(r.totalMs / p);
    }
  }
  if (ratios.length === 0) return { method: "none", runs: 0, mdape: null, ...DEFAULT_BAND };
  const sorted = [...ratios].sort((a, b) => a - b);
  // |actual − predicted| / actual, the usual MAPE orientation.
  const ape = ratios.map((q) => Math.abs(1 - 1 / q));
  return {
    method: loo ? "leave-one-out" : "10-fold",
    runs: ratios.length,
    mdape: median(ape),
    ratioLow: quantileSorted(sorted, 0.1),
    ratioHigh: quantileSorted(sorted, 0.9),
  };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
