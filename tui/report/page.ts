// The report page: data in, one self-contained HTML string out. Facts are rendered here as escaped
// HTML (tables, lists, the phase bar); the charts are specs (chart-specs.ts) embedded as JSON and
// drawn by a constant script with uPlot, both inlined. No external resource is referenced.
import {
  outlierLine, outliersByHost,
  formatBytes, formatDuration, formatTime, NO_TIMELINE,
  type Evidence, type Explanation, type Flag, type HistoryDiagnosis, type RunDiagnosis, type RunLine,
} from "../../analytics/index.ts";
import { CHART_SCRIPT } from "./chart-script.ts";
import { chartsOf, rateOf, type ChartSpec } from "./chart-specs.ts";
import { escapeHtml as h, inlineSafe, jsonForScript } from "./html-text.ts";
import type { HistoryReportData, ReportData, RunReportData } from "./report-data.ts";
import { uplotAssets, type UplotAssets } from "./uplot-assets.ts";

/** The whole page for `data`; `assets` is uPlot as installed unless given (tests). */
export function reportHtml(data: ReportData, assets: UplotAssets = uplotAssets()): string {
  const charts = chartsOf(data);
  const title = data.kind === "history" ? `blit report: history since ${data.diagnosis.window.label}` : `blit report: run ${data.diagnosis.run.id}`;
  const body = data.kind === "history" ? historyBody(data, charts) : runBody(data, charts);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${h(title)}</title>
<style>${inlineSafe(assets.css, "style")}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<header><h1>${h(title)}</h1>
<p class="meta">store ${h(data.store)} · generated ${h(formatTime(data.generatedAt))}</p></header>
${body}
<script type="application/json" id="blit-data">${jsonForScript({ kind: data.kind, charts, report: embedded(data) })}</script>
<script>${inlineSafe(assets.script, "script")}</script>
<script>${CHART_SCRIPT}</script>
</body>
</html>
`;
}

/** The facts embedded beside the charts for whoever reads the file: the diagnosis (runs are in the charts' columns). */
function embedded(data: ReportData): unknown {
  return data.kind === "history" ? { diagnosis: data.diagnosis, runs: data.runs.length } : { diagnosis: data.diagnosis };
}

function historyBody(data: HistoryReportData, charts: ChartSpec[]): string {
  const d = data.diagnosis;
  const w = d.window;
  const parts = [
    `<p class="lead">${h(w.runs)} run${w.runs === 1 ? "" : "s"} since ${h(formatTime(w.since))} (${h(w.label)}) of ${h(w.totalRuns)} in the store; ${h(d.flaggedCount)} flagged.${w.runs > data.runs.length ? ` The charts show the newest ${h(data.runs.length)}.` : ""}</p>`,
    notesList(d.notes),
    ...charts.map(chartBlock),
    section("Flagged runs", d.flagged.length === 0 ? `<p>No run in the window was flagged.</p>` : runTable(d.flagged, d.flaggedCount > d.flagged.length ? `the first ${d.flagged.length} of ${d.flaggedCount}` : "")),
    section("Slowest against prediction", d.slowest.length === 0 ? `<p>No run was slower than similar runs.</p>` : runTable(d.slowest, "")),
    section("Trends by route", d.trends.length === 0 ? "<p>No runs.</p>" : `<ul>${d.trends.map((t) => `<li class="trend-${h(t.direction.replace(/ /g, "-"))}">${h(t.text)}</li>`).join("")}</ul>`),
    ...(d.fleet ? [section(`Fleet: ${d.fleet.hosts.length} hosts`, fleetHtml(d.fleet))] : []),
    section("Models", modelTable(d)),
  ];
  return `<main>${parts.join("\n")}</main>`;
}

function runTable(lines: readonly RunLine[], note: string): string {
  const rows = lines.map((r) => `<tr>
<td>${h(formatTime(r.startedMs))}</td><td><code>${h(r.id)}</code></td><td>${h(r.command)} · ${h(r.route)}</td>
<td class="path">${h(r.source)} → ${h(r.destination)}</td>
<td class="num">${h(formatDuration(r.totalMs))}</td>
<td class="num">${h(formatDuration(r.prediction.durationMs))}<br><small>${h(formatDuration(r.prediction.lowMs))}–${h(formatDuration(r.prediction.highMs))}</small></td>
<td class="num">${h(r.peerRatio.toFixed(2))}×</td>
<td class="num">${rateOf(r) === null ? "-" : h(rateOf(r)!.toFixed(1))}</td>
<td>${flagList(r.flags)}${r.cause ? `<p class="cause">cause: ${h(r.cause.text)}</p>` : ""}</td></tr>`);
  return `${note ? `<p>${h(note)}</p>` : ""}<table><thead><tr><th>started</th><th>run</th><th>command</th><th>source → destination</th><th>took</th><th>predicted (80% band)</th><th>vs similar</th><th>MiB/s</th><th>flags</th></tr></thead>
<tbody>${rows.join("\n")}</tbody></table>`;
}

/** The fleet view: each outlier with its evidence, then every route and shape's hosts against the fleet median. */
function fleetHtml(f: NonNullable<HistoryDiagnosis["fleet"]>): string {
  const outliers = f.outliers.length === 0
    ? "<p>No host is an outlier for the same route and shape.</p>"
    : outliersByHost(f).map(({ worst, also }) => `<div class="outlier"><p class="flag-warn">${h(worst.text)}</p><ol class="fleet-evidence">${worst.evidence.map((e) => `<li>${h(e)}</li>`).join("")}</ol>${also.length > 0 ? `<p>also slow: ${h(also.map(outlierLine).join("; "))}</p>` : ""}</div>`).join("\n");
  const groups = f.groups.map((g) => {
    const rate = (v: number) => (g.unit === "files/s" ? `${Math.round(v).toLocaleString("en-US")} files/s` : `${(v / 2 ** 20).toFixed(1)} MiB/s`);
    const rows = [...g.members].sort((a, b) => a.rate - b.rate).map((m) => `<tr${m.outlier ? ' class="outlier-row"' : ""}><td>${h(m.host)}</td><td class="num">${h(m.runs)}</td><td class="num">${h(rate(m.rate))}</td><td class="num">${g.hosts > 0 ? `${h(m.slowdown.toFixed(2))}×` : "-"}</td><td>${h(m.destinationFs)}</td><td>${m.outlier ? "outlier" : ""}</td></tr>`);
    return `<details${g.members.some((m) => m.outlier) ? " open" : ""}><summary>${h(g.route)}, ${h(g.shape)}, ${h(g.scale)} a run: fleet median ${h(rate(g.fleetRate))} over ${h(g.hosts)} host${g.hosts === 1 ? "" : "s"}</summary>
<table><thead><tr><th>host</th><th>runs</th><th>median rate</th><th>slower than the fleet</th><th>destination fs</th><th></th></tr></thead><tbody>${rows.join("")}</tbody></table></details>`;
  });
  return [outliers, ...groups, notesList(f.notes)].join("\n");
}

function modelTable(d: HistoryDiagnosis): string {
  if (d.models.length === 0) return "<p>No model yet.</p>";
  const rows = d.models.map((m) => `<tr><td>${h(m.key)}</td><td>${h(m.basis)}</td><td class="num">${h(m.samples)}</td><td class="num">${m.holdout.mdape === null ? "-" : `${h(Math.round(m.holdout.mdape * 100))} %`}</td><td>${h(m.note)}</td></tr>`);
  return `<table><thead><tr><th>model</th><th>basis</th><th>runs</th><th>held-out error</th><th>note</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function runBody(data: RunReportData, charts: ChartSpec[]): string {
  const d = data.diagnosis;
  const r = d.run;
  const p = d.prediction;
  const parts = [
    `<p class="lead">${h(r.command)} on route ${h(r.route)}${r.transport ? ` (${h(r.transport)})` : ""}, status ${h(r.status)}, started ${h(formatTime(r.startedMs))}</p>`,
    `<p class="path">${h(r.source)} → ${h(r.destination)} <small>(${h(r.sourceFs)} → ${h(r.destinationFs)})</small></p>`,
    `<p class="summary">${h(d.explanation.summary)}</p>`,
    section("Duration against prediction", predictionBar(r.totalMs, p.durationMs, p.lowMs, p.highMs) +
      `<p>took ${h(formatDuration(r.totalMs))}; predicted ${h(formatDuration(p.durationMs))}, 80% band ${h(formatDuration(p.lowMs))}–${h(formatDuration(p.highMs))}; ${h(d.score.peerRatio.toFixed(2))}× what similar runs take. ${h(p.note)}</p>`),
    charts.length > 0 ? charts.map(chartBlock).join("\n") : section("Timeline", `<p>${h(NO_TIMELINE)}</p>`),
    section("Phases", phases(d)),
    section("Flags", d.flags.length === 0 ? "<p>No flags.</p>" : flagList(d.flags)),
    section("Causes and suggestions", explanationHtml(d.explanation)),
    section("Evidence", evidenceTable(d.evidence)),
    notesList(d.notes),
  ];
  return `<main>${parts.join("\n")}</main>`;
}

/** The actual duration as a mark on a bar that shows the prediction and its band. */
function predictionBar(actual: number, predicted: number, low: number, high: number): string {
  const top = Math.max(actual, high, predicted, 1) * 1.1;
  const at = (ms: number) => `${((ms / top) * 100).toFixed(2)}%`;
  return `<div class="pbar" role="img" aria-label="actual against predicted band">
<div class="band" style="left:${at(low)};width:${at(Math.max(0, high - low))}"></div>
<div class="pred" style="left:${at(predicted)}" title="predicted"></div>
<div class="actual" style="left:${at(actual)}" title="actual"></div></div>
<p class="legend"><span class="k band"></span> 80% band <span class="k pred"></span> predicted <span class="k actual"></span> actual</p>`;
}

const PHASE_COLORS: Record<string, string> = { enumerate: "#9467bd", plan: "#8c564b", transfer: "#1f77b4", delete: "#d62728" };

function phases(d: RunDiagnosis): string {
  const r = d.run;
  const list = [["enumerate", r.enumerateMs], ["plan", r.planMs], ["transfer", r.transferMs], ["delete", r.deleteMs]] as const;
  const total = Math.max(1, r.totalMs);
  const bar = list.filter(([, ms]) => ms > 0).map(([name, ms]) =>
    `<div style="width:${((ms / total) * 100).toFixed(2)}%;background:${PHASE_COLORS[name]}" title="${h(name)} ${h(formatDuration(ms))}"></div>`);
  const rows = list.map(([name, ms]) => `<tr><td><span class="k" style="background:${PHASE_COLORS[name]}"></span> ${h(name)}</td><td class="num">${h(formatDuration(ms))}</td><td class="num">${h(Math.round((ms / total) * 100))} %</td></tr>`);
  return `<div class="phases">${bar.join("")}</div>
<table><thead><tr><th>phase</th><th>ms</th><th>share</th></tr></thead><tbody>${rows.join("")}
<tr><td>total</td><td class="num">${h(formatDuration(r.totalMs))}</td><td></td></tr></tbody></table>
<p>${h(r.copied)} of ${h(r.planned)} planned files transferred (${h(formatBytes(r.copiedBytes))}), ${h(r.skipped)} unchanged, ${h(r.deleted)} deleted; ${h(r.workers)} workers.</p>`;
}

function explanationHtml(e: Explanation): string {
  const cites = (ids: readonly string[]) => ids.map((id) => `<a href="#${h(id)}">${h(id)}</a>`).join(", ");
  const causes = e.causes.length === 0 ? "<p>No cause named.</p>" : `<ol class="causes">${e.causes.map((c) =>
    `<li>${h(c.text)} <small>(${h(c.confidence)} confidence${c.impactMs ? `, about ${h(formatDuration(c.impactMs))}` : ""}; evidence ${cites(c.evidence)})</small></li>`).join("")}</ol>`;
  const suggestions = e.suggestions.length === 0 ? "<p>No suggestion.</p>" : `<ol class="suggestions">${e.suggestions.map((s) =>
    `<li>${h(s.text)}${s.flag ? ` <code>${h(s.flag)}</code>` : ""}<br><small>expected: ${h(s.expectedEffect)}; evidence ${cites(s.evidence)}</small></li>`).join("")}</ol>`;
  return `<h3>Causes</h3>${causes}<h3>Suggestions</h3>${suggestions}`;
}

function evidenceTable(evidence: readonly Evidence[]): string {
  const rows = evidence.map((e) => `<tr id="${h(e.id)}"><td class="id">${h(e.id)}</td><td>${h(e.label)}</td><td class="val">${h(String(e.value))}${e.unit ? ` ${h(e.unit)}` : ""}</td><td>${h(e.text)}</td></tr>`);
  return `<table class="evidence"><thead><tr><th>id</th><th>fact</th><th>value</th><th>as said</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function flagList(flags: readonly Flag[]): string {
  if (flags.length === 0) return "";
  return `<ul class="flags">${flags.map((f) => `<li class="${f.severity === "warn" ? "warn" : "info"}"><b>${h(f.kind)}</b> ${h(f.text)}</li>`).join("")}</ul>`;
}

function notesList(notes: readonly string[]): string {
  return notes.length === 0 ? "" : `<ul class="notes">${notes.map((n) => `<li>${h(n)}</li>`).join("")}</ul>`;
}

function chartBlock(c: ChartSpec): string {
  return section(c.title, `<p class="caption">${h(c.caption)}</p><div class="chart" id="chart-${h(c.id)}"></div>`);
}

function section(title: string, inner: string): string {
  return `<section><h2>${h(title)}</h2>\n${inner}\n</section>`;
}

const PAGE_CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222;background:#fff}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1em}
.meta,.caption,small{color:#666}.lead{font-size:1.05em}.summary{background:#f4f7fb;border-left:4px solid #1f77b4;padding:.5em .8em}
.path{font-family:ui-monospace,monospace;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border-bottom:1px solid #eee;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#fafafa}.num{text-align:right;white-space:nowrap}.val{text-align:right;overflow-wrap:anywhere;max-width:22em}
td{overflow-wrap:break-word}td.id{white-space:nowrap}
ul.flags{margin:0;padding-left:1.1em}ul.flags li.warn b{color:#c0392b}ul.flags li.info b{color:#2471a3}.cause{margin:.2em 0;color:#555}
.chart{width:100%;min-height:320px}
.pbar{position:relative;height:22px;background:#f2f2f2;border-radius:3px;margin:.6em 0}
.pbar div{position:absolute;top:0;bottom:0}.pbar .band{background:rgba(31,119,180,.3)}.pbar .pred{width:2px;background:#1f77b4}.pbar .actual{width:4px;background:#d62728}
.k{display:inline-block;width:.9em;height:.9em;vertical-align:middle;border-radius:2px}.k.band{background:rgba(31,119,180,.3)}.k.pred{background:#1f77b4}.k.actual{background:#d62728}
.phases{display:flex;height:22px;border-radius:3px;overflow:hidden;background:#f2f2f2;margin:.6em 0}
tr:target{background:#fff6d5}
`;
