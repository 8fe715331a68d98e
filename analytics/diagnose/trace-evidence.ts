// The facts one linked trace adds to a run's evidence bundle, under stable keys
// (`trace.1.span`, `trace.1.shared.1`, `trace.1.metadata-share`, `trace.1.latency.open`,
// `trace.1.gap.1`, `trace.1.failures`, `trace.1.top-file`). A handful per trace: the bundle is also
// what an LLM is shown. Paths appear only in the sentences, in double quotes, where --redact finds
// them whole (spaces included).
import type { Evidence } from "./evidence.ts";
import { formatBytes, formatDuration } from "../store/human-units.ts";
import type { TraceFacts } from "../store/trace-summaries.ts";

export type AddFact = (key: string, label: string, value: Evidence["value"], unit: string, text: string, parts?: Evidence["parts"]) => void;

/** Other processes listed per trace, most active first. */
const MAX_SHARED = 3;
/** Latency facts per trace: the kinds that took the most time. */
const MAX_LATENCY_KINDS = 3;
/** Kinds whose latency says little about file work. */
const LATENCY_SKIP = new Set(["other", "context_switch", "exec", ""]);
const MAX_PATH = 100;

const n = (x: number) => Math.round(x).toLocaleString("en-US");
const secs = (s: number) => formatDuration(s * 1000);
const pctOf = (part: number, whole: number) => (whole > 0 ? (part / whole) * 100 : 0);
const ms = (x: number) => `${Number(x.toPrecision(3))} ms`;

/** Adds the facts of trace `t` under `prefix` ("trace.1"). */
export function addTraceEvidence(add: AddFact, prefix: string, t: TraceFacts): void {
  const short = t.traceId.slice(0, 8);
  const span = t.spanSeconds ?? 0;

  // What the trace covers.
  const scope = t.scope === "run"
    ? `the run's window${t.wholeTrace?.events != null && t.events !== null ? `: ${n(t.events)} of the trace's ${n(t.wholeTrace.events)} events` : ""}`
    : t.scope === "trace" ? "the whole trace" : "scope unknown";
  const events = t.events === null ? "an unknown number of events" : `${n(t.events)} events`;
  const others = t.seesOtherProcesses === false
    ? "it records only blit's own processes"
    : t.sharedFiles === null ? "other processes not summarized (older summary)"
    : t.sharedFiles.length === 0 ? "no other process touched blit's files"
    : `${t.sharedFiles.length} other process${t.sharedFiles.length === 1 ? "" : "es"} touched blit's files`;
  add(
    `${prefix}.span`,
    `trace ${short}`,
    span,
    "s",
    `trace ${t.traceId} (${t.format || "unknown format"}, ${scope}): ${events} over ${t.spanSeconds === null ? "an unknown span" : secs(span)}, clock ${t.clock || "unknown"}${t.clockEstimated ? " (wall time estimated)" : ""}${t.unparsedLines > 0 ? `, ${n(t.unparsedLines)} unparsed lines` : ""}; blit's events: ${t.subjectRule || "not stated"}; ${others}`,
    {
      ...(t.events !== null ? { events: t.events } : {}),
      spanSeconds: span,
      format: t.format,
      clock: t.clock,
      ...(t.wholeTrace?.events != null ? { traceEvents: t.wholeTrace.events } : {}),
    },
  );

  // A trace that `blit trace record` took around the run: the run paid the tracer's cost (perf
  // does not ptrace, so no TracerPid shows it in the run's context; this does).
  if (t.tracer?.recorded) {
    add(`${prefix}.tracer`, "tracer", t.tracer.tool, "", `\`blit trace record\` ran ${t.tracer.tool} around the run (trace ${short}): the run's timings include the tracer's cost`, { tool: t.tracer.tool });
  }

  // Other processes on blit's files: a scanner or an indexer reading what blit writes.
  for (const [k, p] of (t.sharedFiles ?? []).slice(0, MAX_SHARED).entries()) {
    const name = p.process || "an unnamed process";
    const eventShare = t.events ? pctOf(p.events, t.events) : null;
    const timeShare = span > 0 ? pctOf(p.seconds, span) : null;
    const examples = p.examples.map(quotePath).join(", ");
    add(
      `${prefix}.shared.${k + 1}`,
      `${name} on blit's files`,
      p.files,
      "files",
      `${name}${p.pid !== null ? ` (pid ${p.pid})` : ""}, not blit, touched ${n(p.files)} of the files blit touched: ${n(p.events)} operations${eventShare !== null ? ` (${Math.round(eventShare)}% of the trace's events)` : ""}, ${formatBytes(p.bytes)}, ${secs(p.seconds)} of operation time${timeShare !== null ? ` (${Math.round(timeShare)}% of the traced ${secs(span)})` : ""}${examples ? `; e.g. ${examples}` : ""}`,
      {
        process: name,
        ...(p.pid !== null ? { pid: p.pid } : {}),
        files: p.files,
        events: p.events,
        bytes: p.bytes,
        seconds: p.seconds,
        ...(eventShare !== null ? { eventSharePct: eventShare } : {}),
        ...(timeShare !== null ? { timeSharePct: timeShare } : {}),
      },
    );
  }

  // Metadata against data: time when the trace measured durations, else counts.
  const md = t.metadataVsData;
  if (md && md.metadataCount > 0) {
    const timed = md.metadataSeconds + md.dataSeconds > 0;
    const share = timed ? pctOf(md.metadataSeconds, md.metadataSeconds + md.dataSeconds) : pctOf(md.metadataCount, md.metadataCount + md.dataCount);
    const metaKinds = t.byKind
      .filter((k) => k.metadata && k.count > 0)
      .sort((a, b) => b.seconds - a.seconds || b.count - a.count)
      .slice(0, 3)
      .map((k) => `${k.kind} ${n(k.count)}${timed ? ` (${secs(k.seconds)})` : ""}`)
      .join(", ");
    add(
      `${prefix}.metadata-share`,
      timed ? "metadata share of traced operation time" : "metadata share of traced operations",
      share,
      "%",
      `metadata operations took ${timed ? `${secs(md.metadataSeconds)} in ` : ""}${n(md.metadataCount)} calls${metaKinds ? ` (${metaKinds})` : ""}, data operations ${timed ? `${secs(md.dataSeconds)} in ` : ""}${n(md.dataCount)} calls: metadata is ${Math.round(share)}% of the traced ${timed ? "operation time" : "operations"}`,
      { metadataSeconds: md.metadataSeconds, dataSeconds: md.dataSeconds, metadataCount: md.metadataCount, dataCount: md.dataCount, basis: timed ? "time" : "count" },
    );
  }

  // Latency of the kinds that took the most time.
  const secondsOf = new Map(t.byKind.map((k) => [k.kind, k.seconds]));
  const metadataKinds = new Set(t.byKind.filter((k) => k.metadata).map((k) => k.kind));
  const kinds = t.latency
    .filter((l) => !LATENCY_SKIP.has(l.kind) && l.count > 0 && /^[\w-]+$/.test(l.kind))
    .sort((a, b) => (secondsOf.get(b.kind) ?? b.count * b.p50Ms) - (secondsOf.get(a.kind) ?? a.count * a.p50Ms) || b.count - a.count)
    .slice(0, MAX_LATENCY_KINDS);
  for (const l of kinds) {
    const total = secondsOf.get(l.kind);
    add(
      `${prefix}.latency.${l.kind}`,
      `${l.kind} latency (p50)`,
      l.p50Ms,
      "ms",
      `${l.kind}: ${n(l.count)} timed calls, p50 ${ms(l.p50Ms)}, p99 ${ms(l.p99Ms)}, max ${ms(l.maxMs)}${total ? `, ${secs(total)} in all` : ""}`,
      { count: l.count, p50Ms: l.p50Ms, p99Ms: l.p99Ms, maxMs: l.maxMs, ...(total ? { seconds: total } : {}), category: metadataKinds.has(l.kind) ? "metadata" : "other" },
    );
  }

  // The longest stretch with no progress by blit.
  const gap = [...t.longestGaps].sort((a, b) => b.seconds - a.seconds)[0];
  if (gap && gap.seconds > 0) {
    const from = t.firstTs !== null ? gap.fromTs - t.firstTs : null;
    const spanShare = span > 0 ? pctOf(gap.seconds, span) : null;
    add(
      `${prefix}.gap.1`,
      "longest stall in the trace",
      gap.seconds,
      "s",
      `longest stretch with no progress by blit: ${secs(gap.seconds)}${spanShare !== null ? ` (${Math.round(spanShare)}% of the traced ${secs(span)})` : ""}${from !== null ? `, from +${from.toFixed(3)} s to +${(from + gap.seconds).toFixed(3)} s after the first event` : ""}${gap.line !== null ? `, ended by line ${n(gap.line)} of the trace` : ""}`,
      {
        seconds: gap.seconds,
        ...(spanShare !== null ? { spanSharePct: spanShare } : {}),
        ...(from !== null ? { fromSeconds: from } : {}),
        ...(gap.line !== null ? { line: gap.line } : {}),
      },
    );
  }

  // Failed operations, the commonest first.
  const failed = t.failures.filter((f) => f.count > 0).sort((a, b) => b.count - a.count);
  if (failed.length > 0) {
    const count = failed.reduce((a, f) => a + f.count, 0);
    const top = failed[0]!;
    add(
      `${prefix}.failures`,
      "failed operations in the trace",
      count,
      "ops",
      `${n(count)} traced operation${count === 1 ? "" : "s"} failed${failed.length < 20 ? "" : " (at least)"}: ${failed.slice(0, 3).map((f) => `${f.kind} ${f.result || "?"} ×${n(f.count)}`).join(", ")}`,
      { count, kind: top.kind, result: top.result, topCount: top.count },
    );
  }

  // The file with the most bytes.
  const file = [...t.bytesByFile].sort((a, b) => b.readBytes + b.writeBytes - (a.readBytes + a.writeBytes) || b.ops - a.ops)[0];
  if (file && file.readBytes + file.writeBytes > 0) {
    add(
      `${prefix}.top-file`,
      "busiest file in the trace",
      file.readBytes + file.writeBytes,
      "bytes",
      `busiest file ${quotePath(file.path)}: ${formatBytes(file.writeBytes)} written, ${formatBytes(file.readBytes)} read, in ${n(file.ops)} operations`,
      { readBytes: file.readBytes, writeBytes: file.writeBytes, ops: file.ops },
    );
  }
}

/** A path in double quotes (shortened in the middle when long), as redaction expects it. */
function quotePath(path: string): string {
  const p = path.replace(/"/g, "'").replace(/[\r\n\t]/g, " ");
  return `"${p.length > MAX_PATH ? `${p.slice(0, 40)}…${p.slice(-(MAX_PATH - 41))}` : p}"`;
}
