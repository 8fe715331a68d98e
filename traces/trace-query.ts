// Reading traces back: the list, one trace's summary, and the summaries linked to a run.
import { telemetryPath, withStore } from "../analytics/index.ts";
import type { TraceFormat } from "./detect-format.ts";
import type { BadLine } from "./trace-event.ts";
import type { TraceSummary } from "./trace-summary.ts";

export interface TraceQueryOptions {
  /**
   * The store file.
   * @default telemetryPath(process.env)
   */
  path?: string;
  /**
   * How long to retry while another process holds the store, in ms.
   * @default 2000
   */
  busyTimeoutMs?: number;
}

/** One ingested trace, as `blit trace list` shows it. */
export interface TraceInfo {
  id: string;
  file: string;
  format: TraceFormat;
  /** ISO 8601. */
  ingestedAt: string;
  runId: string | null;
  linkMethod: string | null;
  events: number;
  unparsedLines: number;
  unparsedSample: BadLine[];
  /** ISO 8601 wall times of the first and last event, when known. */
  startedAt: string | null;
  finishedAt: string | null;
  clock: string;
  notes: string[];
}

/** A stored summary and what it covers. */
export interface StoredSummary {
  traceId: string;
  scope: "trace" | "run";
  runId: string | null;
  summary: TraceSummary;
}

const BUSY_MS = 2000;

/** Ingested traces, newest first. */
export async function listTraces(options: TraceQueryOptions & { limit?: number } = {}): Promise<TraceInfo[]> {
  const limit = options.limit ?? 50;
  return withStore(options.path ?? telemetryPath(), async ({ conn }) => {
    const r = await conn.runAndReadAll(`${SELECT_TRACE} ORDER BY ingested_at DESC, id LIMIT $1`, [BigInt(limit)]);
    return r.getRowObjects().map(toInfo);
  }, { busyTimeoutMs: options.busyTimeoutMs ?? BUSY_MS });
}

/** One trace's record, or undefined. A unique prefix of the id is enough. */
export async function getTrace(traceId: string, options: TraceQueryOptions = {}): Promise<TraceInfo | undefined> {
  return withStore(options.path ?? telemetryPath(), async ({ conn }) => {
    const r = await conn.runAndReadAll(`${SELECT_TRACE} WHERE starts_with(id, $1) ORDER BY ingested_at DESC LIMIT 2`, [traceId]);
    const rows = r.getRowObjects();
    return rows.length === 1 || rows[0]?.id === traceId ? toInfo(rows[0]!) : undefined;
  }, { busyTimeoutMs: options.busyTimeoutMs ?? BUSY_MS });
}

/** The whole-trace summary of one trace (id or unique prefix), or undefined when there is none. */
export async function traceSummary(traceId: string, options: TraceQueryOptions = {}): Promise<TraceSummary | undefined> {
  return withStore(options.path ?? telemetryPath(), async ({ conn }) => {
    const r = await conn.runAndReadAll(
      "SELECT CAST(summary AS VARCHAR) AS s, trace_id FROM trace_summaries WHERE starts_with(trace_id, $1) AND scope = 'trace' LIMIT 2",
      [traceId],
    );
    const rows = r.getRowObjects();
    if (rows.length !== 1 && rows[0]?.trace_id !== traceId) return undefined;
    return JSON.parse(String(rows[0]!.s)) as TraceSummary;
  }, { busyTimeoutMs: options.busyTimeoutMs ?? BUSY_MS });
}

/** Summaries of every trace linked to a run, limited to the run's window, oldest trace first. */
export async function summariesForRun(runId: string, options: TraceQueryOptions = {}): Promise<StoredSummary[]> {
  return withStore(options.path ?? telemetryPath(), async ({ conn }) => {
    const r = await conn.runAndReadAll(
      "SELECT trace_id, scope, run_id, CAST(summary AS VARCHAR) AS s FROM trace_summaries WHERE run_id = $1 AND scope = 'run' ORDER BY created_at, trace_id",
      [runId],
    );
    return r.getRowObjects().map((row) => ({
      traceId: String(row.trace_id), scope: "run" as const, runId: String(row.run_id),
      summary: JSON.parse(String(row.s)) as TraceSummary,
    }));
  }, { busyTimeoutMs: options.busyTimeoutMs ?? BUSY_MS });
}

const SELECT_TRACE = `
  SELECT id, file, format, epoch_ms(ingested_at) AS ingested_ms, run_id, link_method, events, unparsed_lines,
         CAST(unparsed_sample AS VARCHAR) AS sample, epoch_ms(started_at) AS s_ms, epoch_ms(finished_at) AS f_ms,
         clock, CAST(notes AS VARCHAR) AS notes
  FROM traces`;

function toInfo(r: Record<string, unknown>): TraceInfo {
  const iso = (v: unknown) => (v == null ? null : new Date(Number(v)).toISOString());
  return {
    id: String(r.id), file: String(r.file), format: String(r.format) as TraceFormat,
    ingestedAt: iso(r.ingested_ms)!, runId: r.run_id == null ? null : String(r.run_id),
    linkMethod: r.link_method == null ? null : String(r.link_method),
    events: Number(r.events), unparsedLines: Number(r.unparsed_lines),
    unparsedSample: r.sample == null ? [] : (JSON.parse(String(r.sample)) as BadLine[]),
    startedAt: iso(r.s_ms), finishedAt: iso(r.f_ms), clock: String(r.clock ?? "unknown"),
    notes: r.notes == null ? [] : (JSON.parse(String(r.notes)) as string[]),
  };
}
