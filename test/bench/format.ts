// The benchmark's result types and the human-readable table.

export interface ToolStats {
  /** Label as shown, e.g. "blit", "cp -a", "rsync -a", "blit --no-telemetry". */
  label: string;
  command: string;
  warmupMs: number;
  runsMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** maxMs / minMs. */
  spread: number;
  /** Peak RSS of each measured run, MiB (null when /usr/bin/time gave nothing). */
  peakMiB: (number | null)[];
  maxPeakMiB: number | null;
}

export interface Target {
  scenario: string;
  /** What is compared, e.g. "blit/cp", "peak memory", "telemetry overhead". */
  name: string;
  value: number;
  op: "<=" | "<";
  limit: number;
  unit: "x" | "MiB" | "ms";
  pass: boolean;
}

export interface ScenarioResult {
  name: string;
  description: string;
  files: number;
  bytes: number;
  /** Keyed by tool id: blit, cp, rsync, blitNoTelemetry. */
  tools: Record<string, ToolStats>;
  /** "blit/cp", "blit/rsync": ratio of medians. */
  ratios: Record<string, number>;
  noisy: boolean;
  verified: boolean;
  blit: {
    workers: number | null;
    bytesByPath: Record<string, number>;
    /** Median of the run report's phases.totalMs over measured runs (engine time, no startup). */
    reportedTotalMsMedian: number | null;
  };
  telemetryOverhead?: { medianPairedDiffMs: number; diffOfMediansMs: number; pairedDiffsMs: number[] };
  targets: Target[];
  warnings: string[];
}

const sec = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

export function fmtTarget(t: Target): string {
  const v = t.unit === "x" ? `${t.value.toFixed(2)}×` : t.unit === "MiB" ? `${t.value.toFixed(0)} MiB` : `${t.value.toFixed(0)} ms`;
  const lim = t.unit === "x" ? `${t.limit.toFixed(2)}×` : `${t.limit} ${t.unit}`;
  return `${pad(t.name, 22)} ${lpad(v, 9)}   target ${t.op === "<=" ? "≤" : "<"} ${pad(lim, 8)} ${t.pass ? "PASS" : "MISS"}`;
}

export function formatScenario(r: ScenarioResult, scaled: boolean): string {
  const out: string[] = [];
  out.push(`${r.name}${r.noisy ? "   [NOISY: max/min > 1.5 for some tool; rerun on a quieter machine]" : ""}`);
  out.push(`  ${r.description}`);
  out.push(
    `  ${pad("tool", 20)} ${lpad("median", 10)} ${lpad("min", 10)} ${lpad("max", 10)} ${lpad("max/min", 8)} ${lpad("peak MiB", 9)}  runs (s)`,
  );
  for (const t of Object.values(r.tools)) {
    out.push(
      `  ${pad(t.label, 20)} ${lpad(sec(t.medianMs), 10)} ${lpad(sec(t.minMs), 10)} ${lpad(sec(t.maxMs), 10)} ${lpad(`${t.spread.toFixed(2)}${t.spread > 1.5 ? "!" : ""}`, 8)} ${lpad(t.maxPeakMiB === null ? "?" : t.maxPeakMiB.toFixed(0), 9)}  ${t.runsMs.map((m) => (m / 1000).toFixed(3)).join(" ")}`,
    );
  }
  for (const [k, v] of Object.entries(r.ratios)) {
    const target = r.targets.find((t) => t.name === k);
    out.push(`  ${pad(k, 20)} ${lpad(`${v.toFixed(2)}×`, 10)}${target ? `   target ≤ ${target.limit.toFixed(2)}×  ${target.pass ? "PASS" : "MISS"}${scaled ? " (scaled run)" : ""}` : ""}`);
  }
  if (r.telemetryOverhead) {
    const t = r.targets.find((x) => x.name === "telemetry overhead");
    out.push(
      `  telemetry overhead   ${lpad(`${r.telemetryOverhead.medianPairedDiffMs.toFixed(0)} ms`, 10)}   (median of paired blit − blit --no-telemetry; difference of medians ${r.telemetryOverhead.diffOfMediansMs.toFixed(0)} ms)${t ? `  target < ${t.limit} ms  ${t.pass ? "PASS" : "MISS"}` : ""}`,
    );
  }
  const mem = r.targets.find((t) => t.name === "blit peak memory");
  if (mem) out.push(`  blit peak memory     ${lpad(`${mem.value.toFixed(0)} MiB`, 10)}   (max over runs)  target < ${mem.limit} MiB  ${mem.pass ? "PASS" : "MISS"}${scaled ? " (scaled run)" : ""}`);
  const paths = Object.entries(r.blit.bytesByPath).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(1)} MiB`).join(", ");
  out.push(
    `  blit: ${r.blit.workers ?? "?"} workers; fast paths (last run): ${paths || "none (nothing copied)"}; engine-reported time median ${r.blit.reportedTotalMsMedian === null ? "?" : sec(r.blit.reportedTotalMsMedian)}`,
  );
  out.push(`  correctness: diff -r source vs blit destination ${r.verified ? "empty (OK)" : "NOT CHECKED"}`);
  for (const w of r.warnings) out.push(`  warning: ${w}`);
  return out.join("\n");
}
