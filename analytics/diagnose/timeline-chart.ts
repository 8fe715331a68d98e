// A run's timeline as text: throughput as a sparkline, and under it CPU and I/O pressure on the
// same time axis, each labelled with its peak; one shape for the TUI run page and the text and
// Markdown `blit diagnose RUN` report, so the two draw the same run the same way.
import type { TimelineSample } from "../../engine/index.ts";
import { formatBytesPerSec, formatDuration } from "../store/human-units.ts";

const BARS = "▁▂▃▄▅▆▇█";
/** The label column of a chart line: "throughput  ", "CPU pressure", ... */
const LABEL = 12;
/** Columns a chart line takes besides its sparkline: the label, a space, and " peak 123.4 MiB/s". */
export const CHART_CHROME = LABEL + 1 + 17;

/**
 * `values` as exactly `width` points on the same axis: each point the mean of its slice when
 * there are more values than points, each value repeated over its share of the width when fewer.
 */
export function resample(values: readonly number[], width: number): number[] {
  if (values.length === 0 || width <= 0) return [];
  const n = values.length;
  return Array.from({ length: width }, (_, i) => {
    const from = Math.floor((i * n) / width);
    const to = Math.max(from + 1, Math.floor(((i + 1) * n) / width));
    let sum = 0;
    for (let j = from; j < to; j++) sum += values[j]!;
    return sum / (to - from);
  });
}

/** `values` resampled into `width` block characters, the tallest at the highest point (or at `top`). */
export function sparkline(values: readonly number[], width: number, top?: number): string {
  const points = resample(values, width);
  const ceiling = top ?? Math.max(0, ...points);
  if (ceiling <= 0) return BARS[0]!.repeat(points.length);
  return points.map((v) => BARS[Math.max(0, Math.min(BARS.length - 1, Math.round((v / ceiling) * (BARS.length - 1))))]).join("");
}

/** Throughput per sample in bytes/s (each sample's bytes over the time since the one before it). */
export function throughputOf(samples: readonly TimelineSample[]): number[] {
  return samples.map((s, i) => {
    const since = s.tMs - (i === 0 ? 0 : samples[i - 1]!.tMs);
    return since > 0 ? (s.bytes * 1000) / since : 0;
  });
}

export const NO_TIMELINE = "no timeline recorded (run shorter than 250 ms or recorded before blit captured one)";

/**
 * The chart's lines, each its sparkline `width` columns wide plus CHART_CHROME: throughput, CPU
 * pressure (others' CPU share when the machine has no PSI), I/O pressure, then the time span.
 */
export function timelineLines(samples: readonly TimelineSample[], width: number): string[] {
  if (samples.length === 0) return [NO_TIMELINE];
  const line = (label: string, values: number[], peak: string) => `${label.padEnd(LABEL)} ${sparkline(values, width)} peak ${peak}`;
  const rate = throughputOf(samples);
  const out = [line("throughput", rate, formatBytesPerSec(Math.max(...rate)))];
  const share = (pick: (s: TimelineSample) => number | undefined, label: string) => {
    if (!samples.some((s) => pick(s) !== undefined)) return;
    const values = samples.map((s) => pick(s) ?? 0);
    // Shares are drawn against 100%, so a quiet machine reads as a flat floor, not as noise scaled up.
    out.push(`${label.padEnd(LABEL)} ${sparkline(values, width, 1)} peak ${Math.round(Math.max(...values) * 100)}%`);
  };
  if (samples.some((s) => s.cpuSome !== undefined)) share((s) => s.cpuSome, "CPU pressure");
  else share((s) => s.othersCpuShare, "others' CPU");
  share((s) => s.ioSome, "I/O pressure");
  const spanMs = samples.at(-1)!.tMs;
  out.push(`${"".padEnd(LABEL)} 0 to ${formatDuration(spanMs)}, ${samples.length} samples`);
  return out;
}
