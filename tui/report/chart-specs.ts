// The report's charts as data: for each, its series (label, unit, how drawn) and its columns
// (x first, as uPlot takes them). The page (page.ts) embeds these as JSON and one small script
// draws each with uPlot; nothing about a chart is decided in the browser but its size.
import { MIB, throughputOf, type RunDiagnosis, type ScoredRun } from "../../analytics/index.ts";

/** How a value is shown on an axis and in the legend. */
export type ChartUnit = "ms" | "MiB/s" | "%";

export interface ChartSeries {
  label: string;
  unit: ChartUnit;
  color: string;
  /** line: a line with small points; points: points only (one per run); ring: an open circle around a point; edge: a thin band edge. */
  style: "line" | "points" | "ring" | "dashed" | "edge";
  /** The y scale: "y" (the chart's main unit) or "share" (0–100 %, on the right). */
  scale: "y" | "share";
}

export interface ChartSpec {
  /** The element id and the name tests look the chart up by. */
  id: string;
  title: string;
  /** One sentence under the title: what is drawn. */
  caption: string;
  /** time: x is a date (seconds since the epoch); seconds: x is seconds since the run started. */
  x: "time" | "seconds";
  series: ChartSeries[];
  /** Pairs of series indexes (1-based, as in `data`) whose area between is filled: [high, low]. */
  bands: [number, number][];
  /** data[0] the x values, ascending; data[i] series i's values (null: none at that x). */
  data: (number | null)[][];
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

/** Duration against prediction with its 80% band, one point per run of the window. */
export function durationChart(runs: readonly ScoredRun[]): ChartSpec {
  return {
    id: "duration",
    title: "Duration against prediction",
    caption: "Each run's duration (points; flagged runs ringed), the predictor's duration for its work (dashed) and the 80% band around it (shaded).",
    x: "time",
    series: [
      { label: "actual", unit: "ms", color: "#d62728", style: "points", scale: "y" },
      { label: "predicted", unit: "ms", color: "#1f77b4", style: "dashed", scale: "y" },
      { label: "band high", unit: "ms", color: "rgba(31,119,180,0.35)", style: "edge", scale: "y" },
      { label: "band low", unit: "ms", color: "rgba(31,119,180,0.35)", style: "edge", scale: "y" },
      { label: "flagged", unit: "ms", color: "#ff7f0e", style: "ring", scale: "y" },
    ],
    bands: [[3, 4]],
    data: [
      runs.map((r) => r.startedMs / 1000),
      runs.map((r) => r.totalMs),
      runs.map((r) => r.prediction?.durationMs ?? null),
      runs.map((r) => r.prediction?.highMs ?? null),
      runs.map((r) => r.prediction?.lowMs ?? null),
      runs.map((r) => ((r.flags?.length ?? 0) > 0 ? r.totalMs : null)),
    ],
  };
}

/** Transfer rate (bytes moved over the transfer phase) of each run that moved data, one series per route. */
export function rateChart(runs: readonly ScoredRun[]): ChartSpec {
  const routes = [...new Set(runs.map((r) => r.route))].sort();
  return {
    id: "rate",
    title: "Transfer rate by route",
    caption: "MiB/s over the transfer phase of each run that moved data, one series per route.",
    x: "time",
    series: routes.map((route, i) => ({ label: route, unit: "MiB/s", color: COLORS[i % COLORS.length]!, style: "line", scale: "y" })),
    bands: [],
    data: [runs.map((r) => r.startedMs / 1000), ...routes.map((route) => runs.map((r) => (r.route === route ? rateOf(r) : null)))],
  };
}

/** A run's rate in MiB/s, null when it moved nothing. */
export function rateOf(r: Pick<ScoredRun, "copiedBytes" | "transferMs">): number | null {
  return r.copiedBytes > 0 && r.transferMs > 0 ? r.copiedBytes / MIB / (r.transferMs / 1000) : null;
}

/**
 * A run's timeline: throughput in MiB/s, and on a 0–100 % scale blit's CPU (its CPU ms over the
 * interval, as a share of the machine's cores when recorded, else of one core), others' CPU and
 * the pressure shares, each only when the run recorded it. Undefined for a run without samples.
 */
export function timelineChart(d: RunDiagnosis): ChartSpec | undefined {
  const samples = d.timeline;
  if (samples.length === 0) return undefined;
  const cores = d.run.context?.cpuCount ?? 0;
  const series: ChartSeries[] = [{ label: "throughput", unit: "MiB/s", color: "#1f77b4", style: "line", scale: "y" }];
  const data: (number | null)[][] = [samples.map((s) => s.tMs / 1000), throughputOf(samples).map((b) => b / MIB)];
  const share = (label: string, color: string, values: (number | undefined)[]) => {
    if (values.every((v) => v === undefined)) return;
    series.push({ label, unit: "%", color, style: "line", scale: "share" });
    data.push(values.map((v) => (v === undefined ? null : v * 100)));
  };
  share(cores > 0 ? "blit CPU (of all cores)" : "blit CPU (of one core)", "#2ca02c", samples.map((s, i) => {
    if (s.selfCpuMs === undefined) return undefined;
    const since = s.tMs - (i === 0 ? 0 : samples[i - 1]!.tMs);
    return since > 0 ? s.selfCpuMs / since / Math.max(1, cores) : 0;
  }));
  share("others' CPU", "#7f7f7f", samples.map((s) => s.othersCpuShare));
  share("CPU pressure", "#ff7f0e", samples.map((s) => s.cpuSome));
  share("I/O pressure", "#d62728", samples.map((s) => s.ioSome));
  return {
    id: "timeline",
    title: "Timeline",
    caption: `Throughput over the run (${samples.length} samples, about every 250 ms), with CPU and pressure shares where recorded.`,
    x: "seconds",
    series,
    bands: [],
    data,
  };
}

/** The charts of a report, in page order. */
export function chartsOf(data: { kind: "history"; runs: readonly ScoredRun[] } | { kind: "run"; diagnosis: RunDiagnosis }): ChartSpec[] {
  if (data.kind === "history") return data.runs.length === 0 ? [] : [durationChart(data.runs), rateChart(data.runs)];
  const timeline = timelineChart(data.diagnosis);
  return timeline ? [timeline] : [];
}
