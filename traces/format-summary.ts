// A trace summary as text (terminal), Markdown (reports, issues) or JSON (scripts).
import { formatBytes } from "../analytics/index.ts";
import type { TraceSummary } from "./trace-summary.ts";

export type SummaryFormat = "text" | "md" | "json";

export function formatTraceSummary(s: TraceSummary, format: SummaryFormat): string {
  if (format === "json") return JSON.stringify(s, null, 2);
  const md = format === "md";
  const out: string[] = [];
  const h = (t: string) => out.push(md ? `\n### ${t}\n` : `\n${t}:`);
  const table = (head: string[], rows: (string | number)[][]) => {
    if (rows.length === 0) {
      out.push(md ? "_none_" : "  (none)");
      return;
    }
    const cells = rows.map((r) => r.map(String));
    if (md) {
      out.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...cells.map((r) => `| ${r.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`));
      return;
    }
    const widths = head.map((t, i) => Math.max(t.length, ...cells.map((r) => r[i]!.length)));
    const line = (r: string[]) => "  " + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
    out.push(line(head), ...cells.map(line));
  };
  const title = `${s.scope === "run" ? "Run window of trace" : "Trace"} ${s.traceId} (${s.format})`;
  out.push(md ? `## ${title}` : title);
  const facts = [
    `file: ${s.file}`,
    `events: ${s.events}${s.unparsedLines ? `, unparsed lines: ${s.unparsedLines}` : ""}`,
    `span: ${dur(s.spanSeconds)}${s.wallStart ? ` (${s.wallStart} .. ${s.wallEnd}${s.clockEstimated ? ", estimated" : ""})` : ` (clock: ${s.clock})`}`,
    `run: ${s.runId ?? "not linked"}`,
    ...(s.tracer ? [`traced by: ${s.tracer.tool}${s.tracer.recorded ? ` (blit trace record: ${s.tracer.command})` : ""}; its own cost slows the traced run`] : []),
    `blit's events: ${s.subject.rule}`,
    `metadata ops: ${s.metadataVsData.metadataCount} (${dur(s.metadataVsData.metadataSeconds)}), data ops: ${s.metadataVsData.dataCount} (${dur(s.metadataVsData.dataSeconds)})`,
  ];
  out.push(...facts.map((f) => (md ? `- ${f}` : `  ${f}`)));
  h("Operations by kind");
  table(["kind", "count", "time", "bytes"], s.byKind.map((k) => [k.kind, k.count, dur(k.seconds), formatBytes(k.bytes)]));
  h("Latency (ms)");
  table(["kind", "n", "p50", "p90", "p99", "max"], s.latency.map((l) => [l.kind, l.count, l.p50Ms, l.p90Ms, l.p99Ms, l.maxMs]));
  h("Bytes by process");
  table(["process", "pid", "events", "read", "written"], s.bytesByProcess.map((p) => [p.process || "?", p.pid ?? "?", p.events, formatBytes(p.readBytes), formatBytes(p.writeBytes)]));
  h("Bytes by file (most written, then most read)");
  table(["read", "written", "ops", "path"], s.bytesByFile.map((f) => [formatBytes(f.readBytes), formatBytes(f.writeBytes), f.ops, f.path]));
  if (!s.subject.rule.includes("every event is blit's")) {
    h("Other processes touching blit's files");
    table(["process", "pid", "files", "events", "bytes", "examples"], s.sharedFiles.map((p) => [p.process || "?", p.pid ?? "?", p.files, p.events, formatBytes(p.bytes), p.examples.join(", ")]));
  }
  if (s.busiestFunctions?.length) {
    h(`Busiest functions (${s.cpuSamples} CPU samples)`);
    table(["samples", "share", "process", "function", "module"], s.busiestFunctions.map((f) => [f.samples, `${(f.share * 100).toFixed(1)}%`, f.process || "?", f.function, f.module]));
  }
  if (s.failures.length) {
    h("Failed operations");
    table(["kind", "result", "count"], s.failures.map((f) => [f.kind, f.result, f.count]));
  }
  h("Longest gaps without progress");
  const t0 = s.firstTs ?? 0;
  table(["gap", "from", "to", "line"], s.longestGaps.map((g) => [dur(g.seconds), `+${(g.fromTs - t0).toFixed(6)}s`, `+${(g.toTs - t0).toFixed(6)}s`, g.line ?? ""]));
  if (s.notes.length) {
    h("Notes");
    out.push(...s.notes.map((n) => (md ? `- ${n}` : `  ${n}`)));
  }
  return out.join("\n") + "\n";
}

/**
 * Seconds in the unit that suits them, in the style of blit's other durations (analytics'
 * formatDuration): "850 µs", "12.3 ms", "4.56 s", "2 min 03 s". A trace's calls need the
 * sub-millisecond units the run-level formatter rounds away.
 */
function dur(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "-";
  if (seconds < 1e-3) return `${Math.round(seconds * 1e6)} µs`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(1)} ms`;
  if (seconds < 60) return `${seconds.toFixed(2)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
}
