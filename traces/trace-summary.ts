// A trace's summary: the facts diagnose turns into numbered evidence. Computed in DuckDB from the
// stored events (so a trace of any size is summarized without holding it in memory), for the
// whole trace and again for the window of the run it is linked to.
import type { DuckDBConnection } from "@duckdb/node-api";
import type { OpKind } from "./trace-event.ts";

export interface KindTotal {
  kind: OpKind;
  count: number;
  /** Summed durations, seconds (0 when the trace has none). */
  seconds: number;
  bytes: number;
}

export interface LatencyPercentiles {
  kind: OpKind;
  /** Events of this kind that carry a duration. */
  count: number;
  /** Milliseconds. */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ProcessBytes {
  process: string;
  pid: number | null;
  events: number;
  readBytes: number;
  writeBytes: number;
}

export interface FileBytes {
  /** The file's final name: writes to a temporary are counted under the name it was renamed to. */
  path: string;
  ops: number;
  readBytes: number;
  writeBytes: number;
}

export interface SharedFileUse {
  /** A process other than blit that touched files blit touched (an antivirus scanner, an indexer). */
  process: string;
  pid: number | null;
  files: number;
  events: number;
  bytes: number;
  seconds: number;
  examples: string[];
}

export interface ProgressGap {
  /** Seconds on the trace's clock where the gap starts and ends. */
  fromTs: number;
  toTs: number;
  seconds: number;
  /** The line of the event that ended the gap. */
  line: number | null;
}

export interface TraceSummary {
  traceId: string;
  scope: "trace" | "run";
  runId: string | null;
  format: string;
  file: string;
  events: number;
  unparsedLines: number;
  /** Seconds on the trace's clock, and their span. */
  firstTs: number | null;
  lastTs: number | null;
  spanSeconds: number;
  /** ISO 8601 wall times, when the trace's clock could be placed. */
  wallStart: string | null;
  wallEnd: string | null;
  clock: string;
  clockEstimated: boolean;
  /** Which events count as blit's own, and why. */
  subject: { rule: string; pids: number[]; processes: string[] };
  byKind: KindTotal[];
  latency: LatencyPercentiles[];
  bytesByProcess: ProcessBytes[];
  bytesByFile: FileBytes[];
  sharedFiles: SharedFileUse[];
  metadataVsData: { metadataCount: number; metadataSeconds: number; dataCount: number; dataSeconds: number };
  failures: { kind: OpKind; result: string; count: number }[];
  longestGaps: ProgressGap[];
  notes: string[];
}

export interface SummaryScope {
  traceId: string;
  scope: "trace" | "run";
  runId: string | null;
  format: string;
  file: string;
  unparsedLines: number;
  clock: string;
  epochOffset: number | null;
  clockEstimated: boolean;
  /** Limit to events in [fromTs, toTs] (trace clock); undefined = all. */
  fromTs?: number;
  toTs?: number;
  subject: { rule: string; pids: number[]; processes: string[]; all: boolean };
  notes: string[];
}

const TOP = 20;

export async function computeSummary(conn: DuckDBConnection, s: SummaryScope): Promise<TraceSummary> {
  const params: Record<string, string | number> = { trace: s.traceId };
  let where = "trace_id = $trace";
  if (s.fromTs !== undefined && s.toTs !== undefined) {
    where += " AND ts BETWEEN $from AND $to";
    params.from = s.fromTs;
    params.to = s.toTs;
  }
  const subjectSql = s.subject.all
    ? "TRUE"
    : `(${[
        s.subject.pids.length ? `pid IN (${s.subject.pids.map(Number).join(",")}) OR tid IN (${s.subject.pids.map(Number).join(",")})` : "",
        s.subject.processes.length ? `process IN (${s.subject.processes.map(sqlString).join(",")})` : "",
      ].filter(Boolean).join(" OR ") || "FALSE"})`;
  // events, with writes to a temporary counted under the name it was finally renamed or linked to
  const ev = `
    WITH renames AS (
      SELECT json_extract_string(fields, '$.from') AS src, any_value(path ORDER BY ts DESC) AS dst
      FROM trace_events WHERE trace_id = $trace AND kind = 'rename' AND json_extract_string(fields, '$.from') IS NOT NULL AND path IS NOT NULL
      GROUP BY 1
    ), ev AS (
      SELECT e.*, coalesce(r.dst, e.path) AS final_path, ${subjectSql} AS subject
      FROM trace_events e LEFT JOIN renames r ON e.path = r.src
      WHERE ${where.replace(/\b(trace_id|ts)\b/g, "e.$1")}
    )`;
  const q = async (sql: string) => (await conn.runAndReadAll(`${ev} ${sql}`, params)).getRowObjects();
  const num = (v: unknown) => (v == null ? 0 : Number(v));
  const totals = (await q(`SELECT count(*) AS n, min(ts) AS first, max(ts + coalesce(duration, 0)) AS last FROM ev`))[0]!;
  const byKind = (await q(`SELECT kind, count(*) AS n, sum(duration) AS secs, sum(bytes) AS bytes FROM ev GROUP BY kind ORDER BY n DESC, kind`))
    .map((r) => ({ kind: r.kind as OpKind, count: num(r.n), seconds: num(r.secs), bytes: num(r.bytes) }));
  const latency = (await q(`
      SELECT kind, count(*) AS n, quantile_cont(duration, 0.5) AS p50, quantile_cont(duration, 0.9) AS p90,
             quantile_cont(duration, 0.99) AS p99, max(duration) AS mx
      FROM ev WHERE duration IS NOT NULL GROUP BY kind ORDER BY n DESC, kind`))
    .map((r) => ({ kind: r.kind as OpKind, count: num(r.n), p50Ms: ms(r.p50), p90Ms: ms(r.p90), p99Ms: ms(r.p99), maxMs: ms(r.mx) }));
  const bytesByProcess = (await q(`
      SELECT process, pid, count(*) AS n,
             coalesce(sum(bytes) FILTER (WHERE kind IN ('read', 'disk_read')), 0) AS rd,
             coalesce(sum(bytes) FILTER (WHERE kind IN ('write', 'disk_write')), 0) AS wr
      FROM ev GROUP BY process, pid ORDER BY rd + wr DESC, n DESC, process, pid LIMIT ${TOP}`))
    .map((r) => ({ process: String(r.process ?? ""), pid: r.pid == null ? null : num(r.pid), events: num(r.n), readBytes: num(r.rd), writeBytes: num(r.wr) }));
  const bytesByFile = (await q(`
      , f AS (
        SELECT final_path AS path, count(*) AS n,
               coalesce(sum(bytes) FILTER (WHERE kind IN ('read', 'disk_read')), 0) AS rd,
               coalesce(sum(bytes) FILTER (WHERE kind IN ('write', 'disk_write')), 0) AS wr
        FROM ev WHERE final_path IS NOT NULL GROUP BY final_path)
      -- the most written files and the most read ones, so a few big reads cannot hide the writes
      SELECT * FROM f
      QUALIFY row_number() OVER (ORDER BY wr DESC, n DESC, path) <= ${TOP} OR row_number() OVER (ORDER BY rd DESC, n DESC, path) <= ${TOP}
      ORDER BY wr DESC, rd DESC, n DESC, path`))
    .map((r) => ({ path: String(r.path), ops: num(r.n), readBytes: num(r.rd), writeBytes: num(r.wr) }));
  const sharedFiles = s.subject.all ? [] : (await q(`
      , mine AS (SELECT DISTINCT lower(final_path) AS p FROM ev WHERE subject AND final_path IS NOT NULL)
      SELECT process, pid, count(DISTINCT final_path) AS files, count(*) AS n, coalesce(sum(bytes), 0) AS bytes,
             coalesce(sum(duration), 0) AS secs, list(DISTINCT final_path)[1:3] AS examples
      FROM ev WHERE NOT subject AND lower(final_path) IN (SELECT p FROM mine)
      GROUP BY process, pid ORDER BY n DESC, process LIMIT ${TOP}`.replace(/^\s*,/, ", ")))
    .map((r) => ({
      process: String(r.process ?? ""), pid: r.pid == null ? null : num(r.pid), files: num(r.files), events: num(r.n),
      bytes: num(r.bytes), seconds: num(r.secs), examples: listOf(r.examples),
    }));
  const cats = await q(`SELECT category, count(*) AS n, coalesce(sum(duration), 0) AS secs FROM ev GROUP BY category`);
  const cat = (c: string) => cats.find((r) => r.category === c);
  const failures = (await q(`
      SELECT kind, result, count(*) AS n FROM ev WHERE failed GROUP BY kind, result ORDER BY n DESC, kind, result LIMIT ${TOP}`))
    .map((r) => ({ kind: r.kind as OpKind, result: String(r.result), count: num(r.n) }));
  // progress: blit's data operations (any of its events when it has none)
  const progressHasData = num((await q(`SELECT count(*) AS n FROM ev WHERE subject AND category = 'data'`))[0]?.n) > 0;
  const longestGaps = (await q(`
      , p AS (SELECT ts, ts + coalesce(duration, 0) AS te, line FROM ev WHERE subject ${progressHasData ? "AND category = 'data'" : ""}),
      g AS (SELECT max(te) OVER (ORDER BY ts, te ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end, ts, line FROM p)
      SELECT prev_end, ts, ts - prev_end AS gap, line FROM g WHERE prev_end IS NOT NULL AND ts > prev_end
      ORDER BY gap DESC LIMIT 5`.replace(/^\s*,/, ", ")))
    .map((r) => ({ fromTs: num(r.prev_end), toTs: num(r.ts), seconds: num(r.gap), line: r.line == null ? null : num(r.line) }));
  const first = totals.first == null ? null : num(totals.first);
  const last = totals.last == null ? null : num(totals.last);
  const wall = (t: number | null) => (t === null || s.epochOffset === null ? null : new Date((t + s.epochOffset) * 1000).toISOString());
  return {
    traceId: s.traceId, scope: s.scope, runId: s.runId, format: s.format, file: s.file,
    events: num(totals.n), unparsedLines: s.unparsedLines,
    firstTs: first, lastTs: last, spanSeconds: first !== null && last !== null ? last - first : 0,
    wallStart: wall(first), wallEnd: wall(last), clock: s.clock, clockEstimated: s.clockEstimated,
    subject: { rule: s.subject.rule, pids: s.subject.pids, processes: s.subject.processes },
    byKind, latency, bytesByProcess, bytesByFile, sharedFiles,
    metadataVsData: {
      metadataCount: num(cat("metadata")?.n), metadataSeconds: num(cat("metadata")?.secs),
      dataCount: num(cat("data")?.n), dataSeconds: num(cat("data")?.secs),
    },
    failures, longestGaps, notes: s.notes,
  };
}

function ms(v: unknown): number {
  return v == null ? 0 : Math.round(Number(v) * 1e6) / 1e3;
}

function listOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  const items = (v as { items?: unknown[] } | null)?.items;
  return Array.isArray(items) ? items.map(String) : [];
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
