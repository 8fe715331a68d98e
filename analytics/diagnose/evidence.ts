// The evidence bundle of one run: numbered facts (E1, E2, ...) with values and units. Explainers
// (rules here, an LLM later) may only claim what these facts say, and must cite them by id.
import { median } from "simple-statistics";
import type { RunReport } from "../../engine/index.ts";
import type { RunScore } from "./anomalies.ts";
import { countOf, formatBytes, formatBytesPerSec, formatDuration, formatTime, MIB } from "../store/human-units.ts";
import type { RunRecord } from "../store/run-record.ts";
import { addContextEvidence } from "./context-evidence.ts";
import { addTraceEvidence } from "./trace-evidence.ts";
import type { TraceFacts } from "../store/trace-summaries.ts";
import type { TunedSetting } from "../predict/tuned-settings.ts";

export interface Evidence {
  /** "E1", "E2", ...: what explanations cite. */
  id: string;
  /** Stable machine name of the fact, e.g. "phase.enumerate", "options.bwlimit". */
  key: string;
  label: string;
  value: number | string | boolean;
  /** "ms", "bytes", "files", "%", "MiB/s", "files/s", "bytes/s", "×", "score", "workers", "" ... */
  unit: string;
  /** The fact as one sentence, numbers included. */
  text: string;
  /**
   * The numbers (and names) behind `text`, for facts that carry more than one (a process's files,
   * events and seconds in a trace). Never paths: those are only in `text`, where --redact finds them.
   */
  parts?: Record<string, number | string>;
}

export interface EvidenceInput {
  report: RunReport;
  score: RunScore;
  /** Runs of the same model group and size bucket (the run itself excluded). */
  similar: readonly RunRecord[];
  /** The latest `blit tune` result for this route and filesystem pair, applied or not. */
  tuned?: TunedSetting;
  /** Traces linked to the run (see trace-summaries.ts), oldest first. */
  traces?: readonly TraceFacts[];
  /** CPU cores of the machine that ran it, when known (diagnosed on the same host). */
  cores?: number;
}

const n = (x: number) => Math.round(x).toLocaleString("en-US");
const pct = (x: number) => `${Math.round(x * 100)}%`;
// Rates as values are MiB/s (the unit --bwlimit and every human figure use); the text says it the same way.
const mib = (bytesPerSec: number) => bytesPerSec / MIB;
const round = (x: number, digits = 2) => Number(x.toFixed(digits));

/** Builds the numbered facts for one run, in a fixed order. */
export function buildEvidence(input: EvidenceInput): Evidence[] {
  const { report: r, score } = input;
  const out: Evidence[] = [];
  const add = (key: string, label: string, value: Evidence["value"], unit: string, text: string, parts?: Evidence["parts"]) =>
    out.push({
      id: `E${out.length + 1}`, key, label, value: typeof value === "number" ? round(value, 3) : value, unit, text,
      ...(parts ? { parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, typeof v === "number" ? round(v, 3) : v])) } : {}),
    });
  const w = r.workload;
  const p = r.phases;
  const c = r.counts;

  add("run", "run", r.id, "", `${r.command} on route ${r.route}, ${r.source} -> ${r.destination}, started ${formatTime(r.startedAt)}, status ${r.status}`, { command: r.command, route: r.route });
  // The paths as values, so that suggestions can be commands with the run's real paths.
  add("run.source", "source", r.source, "", `the source was ${r.source}`);
  add("run.destination", "destination", r.destination, "", `the destination was ${r.destination}`);
  add("fs.pair", "filesystems", `${r.sourceFs}->${r.destinationFs}`, "", `source filesystem ${r.sourceFs}, destination filesystem ${r.destinationFs}${r.sourceFs !== r.destinationFs ? " (different filesystems)" : ""}`);
  add("workload.files", "source files", w.files, "files", `source: ${countOf(w.files, "file")} in ${countOf(w.dirs, "directory", "directories")}, ${countOf(w.symlinks, "symlink")}`);
  add("workload.bytes", "source bytes", w.bytes, "bytes", `source holds ${formatBytes(w.bytes)} (${n(w.bytes)} bytes), ${w.files > 0 ? formatBytes(w.bytes / w.files) : "0 B"} per file on average`);
  const small = (w.sizeHistogram["<4K"] ?? 0) + (w.sizeHistogram["<64K"] ?? 0);
  if (w.files > 0) add("workload.small-files", "files under 64 KiB", (small / w.files) * 100, "%", `${n(small)} of ${n(w.files)} source files (${pct(small / w.files)}) are under 64 KiB`);
  add("counts.transferred", "files transferred", c.copied, "files", `transferred ${n(c.copied)} of ${n(c.planned)} planned files (${formatBytes(c.copiedBytes)}); ${n(c.skipped)} unchanged`);
  if (r.command === "mirror" && (c.deletePlanned > 0 || c.deleted > 0)) {
    add("counts.deleted", "entries deleted", c.deleted, "entries", `deleted ${n(c.deleted)} of ${n(c.deletePlanned)} extraneous destination entries`);
  }
  add("duration.total", "total duration", p.totalMs, "ms", `the run took ${formatDuration(p.totalMs)}`);
  const phases = [["enumerate", p.enumerateMs], ["plan", p.planMs], ["transfer", p.transferMs], ["delete", p.deleteMs]] as const;
  for (const [name, ms] of phases) {
    const share = p.totalMs > 0 ? ms / p.totalMs : 0;
    add(`phase.${name}`, `${name} phase`, ms, "ms", `${name} took ${formatDuration(ms)}, ${pct(share)} of the run`);
  }
  for (const [name, ms] of phases) {
    add(`share.${name}`, `${name} share`, p.totalMs > 0 ? (ms / p.totalMs) * 100 : 0, "%", `${name} share of the run: ${pct(p.totalMs > 0 ? ms / p.totalMs : 0)}`);
  }
  if (c.copiedBytes > 0 && p.transferMs > 0) {
    const rate = c.copiedBytes / (p.transferMs / 1000);
    add("rate.transfer", "transfer rate", mib(rate), "MiB/s", `transfer phase moved ${formatBytesPerSec(rate)} (${formatBytes(c.copiedBytes)} in ${formatDuration(p.transferMs)})`);
  }
  if (c.copied > 0 && p.transferMs > 0) {
    add("rate.files", "file rate", c.copied / (p.transferMs / 1000), "files/s", `transfer phase handled ${n(c.copied / (p.transferMs / 1000))} files/s`);
  }
  const entries = w.files + w.dirs + w.symlinks;
  if (entries > 0 && p.enumerateMs > 0) {
    add("rate.enumerate", "enumeration rate", entries / (p.enumerateMs / 1000), "entries/s", `enumeration walked ${n(entries)} source entries (and the destination) at ${n(entries / (p.enumerateMs / 1000))} entries/s`);
  }
  add("options.workers", "workers", r.plan.workers, "workers", `${countOf(r.plan.workers, "worker")} used, ${r.options.workers} requested (--workers)`);
  // The CPU count recorded with the run wins over one looked up now (which is only this machine's).
  const cores = r.context?.cpuCount ?? input.cores;
  if (cores !== undefined) add("machine.cores", "CPU cores", cores, "cores", `the machine has ${countOf(cores, "CPU core")}`);
  if (r.options.bwlimit > 0) {
    add("options.bwlimit", "bandwidth limit", r.options.bwlimit, "bytes/s", `--bwlimit was ${n(r.options.bwlimit)} bytes/s (${formatBytesPerSec(r.options.bwlimit)})`);
  }
  const set = [
    r.options.checksum && "--checksum",
    r.options.sizeOnly && "--size-only",
    r.options.ignoreTimes && "--ignore-times",
    r.options.dryRun && "--dry-run",
    r.options.exclude.length > 0 && countOf(r.options.exclude.length, "--exclude pattern"),
  ].filter(Boolean) as string[];
  if (set.length > 0) add("options.other", "other options", set.join(", "), "", `options set: ${set.join(", ")}`);
  for (const [path, bytes] of Object.entries(r.bytesByPath).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))) {
    const files = r.filesByPath[path as keyof typeof r.filesByPath] ?? 0;
    const share = c.copiedBytes > 0 ? (bytes ?? 0) / c.copiedBytes : 0;
    add(`fastpath.${path}`, `bytes by ${path}`, bytes ?? 0, "bytes", `${path} carried ${formatBytes(bytes ?? 0)} (${pct(share)} of the bytes) in ${countOf(files, "file")}`);
  }
  for (const [path, note] of Object.entries(r.fastPathNotes)) {
    add(`fastpath-note.${path}`, `why not ${path}`, note, "", `fast path ${path} not taken: ${note}`);
  }
  if (r.errorCount > 0) {
    const codes = [...new Set(r.errors.map((e) => e.code))].slice(0, 5).join(", ");
    // The text of the first errors, so that diagnose and the TUI show what went wrong, not only a count.
    const shown = r.errors.slice(0, 3).map((e) => (e.side === "run" ? e.message : `${e.side} ${e.path}: ${e.message}`));
    const more = r.errorCount > shown.length ? `; and ${n(r.errorCount - shown.length)} more` : "";
    add("errors", "errors", r.errorCount, "errors", `${countOf(r.errorCount, "error")} (${codes})${shown.length ? `: ${shown.join("; ")}${more}` : ""}`);
  }

  if (r.context) addContextEvidence(add, r.context, p.totalMs);

  // Prediction and how far the run was from it.
  const pr = score.prediction;
  const m = score.model;
  add("prediction", "predicted duration", pr.durationMs, "ms", `predicted ${formatDuration(pr.durationMs)}, 80% band ${formatDuration(pr.lowMs)}–${formatDuration(pr.highMs)}; ${pr.note}`);
  if (pr.throttleFloorMs !== undefined) {
    add("prediction.unthrottled", "predicted without the limit", pr.unthrottledMs, "ms", `without --bwlimit the model predicts ${formatDuration(pr.unthrottledMs)}`);
    add("prediction.throttle-floor", "floor set by the limit", pr.throttleFloorMs, "ms", `at the limit, ${formatBytes(r.counts.plannedBytes)} cannot take less than ${formatDuration(pr.throttleFloorMs)}`);
  }
  for (const t of pr.terms) {
    if (t.term === "fixed") continue;
    add(`prediction.term.${t.term}`, `predicted ${t.label}`, t.ms, "ms", `of the prediction, ${formatDuration(t.ms)} is ${t.label} (${n(t.quantity)} × ${t.msEach.toPrecision(3)} ms)`);
  }
  add("prediction.model", "model", m.basis === "fitted" ? m.key : `${m.route} (default)`, "", modelSentence(score));
  add("prediction.ratio", "actual / predicted", score.ratio, "×", `the run took ${score.ratio.toFixed(2)}× the ${pr.throttleFloorMs !== undefined ? "unthrottled " : ""}prediction`);
  // What runs like this one take: the (unthrottled) prediction times the reference's median ratio.
  const expected = pr.unthrottledMs * (score.reference.medianRatio ?? 1);
  add(
    "prediction.expected",
    "what runs like this take",
    expected,
    "ms",
    score.reference.medianRatio !== null
      ? `runs like this one take about ${formatDuration(expected)} (the ${pr.throttleFloorMs !== undefined ? "unthrottled " : ""}prediction × the median ratio ${score.reference.medianRatio.toFixed(2)} of ${score.reference.runs} healthy reference runs); this run took ${score.peerRatio.toFixed(2)}× that`
      : `without a reference of healthy runs, the ${pr.throttleFloorMs !== undefined ? "unthrottled " : ""}prediction (${formatDuration(expected)}) is what runs like this take; this run took ${score.peerRatio.toFixed(2)}× that`,
    { peerRatio: score.peerRatio, bandHighMs: pr.highMs, bandLowMs: pr.lowMs },
  );
  if (score.score !== null) {
    const ref = score.reference;
    add("prediction.score", "robust score", score.score, "score", `robust score ${score.score.toFixed(1)}: log(actual/predicted) against the median and MAD of ${ref.runs} ${ref.scope === "similar" ? "similar runs" : `${m.key} runs`} (median ratio ${ref.medianRatio!.toFixed(2)}×); |score| ≥ 3.5 is far`);
  } else {
    add("prediction.score", "robust score", "none", "", `no robust score: fewer than 8 comparable runs to compare with`);
  }

  // Similar runs.
  const similar = input.similar;
  if (similar.length > 0) {
    const rateOf = (h: RunRecord) => (h.transferMs > 0 ? h.copied / (h.transferMs / 1000) : 0);
    add(
      "similar.runs",
      "similar runs",
      similar.length,
      "runs",
      `${countOf(similar.length, "similar run")} (${m.key}, files and bytes within ~4× of this run): median ${formatDuration(median(similar.map((h) => h.totalMs)))}, median ${countOf(median(similar.map((h) => h.workers)), "worker")}`,
    );
    add("similar.workers", "typical worker count", median(similar.map((h) => h.workers)), "workers", `similar runs used a median of ${countOf(median(similar.map((h) => h.workers)), "worker")}`);
    // The worker count whose similar runs handled files fastest in the transfer phase.
    const byWorkers = new Map<number, number[]>();
    for (const h of similar) if (h.copied > 0 && h.transferMs > 0) (byWorkers.get(h.workers) ?? byWorkers.set(h.workers, []).get(h.workers)!).push(rateOf(h));
    let best: { workers: number; rate: number; runs: number } | undefined;
    for (const [workers, rates] of byWorkers) {
      const rate = median(rates);
      if (!best || rate > best.rate) best = { workers, rate, runs: rates.length };
    }
    if (best && best.workers !== r.plan.workers && r.counts.copied > 0 && p.transferMs > 0) {
      const here = r.counts.copied / (p.transferMs / 1000);
      add("similar.best-workers", "fastest worker count among similar runs", best.workers, "workers", `among similar runs, ${best.workers} workers handled files fastest: median ${n(best.rate)} files/s over ${best.runs} run${best.runs === 1 ? "" : "s"}, against ${n(here)} files/s here`);
      add("similar.best-workers-rate", "their file rate", best.rate, "files/s", `similar runs with ${best.workers} workers: median ${n(best.rate)} files/s in the transfer phase`);
    }
  } else {
    add("similar.runs", "similar runs", 0, "runs", `no similar runs (same route, filesystems and size bucket) recorded`);
  }
  if (score.usualRate && r.options.bwlimit === 0) {
    add("route.usual-rate", "usual transfer rate", mib(score.usualRate.bytesPerSec), "MiB/s", `${m.key} runs that moved ≥ 8 MB in files of this size class usually transfer at ${formatBytesPerSec(score.usualRate.bytesPerSec)} (median of ${score.usualRate.runs})`);
  }
  if (input.tuned) {
    const t = input.tuned;
    add("tuned.workers", "tuned worker count", t.workers, "workers", `blit tune (${t.tunedAt}) found ${t.workers} workers fastest on ${t.route} ${t.sourceFs}->${t.destinationFs}${t.applied ? ", applied" : ", not applied"}: ${t.trials.map((x) => `${x.workers}w ${formatDuration(x.medianMs)}`).join(", ")}`);
  }
  for (const f of score.flags) add(`flag.${f.kind}`, `flag: ${f.kind}`, f.value, f.unit, `flagged ${f.kind} (${f.severity}): ${f.text}`);
  for (const [i, t] of (input.traces ?? []).entries()) addTraceEvidence(add, `trace.${i + 1}`, t);
  return out;
}

function modelSentence(score: RunScore): string {
  const m = score.model;
  const terms = m.terms.map((t) => `${t} ${m.coefficients[t].toPrecision(3)} ms`).join(", ");
  return m.basis === "fitted"
    ? `model ${m.key}: ${terms}; ${m.samples} runs; hold-out MdAPE ${m.holdout.mdape === null ? "n/a" : pct(m.holdout.mdape)} (${m.holdout.method})`
    : `default model for ${m.route}: ${terms}; no history behind it`;
}

/** The fact with this key, if the bundle has one. */
export function findEvidence(evidence: readonly Evidence[], key: string): Evidence | undefined {
  return evidence.find((e) => e.key === key);
}
