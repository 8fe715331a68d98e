// The diagnose UI's content as Markdown, for when stdout is not a terminal (scripts, CI logs):
// the run list, or one run's page with its explanation, from the same view data as the screens.
import { countOf, formatDuration, formatTime, NO_TIMELINE, outlierLine, outliersByHost, timelineLines, type ExplainerAnswer, type RunList } from "../../analytics/index.ts";
import type { RunDetail } from "./ai-source.ts";
import {
  answeredByText, bandView, causeLines, citedFacts, claimsOf, count, droppedLines, factValue, fastPathLines, flagMark,
  machineLines, phaseRows, routeText, sizeText, historySparkline, throughputCaption, traceLines, whenText,
} from "./run-view.ts";
import { tryCommand } from "./try-command.ts";

const cell = (s: string) => s.replace(/\|/g, "\\|");

/** The run list: newest first, at most `limit` rows. */
export function listMarkdown(list: RunList, explainer: string, limit = 20): string {
  const out = [
    "## Recent runs",
    "",
    `Store \`${list.path}\`: ${countOf(list.total, "run")}; explainer: ${explainer}.`,
    "",
  ];
  if (list.runs.length === 0) return [...out, "No runs recorded yet: run `blit copy` or `blit mirror` and come back."].join("\n");
  out.push(`Throughput: \`${historySparkline(list.throughput, 60)}\` (${throughputCaption(list.throughput)})`, "");
  out.push("| started | route | size | took | predicted (80% band) | flag | id |", "| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of list.runs.slice(0, limit)) {
    const p = r.prediction;
    const predicted = p ? `${formatDuration(p.durationMs)} (${formatDuration(p.lowMs)}–${formatDuration(p.highMs)})` : "-";
    const flags = r.flags?.length ? `${flagMark(r)} ${r.flags.map((f) => f.kind).join(", ")}` : flagMark(r).trim() || "-";
    out.push(`| ${whenText(r.startedAt)} | ${routeText(r)} | ${sizeText(r.files, r.bytes)} | ${formatDuration(r.totalMs)} | ${predicted} | ${cell(flags)} | \`${r.id}\` |`);
  }
  if (list.runs.length > limit) out.push("", `${count(list.runs.length - limit)} more in the UI (\`blit diagnose --ai\` in a terminal).`);
  if (list.fleet) {
    out.push("", `### Fleet: ${list.fleet.hosts.length} hosts, last 7 days`, "");
    if (list.fleet.outliers.length === 0) out.push("No host is an outlier for the same route and shape.");
    for (const { worst, also } of outliersByHost(list.fleet)) {
      out.push(`- **${worst.text}**`);
      for (const e of worst.evidence) out.push(`  - ${e}`);
      if (also.length > 0) out.push(`  - also slow: ${also.map(outlierLine).join("; ")}`);
    }
  }
  out.push("", "Run `blit diagnose --ai RUN_ID` for one run's page and explanation.");
  return out.join("\n");
}

/** One run's page and its explanation, each claim with the facts it cites and the command to try. */
export function runMarkdown(detail: RunDetail, answer: ExplainerAnswer): string {
  const d = detail.diagnosis;
  const r = d.run;
  const b = bandView(d);
  const out = [
    `## Run \`${r.id}\``,
    "",
    `${r.command} ${r.route}: \`${r.source}\` -> \`${r.destination}\` (${r.sourceFs} -> ${r.destinationFs}), started ${formatTime(r.startedAt)}, ${r.status}; ${sizeText(r.files, r.bytes)}, ${countOf(r.workers, "worker")}.`,
    "",
    `**Actual ${formatDuration(b.actualMs)}** against predicted ${formatDuration(b.predictedMs)} (80% band ${formatDuration(b.lowMs)}–${formatDuration(b.highMs)}): ${b.verdict}.`,
    "",
    "### Causes",
    "",
    ...(causeLines(d).length > 0 ? causeLines(d).map((l) => `- ${l}`) : [`- none: ${d.explanation.summary}`]),
    "",
    "### Machine",
    "",
    ...(detail.report.context ? machineLines(detail.report.context).map((l) => `- ${l}`) : ["- no machine facts recorded (run recorded before blit captured them)"]),
    "",
    "### Timeline",
    "",
    ...(d.timeline.length > 0 ? ["```", ...timelineLines(d.timeline, 60), "```"] : [NO_TIMELINE]),
    "",
    "### Phases",
    "",
    "| phase | time | share |",
    "| --- | --- | --- |",
    ...phaseRows(d.evidence).map((p) => `| ${p.name} | ${formatDuration(p.ms)} | ${Math.round(p.share * 100)}% |`),
    "",
    "### Fast paths",
    "",
    ...(fastPathLines(d.evidence).map((l) => `- ${l}`) as string[]),
  ];
  if (fastPathLines(d.evidence).length === 0) out.push("- no bytes moved");
  out.push("", "### Flags", "");
  if (d.flags.length === 0) out.push("- none");
  for (const f of d.flags) out.push(`- ${f.severity === "warn" ? "!" : "i"} ${f.kind}: ${f.text}`);
  const traces = traceLines(d.evidence);
  if (traces.length > 0) out.push("", "### Trace", "", ...traces.map((t) => `- ${t}`));
  out.push("", "### Explanation", "", `Answered by: ${answeredByText(answer)}.`, "");
  for (const n of answer.notices) out.push(`> **Notice:** ${n}`, "");
  for (const l of droppedLines(answer)) out.push(`> **Dropped:** ${l}`, "");
  out.push(answer.explanation.summary, "");
  for (const c of claimsOf(answer)) {
    out.push(`**${c.label}** (${c.kind === "cause" ? c.detail : c.flag ? `\`${c.flag}\`` : "no flag"}) [${c.evidence.join(", ")}]: ${c.text}`, "");
    for (const e of citedFacts(d.evidence, c.evidence)) out.push(`- ${e.id} ${e.label}: ${cell(factValue(e))} (${e.text})`);
    if (c.flag) out.push("", `Try: \`${tryCommand(detail.report, c.flag)}\``);
    out.push("");
  }
  if (answer.explanation.causes.length === 0 && answer.explanation.suggestions.length === 0) out.push("Nothing to change.", "");
  return out.join("\n").trimEnd();
}
