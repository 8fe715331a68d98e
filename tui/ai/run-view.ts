// What the diagnose UI shows, as plain data and strings: shared by the Ink screens and the
// Markdown printed when stdout is not a terminal, so the two always say the same thing.
import {
  countOf, formatBytes, formatBytesPerSec, formatCount, formatDuration, formatTime, MIB, sparkline, type Evidence, type ExplainerAnswer, type RunDiagnosis, type ScoredRun,
} from "../../analytics/index.ts";
import type { DeviceContext, RunContext } from "../../engine/index.ts";

export const count = formatCount;

/** "!" a warning flag, "i" only informational ones, " " none, "…" not scored yet. */
export function flagMark(entry: Pick<ScoredRun, "flags">): string {
  if (!entry.flags) return "…";
  if (entry.flags.some((f) => f.severity === "warn")) return "!";
  return entry.flags.length > 0 ? "i" : " ";
}

export function sizeText(files: number, bytes: number): string {
  return `${countOf(files, "file")}, ${formatBytes(bytes)}`;
}

export function routeText(entry: Pick<ScoredRun, "command" | "route">): string {
  return `${entry.command}/${entry.route}`;
}

export function whenText(iso: string): string {
  return formatTime(iso, { seconds: false });
}

/**
 * The run list's throughput over the history: the run page's sparkline, scaled to the 95th
 * percentile so that one outlier does not flatten the rest.
 */
export function historySparkline(values: readonly number[], width: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  const top = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))];
  // One character per run at most: a short history is not stretched across the screen.
  return sparkline(values, Math.min(width, values.length), top || undefined);
}

export function throughputCaption(values: readonly number[]): string {
  if (values.length === 0) return "no run has moved data yet";
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted[Math.floor(sorted.length / 2)]!;
  return `MiB/s over ${countOf(values.length, "run")} that moved data, oldest → newest; median ${formatBytesPerSec(mid * MIB)}`;
}

/** Runs whose id, route, paths, status or flags contain `filter` (case-insensitive). */
export function filterRuns(runs: readonly ScoredRun[], filter: string): ScoredRun[] {
  const f = filter.trim().toLowerCase();
  if (!f) return [...runs];
  return runs.filter((r) =>
    [r.id, r.command, r.route, r.source, r.destination, r.status, ...(r.flags ?? []).map((x) => x.kind)].some((s) => s.toLowerCase().includes(f)),
  );
}

export interface BandView {
  actualMs: number;
  predictedMs: number;
  lowMs: number;
  highMs: number;
  /** "within the band", "2.9× above the band's top", ... */
  verdict: string;
}

export function bandView(d: RunDiagnosis): BandView {
  const p = d.prediction;
  const a = d.run.totalMs;
  const verdict = a > p.highMs ? `${(a / p.highMs).toFixed(1)}× the band's top` : a < p.lowMs ? `below the band (${(p.lowMs / Math.max(a, 1)).toFixed(1)}× under its bottom)` : "within the band";
  return { actualMs: a, predictedMs: p.durationMs, lowMs: p.lowMs, highMs: p.highMs, verdict };
}

/** A one-line scale: the band as ░, the prediction as │, the actual as ●. */
export function bandBar(b: BandView, width: number): string {
  const max = Math.max(b.actualMs, b.highMs) * 1.05 || 1;
  const at = (ms: number) => Math.max(0, Math.min(width - 1, Math.round((ms / max) * (width - 1))));
  const cells = Array.from({ length: width }, () => "─");
  for (let i = at(b.lowMs); i <= at(b.highMs); i++) cells[i] = "░";
  cells[at(b.predictedMs)] = "│";
  cells[at(b.actualMs)] = "●";
  return cells.join("");
}

export interface PhaseRow {
  name: string;
  ms: number;
  share: number;
}

export function phaseRows(evidence: readonly Evidence[]): PhaseRow[] {
  const total = num(evidence, "duration.total") ?? 0;
  return ["enumerate", "plan", "transfer", "delete"].map((name) => {
    const ms = num(evidence, `phase.${name}`) ?? 0;
    return { name, ms, share: total > 0 ? ms / total : 0 };
  });
}

export function bar(share: number, width: number): string {
  const full = Math.round(Math.max(0, Math.min(1, share)) * width);
  return "█".repeat(full) + "·".repeat(width - full);
}

/** "copy_file_range 2.9 MB (100% of the bytes) in 3,000 files", then "not reflink: ..." notes. */
export function fastPathLines(evidence: readonly Evidence[]): string[] {
  const paths = evidence.filter((e) => e.key.startsWith("fastpath.")).map((e) => e.text);
  const notes = evidence.filter((e) => e.key.startsWith("fastpath-note.")).map((e) => e.text);
  return [...paths, ...notes];
}

export function traceLines(evidence: readonly Evidence[]): string[] {
  return evidence.filter((e) => e.key.startsWith("trace.")).map((e) => e.text);
}

/** One cause or suggestion, as the Explain panel lists them. */
export interface Claim {
  kind: "cause" | "suggestion";
  /** "Cause 1", "Suggestion 2". */
  label: string;
  text: string;
  /** Suggestion's flag, confidence of a cause. */
  detail: string;
  evidence: string[];
  flag?: string;
}

export function claimsOf(answer: ExplainerAnswer): Claim[] {
  const e = answer.explanation;
  return [
    ...e.causes.map((c, i): Claim => ({ kind: "cause", label: `Cause ${i + 1}`, text: c.text, detail: `${c.confidence} confidence`, evidence: c.evidence })),
    ...e.suggestions.map((s, i): Claim => ({
      kind: "suggestion",
      label: `Suggestion ${i + 1}`,
      text: `${s.text} Expected: ${s.expectedEffect}`,
      detail: s.flag ?? "no flag",
      evidence: s.evidence,
      flag: s.flag,
    })),
  ];
}

/** "model gpt-x", "model gpt-x (cached answer from ...)", or "offline rules". */
export function answeredByText(answer: ExplainerAnswer): string {
  const a = answer.answeredBy;
  if (a.kind === "rules") return "offline rules";
  return a.cached ? `model ${a.model} (cached answer from ${whenText(a.cachedAt ?? "")})` : `model ${a.model}`;
}

export function droppedLines(answer: ExplainerAnswer): string[] {
  return answer.dropped.map((d) => `dropped ${d.claim} ("${d.text.length > 80 ? `${d.text.slice(0, 77)}...` : d.text}"): ${d.reason}`);
}

/** The facts a claim cites, in its order; ids not in the bundle are skipped (validation dropped those). */
export function citedFacts(evidence: readonly Evidence[], ids: readonly string[]): Evidence[] {
  const byId = new Map(evidence.map((e) => [e.id, e]));
  return ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
}

export function factValue(e: Evidence): string {
  if (typeof e.value === "number") {
    if (e.unit === "ms") return formatDuration(e.value);
    if (e.unit === "bytes") return `${formatBytes(e.value)} (${count(e.value)} B)`;
    return `${e.value.toLocaleString("en-US", { maximumFractionDigits: 3 })}${e.unit ? ` ${e.unit}` : ""}`;
  }
  return `${String(e.value)}${e.unit ? ` ${e.unit}` : ""}`;
}

function num(evidence: readonly Evidence[], key: string): number | undefined {
  const v = evidence.find((e) => e.key === key)?.value;
  return typeof v === "number" ? v : undefined;
}

/** "cpu-contention  Other processes kept ..." per cause of the rules' explanation, kind first. */
export function causeLines(d: RunDiagnosis): string[] {
  return d.explanation.causes.map((c) => `${(c.kind ?? "cause").padEnd(14)} ${c.text}`);
}

const pct = (share: number) => `${Math.round(share * 100)}%`;
const msText = (ms: number) => `${Number(ms.toPrecision(2))} ms`;

/**
 * The machine around the run in a few short lines: blit's CPU and the others', pressure, each
 * end's device, and a tracer or other processes on the destination when there were any.
 */
export function machineLines(c: RunContext): string[] {
  const cpu = [`blit ${formatDuration(c.self.userMs)} user ${formatDuration(c.self.systemMs)} sys`];
  if (c.othersCpuShare !== undefined) cpu.push(`others ${pct(c.othersCpuShare)} of ${c.cpuCount} CPUs`);
  else cpu.push(`${c.cpuCount} CPUs`);
  cpu.push(`load ${Math.max(c.load.start, c.load.end).toFixed(1)}`);
  const lines = [`cpu   ${cpu.join(" · ")}`];
  if (c.pressure) {
    const p = c.pressure;
    lines.push(`psi   cpu ${pct(p.cpuSome)} · io ${pct(p.ioSome)} (full ${pct(p.ioFull)}) · memory ${pct(p.memorySome)}`);
  }
  for (const d of c.devices) lines.push(`${d.role === "source" ? "src" : "dst"}   ${deviceText(d)}`);
  const extra: string[] = [];
  if (c.tracer) extra.push(`traced by ${c.tracer.name} (pid ${c.tracer.pid})`);
  if (c.openers && c.openers.length > 0) extra.push(`open on dst: ${c.openers.map((o) => `${o.name} (${o.pid}, ${o.files} files)`).join(", ")}`);
  if (extra.length > 0) lines.push(`also  ${extra.join(" · ")}`);
  return lines;
}

function deviceText(d: DeviceContext): string {
  const parts = [`${d.device} ${d.deviceClass} ${d.fsType}${d.sync ? " SYNC" : ""} at ${d.mountPoint}`];
  const disk = d.disk;
  if (disk) {
    parts.push(`busy ${pct(disk.utilisation)}`);
    const wait = [disk.readAwaitMs === null ? "" : `r ${msText(disk.readAwaitMs)}`, disk.writeAwaitMs === null ? "" : `w ${msText(disk.writeAwaitMs)}`].filter(Boolean);
    if (wait.length > 0) parts.push(`await ${wait.join(" ")}`);
    const others = d.role === "destination" ? disk.othersWriteShare ?? disk.othersReadShare : disk.othersReadShare ?? disk.othersWriteShare;
    if (others !== null) parts.push(`others ${pct(others)} of I/O`);
  }
  return parts.join(" · ");
}
