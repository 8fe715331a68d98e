// A diagnosis as text for a terminal, as Markdown, or as JSON: three renderings of one object,
// so they never disagree. Every rendering states the prediction's error band.
import type { Diagnosis, HistoryDiagnosis, ModelSummary, RunDiagnosis, RunLine } from "./diagnose.ts";
import { countOf, formatBytes, formatBytesPerSec, formatCount, formatDuration, formatTime, MIB } from "../store/human-units.ts";
import { outlierLine, outliersByHost, type FleetView } from "./fleet-view.ts";
import { timelineLines } from "./timeline-chart.ts";

export type DiagnoseFormat = "text" | "md" | "json";

export function formatDiagnosis(d: Diagnosis, format: DiagnoseFormat): string {
  if (format === "json") return JSON.stringify(d, null, 2);
  const md = format === "md";
  return d.kind === "run" ? runText(d, md) : historyText(d, md);
}

const count = formatCount;
const band = (low: number, high: number) => `${formatDuration(low)}–${formatDuration(high)}`;

function runText(d: RunDiagnosis, md: boolean): string {
  const r = d.run;
  const p = d.prediction;
  const out: string[] = [];
  const h = (title: string) => out.push("", md ? `### ${title}` : `${title}:`);
  const item = (text: string) => out.push(md ? `- ${text}` : `  ${text}`);
  out.push(md ? `## Run \`${r.id}\`` : `Run ${r.id}`);
  out.push(`${r.command} ${r.route}: ${r.source} -> ${r.destination} (${r.sourceFs} -> ${r.destinationFs}), started ${formatTime(r.startedAt)}, ${r.status}`);
  out.push(`${countOf(r.files, "file")}, ${formatBytes(r.bytes)}, ${countOf(r.workers, "worker")}; took ${formatDuration(r.totalMs)}`);
  out.push(`Prediction: ${formatDuration(p.durationMs)} (80% band ${band(p.lowMs, p.highMs)})${p.throttleFloorMs !== null ? `; without --bwlimit ${formatDuration(p.unthrottledMs)}` : ""}`);
  out.push(`  ${p.note}`);
  if (d.score.score !== null) {
    out.push(`  took ${d.score.ratio.toFixed(2)}× the ${p.throttleFloorMs !== null ? "unthrottled " : ""}prediction, ${d.score.peerRatio.toFixed(2)}× similar runs; robust score ${d.score.score.toFixed(1)} over ${countOf(d.score.reference.runs, "run")} (|score| ≥ 3.5 is far)`);
  }
  h("Summary");
  out.push(md ? d.explanation.summary : `  ${d.explanation.summary}`);
  if (d.flags.length > 0) {
    h("Flags");
    for (const f of d.flags) item(`${f.severity === "warn" ? "!" : "i"} ${f.kind}: ${f.text}`);
  }
  if (d.explanation.causes.length > 0) {
    h("Causes");
    d.explanation.causes.forEach((c, i) => item(`${i + 1}. ${c.kind ? `${c.kind}: ` : ""}${c.text} [${c.confidence}; ${c.evidence.join(", ")}]`));
  }
  if (d.explanation.suggestions.length > 0) {
    h("Suggestions");
    d.explanation.suggestions.forEach((s, i) =>
      item(`${i + 1}. ${s.flag ? (md ? `\`${s.flag}\`: ` : `${s.flag}: `) : ""}${s.text} Expected: ${s.expectedEffect}. [${s.evidence.join(", ")}]`),
    );
  }
  h("Evidence");
  if (md) {
    out.push("| id | fact | value |", "| --- | --- | --- |");
    for (const e of d.evidence) out.push(`| ${e.id} | ${e.text.replace(/\|/g, "\\|")} | ${String(e.value).replace(/\|/g, "\\|")}${e.unit ? ` ${e.unit}` : ""} |`);
  } else {
    const width = Math.max(...d.evidence.map((e) => e.id.length));
    for (const e of d.evidence) out.push(`  ${e.id.padEnd(width)}  ${e.text}`);
  }
  if (d.timeline.length > 0) {
    h("Timeline");
    const lines = timelineLines(d.timeline, 60);
    if (md) out.push("```", ...lines, "```");
    else for (const l of lines) out.push(`  ${l}`);
  }
  if (d.notes.length > 1) {
    h("Notes");
    for (const n of d.notes.slice(1)) item(n);
  }
  return out.join("\n");
}

function historyText(d: HistoryDiagnosis, md: boolean): string {
  const out: string[] = [];
  const h = (title: string) => out.push("", md ? `### ${title}` : `${title}:`);
  const item = (text: string) => out.push(md ? `- ${text}` : `  ${text}`);
  out.push(md ? "## Recent runs" : "Recent runs");
  out.push(`${countOf(d.window.runs, "run")} since ${formatTime(d.window.since)} (--since ${d.window.label}), ${count(d.window.totalRuns)} in the store ${d.store}`);
  h("Predictor (duration ≈ fixed + per file + per byte ...; error measured on held-out runs)");
  if (d.models.length === 0) item("no models yet: no runs to learn from");
  for (const m of d.models) item(modelLine(m));
  h(`Slowest against prediction (top ${d.slowest.length})`);
  if (d.slowest.length === 0) item("none slower than predicted");
  else table(out, d.slowest, md);
  h(`Flagged runs (${count(d.flaggedCount)}${d.flaggedCount > d.flagged.length ? `, ${d.flagged.length} shown` : ""})`);
  if (d.flagged.length === 0) item("none");
  for (const r of d.flagged) {
    item(`${formatTime(r.startedAt)} ${r.id} ${r.command} ${r.route}, ${formatDuration(r.totalMs)} (predicted ${formatDuration(r.prediction.durationMs)}, band ${band(r.prediction.lowMs, r.prediction.highMs)})`);
    for (const f of r.flags) out.push(`${md ? "  -" : "    "} ${f.severity === "warn" ? "!" : "i"} ${f.kind}: ${f.text}`);
    if (r.cause) out.push(`${md ? "  -" : "    "} cause ${r.cause.kind}: ${r.cause.text}`);
  }
  h("Trends per route");
  if (d.trends.length === 0) item("no runs in the window");
  for (const t of d.trends) item(t.text);
  if (d.fleet) fleetText(d.fleet, out, md);
  if (d.notes.length > 0) {
    h("Notes");
    for (const n of d.notes) item(n);
  }
  out.push("", md ? "Run `blit diagnose RUN_ID` for one run's evidence, causes and suggestions." : "Run 'blit diagnose RUN_ID' for one run's evidence, causes and suggestions.");
  return out.join("\n");
}

/** The fleet view: outliers with their evidence, then each route and shape's hosts against the fleet median. */
function fleetText(f: FleetView, out: string[], md: boolean): void {
  out.push("", md ? `### Fleet (${f.hosts.length} hosts, ${count(f.runs)} runs compared)` : `Fleet (${f.hosts.length} hosts, ${count(f.runs)} runs compared):`);
  const item = (text: string, depth = 1) => out.push(md ? `${"  ".repeat(depth - 1)}- ${text}` : `${"  ".repeat(depth)}${text}`);
  if (f.outliers.length === 0) item("no host is an outlier for the same route and shape");
  for (const { worst, also } of outliersByHost(f)) {
    item(`! ${worst.text}`);
    worst.evidence.forEach((e, i) => item(`F${i + 1} ${e}`, 2));
    if (also.length > 0) item(`also slow: ${also.map(outlierLine).join("; ")}`, 2);
  }
  for (const g of f.groups) {
    const rate = (v: number) => (g.unit === "files/s" ? `${count(Math.round(v))} files/s` : formatBytesPerSec(v));
    const head = g.hosts >= 1 ? `fleet median ${rate(g.fleetRate)} over ${countOf(g.hosts, "host")}` : "no host with enough runs";
    item(`${g.route}, ${g.shape}, ${g.scale} a run: ${head}`);
    // A big fleet: the outliers and the three slowest others by name, the rest as a range (--format json has all).
    const slowestFirst = [...g.members].sort((a, b) => a.rate - b.rate);
    const named = g.members.length <= 10 ? g.members : slowestFirst.filter((m, i) => m.outlier || i < 3);
    for (const m of named) {
      const vs = g.hosts >= 1 && m.rate > 0 ? `, ${relative(m.slowdown)}` : "";
      item(`${m.host.padEnd(16)} ${rate(m.rate)} (${countOf(m.runs, "run")}${vs})${m.outlier ? "  <- outlier" : ""}`, 2);
    }
    const rest = slowestFirst.filter((m) => !named.includes(m));
    if (rest.length > 0) item(`${countOf(rest.length, "more host")}: ${rate(rest[0]!.rate)} to ${rate(rest.at(-1)!.rate)}`, 2);
  }
  for (const n of f.notes) item(n);
}

function relative(slowdown: number): string {
  if (Math.abs(slowdown - 1) < 0.05) return "at the fleet median";
  return slowdown > 1 ? `${slowdown.toFixed(1)}× slower` : `${(1 / slowdown).toFixed(1)}× faster`;
}

function modelLine(m: ModelSummary): string {
  const unit: Record<string, (ms: number) => string> = {
    fixed: (ms) => `fixed ${ms.toPrecision(3)} ms`,
    perFile: (ms) => `${ms.toPrecision(3)} ms/file`,
    perByte: (ms) => `${(ms * MIB).toPrecision(3)} ms/MiB`,
    perEntry: (ms) => `${ms.toPrecision(3)} ms/entry`,
    perDir: (ms) => `${ms.toPrecision(3)} ms/dir`,
  };
  const terms = m.terms.map((t) => unit[t.term]?.(t.msEach) ?? `${t.term} ${t.msEach}`).join(", ");
  if (m.basis === "default") return `${m.key} (default): ${terms}; ${m.note}`;
  const err = m.holdout.mdape === null ? "hold-out error n/a" : `hold-out MdAPE ${(m.holdout.mdape * 100).toFixed(1)}% (${m.holdout.method}, ${countOf(m.holdout.runs, "run")})`;
  return `${m.key}: ${terms}; n=${m.samples}${m.trimmed ? ` (+${m.trimmed} outliers left out)` : ""}; ${err}; 80% band ${m.holdout.ratioLow.toFixed(2)}×–${m.holdout.ratioHigh.toFixed(2)}×`;
}

function table(out: string[], rows: readonly RunLine[], md: boolean): void {
  const head = ["STARTED", "ROUTE", "TOOK", "PREDICTED (80% BAND)", "× SIMILAR", "SCORE", "FLAGS", "CAUSE", "ID"];
  const cells = rows.map((r) => [
    formatTime(r.startedAt),
    `${r.command}/${r.route}`,
    formatDuration(r.totalMs),
    `${formatDuration(r.prediction.durationMs)} (${band(r.prediction.lowMs, r.prediction.highMs)})`,
    `${r.peerRatio.toFixed(2)}×`,
    r.score === null ? "-" : r.score.toFixed(1),
    r.flags.map((f) => f.kind).join(",") || "-",
    r.cause?.kind ?? "-",
    r.id,
  ]);
  if (md) {
    out.push(`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`);
    for (const c of cells) out.push(`| ${c.join(" | ")} |`);
    return;
  }
  const widths = head.map((t, i) => Math.max(t.length, ...cells.map((c) => c[i]!.length)));
  for (const line of [head, ...cells]) out.push(`  ${line.map((c, i) => (i === line.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")}`);
}
