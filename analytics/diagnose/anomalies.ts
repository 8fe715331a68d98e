// Anomaly flags: a run far from its prediction (a robust score: median and MAD of log residuals
// over similar runs), phases with an unusual share, throughput far below the route's usual, a
// throttle that set the pace, and errors. Thresholds are named constants, documented in
// docs/analytics.md.
import { median, medianAbsoluteDeviation } from "simple-statistics";
import { learnsFrom, modelFor, predictShape, shapeOf, type Model, type Prediction, type Predictor } from "../predict/predictor.ts";
import type { RunRecord, RunVerdict } from "../store/run-record.ts";
import { countOf, formatBytes, formatBytesPerSec, formatDuration, MIB } from "../store/human-units.ts";

export type FlagKind =
  | "slow-vs-prediction"
  | "enumeration-heavy"
  | "delete-heavy"
  | "throughput-collapse"
  | "throttled"
  | "errors";

export interface Flag {
  kind: FlagKind;
  /** warn: worth a look; info: explained by the run's own settings or in the good direction. */
  severity: "warn" | "info";
  /** One sentence with the numbers. */
  text: string;
  value: number;
  unit: string;
}

/** Robust score beyond which a run counts as far from its prediction (Iglewicz & Hoaglin). */
export const SCORE_LIMIT = 3.5;
/** ...and it must also be this far off its peers in plain ratio, and by this many ms. */
export const MIN_RATIO = 1.5;
export const MIN_EXCESS_MS = 200;
/** Reference residuals needed for a score; below it, no score and no flag. */
export const MIN_REFERENCE = 8;
/** Floor under 1.4826·MAD (log units, ≈5%), so identical histories do not make every wobble infinite. */
const MIN_SCALE = 0.05;
/** Phase-share flags: the phase's share, the run's length, and the excess over similar runs. */
const ENUM_SHARE = 0.5;
const DELETE_SHARE = 0.3;
const PHASE_MIN_TOTAL_MS = 1000;
const ENUM_SHARE_EXCESS = 0.25;
const DELETE_SHARE_EXCESS = 0.2;
/** Throughput: measured only on runs that moved this much, flagged below this part of the usual. */
const RATE_MIN_BYTES = 8e6;
const RATE_MIN_MS = 200;
const RATE_COLLAPSE = 0.25;
const RATE_MIN_PEERS = 5;
/** A throttled run moves at least this part of its limit. */
const THROTTLE_SHARE = 0.7;

export interface Reference {
  /** similar: same model group and size bucket; group: the whole model group; none: too few runs. */
  scope: "similar" | "group" | "none";
  runs: number;
  /** Median of actual/predicted among the reference runs. */
  medianRatio: number | null;
  /** 1.4826·MAD of their log residuals (after the floor). */
  scale: number | null;
  medianEnumerateShare: number | null;
  medianDeleteShare: number | null;
}

export interface RunScore {
  run: RunRecord;
  model: Model;
  prediction: Prediction;
  /** actual / unthrottled prediction. */
  ratio: number;
  /** actual / (prediction × the reference's median ratio): how far off its peers. */
  peerRatio: number;
  /** Robust z of the log residual; null without a reference. */
  score: number | null;
  reference: Reference;
  /** Median transfer rate (bytes/s) of the group's runs that moved RATE_MIN_BYTES, and how many. */
  usualRate: { bytesPerSec: number; runs: number } | null;
  flags: Flag[];
}

/** The part of a score a run list or a history report shows beside the run. */
export function verdictOf(s: RunScore): RunVerdict {
  return {
    prediction: { durationMs: s.prediction.durationMs, lowMs: s.prediction.lowMs, highMs: s.prediction.highMs },
    peerRatio: s.peerRatio,
    score: s.score,
    flags: s.flags,
  };
}

interface Stats {
  runs: RunRecord[];
  logs: number[];
  medianLog: number;
  scale: number;
  enumShare: number;
  deleteShare: number;
}

/** Scores runs against a predictor and the history it was fitted on. */
export class Scorer {
  private readonly buckets = new Map<string, RunRecord[]>();
  private readonly groups = new Map<string, RunRecord[]>();
  private readonly stats = new Map<string, Stats | null>();
  private readonly rates = new Map<string, { bytesPerSec: number; runs: number } | null>();
  private readonly predictions = new Map<string, Prediction>();

  /** `like`: the run to be judged, when there is one (its own unusual device setup makes peers of runs on it). */
  constructor(
    readonly predictor: Predictor,
    history: readonly RunRecord[],
    like?: Pick<RunRecord, "context">,
  ) {
    for (const run of history) {
      if (!learnsFrom(run, like)) continue;
      const model = this.modelOf(run);
      add(this.groups, groupKeyOf(model, run), run);
      add(this.buckets, bucketKey(model, run), run);
    }
  }

  modelOf(run: RunRecord): Model {
    return modelFor(this.predictor, run.route, run.sourceFs, run.destinationFs);
  }

  /** Eligible runs of the same model group and size bucket (files and bytes within a factor of ~4). */
  similar(run: RunRecord): RunRecord[] {
    return (this.buckets.get(bucketKey(this.modelOf(run), run)) ?? []).filter((r) => r.id !== run.id);
  }

  private predict(run: RunRecord, model: Model): Prediction {
    let p = this.predictions.get(run.id);
    if (!p) {
      p = predictShape(model, shapeOf(run), run.bwlimit);
      this.predictions.set(run.id, p);
    }
    return p;
  }

  private statsOf(key: string, runs: RunRecord[] | undefined, model: Model): Stats | null {
    if (this.stats.has(key)) return this.stats.get(key)!;
    let s: Stats | null = null;
    if (runs && runs.length >= MIN_REFERENCE) {
      const logs = runs.map((r) => Math.log(r.totalMs / Math.max(1e-3, this.predict(r, model).unthrottledMs)));
      s = {
        runs,
        logs,
        medianLog: median(logs),
        scale: Math.max(MIN_SCALE, 1.4826 * medianAbsoluteDeviation(logs)),
        enumShare: median(runs.map((r) => share(r.enumerateMs, r.totalMs))),
        deleteShare: median(runs.map((r) => share(r.deleteMs, r.totalMs))),
      };
    }
    this.stats.set(key, s);
    return s;
  }

  /**
   * The usual transfer rate of the group's runs whose files were of the same size class as `run`'s:
   * bytes/s is only comparable like with like (80,000 files of 1 KiB never move at the rate of a
   * few large files).
   */
  private usualRate(model: Model, run: RunRecord): { bytesPerSec: number; runs: number } | null {
    const key = `${groupKeyOf(model, run)}|${sizeClass(run)}`;
    if (this.rates.has(key)) return this.rates.get(key)!;
    const rates = (this.groups.get(groupKeyOf(model, run)) ?? [])
      .filter((r) => r.copiedBytes >= RATE_MIN_BYTES && r.transferMs >= RATE_MIN_MS && sizeClass(r) === sizeClass(run))
      .map((r) => r.copiedBytes / (r.transferMs / 1000));
    const value = rates.length >= RATE_MIN_PEERS ? { bytesPerSec: median(rates), runs: rates.length } : null;
    this.rates.set(key, value);
    return value;
  }

  score(run: RunRecord): RunScore {
    const model = this.modelOf(run);
    const prediction = this.predict(run, model);
    const bucket = bucketKey(model, run);
    // The model's own history is no reference when it is the default: it saw nothing.
    const similar = model.basis === "fitted" ? this.statsOf(bucket, this.buckets.get(bucket), model) : null;
    const group = similar ?? (model.basis === "fitted" ? this.statsOf(`group:${groupKeyOf(model, run)}`, this.groups.get(groupKeyOf(model, run)), model) : null);
    const ratio = run.totalMs / Math.max(1e-3, prediction.unthrottledMs);
    const log = Math.log(ratio);
    const score = group ? (log - group.medianLog) / group.scale : null;
    const peerRatio = group ? Math.exp(log - group.medianLog) : ratio;
    const reference: Reference = {
      scope: similar ? "similar" : group ? "group" : "none",
      runs: group?.runs.length ?? 0,
      medianRatio: group ? Math.exp(group.medianLog) : null,
      scale: group?.scale ?? null,
      medianEnumerateShare: group?.enumShare ?? null,
      medianDeleteShare: group?.deleteShare ?? null,
    };
    const usualRate = this.usualRate(model, run);
    const expected = prediction.unthrottledMs * (reference.medianRatio ?? 1);
    const flags: Flag[] = [];
    if (score !== null && score >= SCORE_LIMIT && peerRatio >= MIN_RATIO && run.totalMs - expected >= MIN_EXCESS_MS) {
      flags.push({
        kind: "slow-vs-prediction",
        severity: run.bwlimit > 0 ? "info" : "warn",
        text: `took ${formatDuration(run.totalMs)}, ${peerRatio.toFixed(1)}× what similar runs take (${formatDuration(expected)}); robust score ${score.toFixed(1)}`,
        value: score,
        unit: "score",
      });
    }
    // A run far faster than its peers gets no flag: nothing there needs explaining (the score and
    // peerRatio still say it, and the run report notes it). On a machine whose speed drifts, the
    // ordinary runs of its fast hours were flagged (docs/benchmarks.md, diagnosis benchmark).
    const enumShare = share(run.enumerateMs, run.totalMs);
    if (
      enumShare >= ENUM_SHARE && run.totalMs >= PHASE_MIN_TOTAL_MS &&
      (reference.medianEnumerateShare === null || enumShare - reference.medianEnumerateShare >= ENUM_SHARE_EXCESS)
    ) {
      flags.push({
        kind: "enumeration-heavy",
        severity: "warn",
        text: `enumeration took ${pct(enumShare)} of the run${reference.medianEnumerateShare === null ? "" : ` (similar runs: ${pct(reference.medianEnumerateShare)})`}`,
        value: enumShare * 100,
        unit: "%",
      });
    }
    const deleteShare = share(run.deleteMs, run.totalMs);
    if (
      run.deleted > 0 && deleteShare >= DELETE_SHARE && run.totalMs >= PHASE_MIN_TOTAL_MS &&
      (reference.medianDeleteShare === null || deleteShare - reference.medianDeleteShare >= DELETE_SHARE_EXCESS)
    ) {
      flags.push({
        kind: "delete-heavy",
        severity: "warn",
        text: `deleting ${countOf(run.deleted, "entry", "entries")} took ${pct(deleteShare)} of the run`,
        value: deleteShare * 100,
        unit: "%",
      });
    }
    const rate = run.transferMs > 0 ? run.copiedBytes / (run.transferMs / 1000) : 0;
    if (
      !(run.bwlimit > 0) && usualRate && run.copiedBytes >= RATE_MIN_BYTES && run.transferMs >= RATE_MIN_MS &&
      rate < RATE_COLLAPSE * usualRate.bytesPerSec &&
      // ...and slow for its shape too: a run that kept to its prediction did not collapse.
      peerRatio >= MIN_RATIO
    ) {
      flags.push({
        kind: "throughput-collapse",
        severity: "warn",
        text: `moved ${formatBytesPerSec(rate)}, ${pct(rate / usualRate.bytesPerSec)} of the usual ${formatBytesPerSec(usualRate.bytesPerSec)} on ${model.sourceFs === "*" ? `${model.key} ${run.sourceFs}->${run.destinationFs}` : model.key} for files of ${sizeClassText(run)} (median of ${usualRate.runs} runs)`,
        value: rate / MIB,
        unit: "MiB/s",
      });
    }
    if (run.bwlimit > 0 && run.copiedBytes > 0 && rate >= THROTTLE_SHARE * run.bwlimit) {
      flags.push({
        kind: "throttled",
        severity: "info",
        text: `moved ${formatBytesPerSec(rate)} against --bwlimit ${formatBytesPerSec(run.bwlimit)} (${pct(rate / run.bwlimit)} of the limit)`,
        value: rate / run.bwlimit,
        unit: "× limit",
      });
    }
    if (run.errorCount > 0 || (run.status !== "ok" && (run.status as string) !== "")) {
      flags.push({
        kind: "errors",
        severity: "warn",
        text: `status ${run.status} with ${countOf(run.errorCount, "error")}`,
        value: run.errorCount,
        unit: "errors",
      });
    }
    return { run, model, prediction, ratio, peerRatio, score, reference, usualRate, flags };
  }
}

/** Files and bytes in factor-of-4 bins: runs in one bin are "similar" in shape. */
function bucketKey(model: Model, run: RunRecord): string {
  const bin = (x: number) => Math.round(Math.log(x + 1) / Math.log(4));
  return `${groupKeyOf(model, run)}|${bin(run.planned)}|${bin(run.plannedBytes)}`;
}

/**
 * The runs a run is compared with: its model's, and of its own filesystem pair even where the
 * model is the route's. Like with like: a clone within XFS is no peer of copies between ext4
 * filesystems, though one route model predicts both until the pair has a model of its own.
 */
function groupKeyOf(model: Model, run: RunRecord): string {
  return `${model.key}|${run.sourceFs}->${run.destinationFs}`;
}

/** Mean size of the files a run copied, in factor-of-4 classes (0: under ~2 B ... 6: ~2-8 KiB). */
function sizeClass(run: RunRecord): number {
  return run.copied > 0 ? Math.round(Math.log(run.copiedBytes / run.copied + 1) / Math.log(4)) : -1;
}

function sizeClassText(run: RunRecord): string {
  const c = sizeClass(run);
  return `about ${formatBytes(4 ** (c - 0.5))}–${formatBytes(4 ** (c + 0.5))} each`;
}

function share(part: number, total: number): number {
  return total > 0 ? Math.min(1, Math.max(0, part / total)) : 0;
}

function pct(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

function add<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
