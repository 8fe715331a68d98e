// A trace's summary: the facts diagnose turns into numbered evidence. Computed in DuckDB from the
// stored events (so a trace of any size is summarized without holding it in memory), for the
// whole trace and again for the window of the run it is linked to.
import type { DuckDBConnection } from "@duckdb/node-api";
import type { OpKind } from "./trace-event.ts";
import { CPU_SAMPLE_EVENTS } from "./perf-script.ts";
import { sqlString } from "../analytics/index.ts";

export interface KindTotal {
  kind: OpKind;
  count: number;
  /** Summed durations, seconds (0 when the trace has none). */
  seconds: number;
  bytes: number;
  /** Every event of this kind names, looks up or changes a file (open, stat, rename, mkdir, ...). */
  metadata: boolean;
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

/** Where CPU samples (perf script cpu-clock, cycles, ...) caught a process running. */
export interface BusyFunction {
  process: string;
  /** The sampled function (the leaf frame), "[unknown]" when perf could not name it. */
  function: string;
  /** Its binary or library ("[kernel.kallsyms]", "/usr/lib/libc.so.6"); "" when not printed. */
  module: string;
  samples: number;
  /** Of all CPU samples in the scope, 0..1. */
  share: number;
}

/** The tool that traced the run, when the trace itself shows one followed it (strace, perf trace). */
export interface TraceTracer {
  /** "strace" or "perf" (perf trace). */
  tool: "strace" | "perf";
  /** True when `blit trace record` ran the command under it; false for a trace ingested afterwards. */
  recorded: boolean;
  /** The tracer's command line, when blit ran it. */
  command: string | null;
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
  /** CPU samples in the scope (perf script cpu-clock, task-clock, cycles); 0 for traces without. */
  cpuSamples?: number;
  /** The functions most CPU samples caught, busiest first (perf script only). */
  busiestFunctions?: BusyFunction[];
  /**
   * The tracer that followed the traced command, so diagnosis can account for its cost (strace
   * makes every system call several times slower); null when the trace was taken from outside
   * (perf script, ETW exports), whose cost is small. Absent in summaries of older versions.
   */
  tracer?: TraceTracer | null;
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
  tracer: TraceTracer | null;
  notes: string[];
}

const TOP = 20;
/** The event names perf-script.ts gives CPU samples, as an SQL list. */
const CPU_SAMPLE_NAMES = [...CPU_SAMPLE_EVENTS].map((n) => `'${n}'`).join(", ");
/** The trace's renames: each one's source and destination, and when. */
const RENAME_EVENTS = `
  SELECT json_extract_string(fields, '$.from') AS src, path AS dst, ts
  FROM trace_events WHERE trace_id = $trace AND kind = 'rename' AND json_extract_string(fields, '$.from') IS NOT NULL AND path IS NOT NULL`;
/** Each renamed file's source and the name it last got (a temporary and its final name). */
const RENAMES = `SELECT src, arg_max(dst, ts) AS dst FROM (${RENAME_EVENTS}) GROUP BY 1`;

/** How the summary's queries get memory when DuckDB runs under a limit. */
export interface SummaryMemory {
  /**
   * Runs `run` with more memory than the other queries get: called for the queries that group
   * every distinct path, and again for any query that ran out of memory.
   */
  roomy<T>(run: () => Promise<T>): Promise<T>;
}

export async function computeSummary(conn: DuckDBConnection, s: SummaryScope, memory?: SummaryMemory): Promise<TraceSummary> {
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
  // blit's events and the rest, in the scope; `evf` adds each event's final path: writes to a
  // temporary are counted under the name it was finally renamed or linked to. Only the file queries
  // pay for that join.
  const ev = `ev AS (SELECT *, ${subjectSql} AS subject FROM trace_events WHERE ${where})`;
  const evf = `
    renames AS (${RENAMES}), evf AS (
      SELECT e.*, coalesce(r.dst, e.path) AS final_path, ${subjectSql} AS subject
      FROM trace_events e LEFT JOIN renames r ON e.path = r.src
      WHERE ${where.replace(/\b(trace_id|ts)\b/g, "e.$1")}
    )`;
  const read = async (sql: string, roomy: boolean) => {
    const run = async () => (await conn.runAndReadAll(sql, params)).getRowObjects();
    if (!memory) return run();
    if (roomy) return memory.roomy(run);
    try {
      return await run();
    } catch (err) {
      if (!String(err).includes("Out of Memory Error")) throw err;
      return memory.roomy(run);
    }
  };
  const q = (sql: string, roomy = false) => read(`WITH ${ev} ${sql}`, roomy);
  const qf = (sql: string, roomy = false) => read(`WITH ${evf} ${sql}`, roomy);
  const num = (v: unknown) => (v == null ? 0 : Number(v));
  // one scan for the totals, the kinds, the categories, blit's data events and the failures:
  // each grouping set gives what its own GROUP BY query would
  const sets = await q(`
      SELECT GROUPING(kind) AS g_kind, GROUPING(category) AS g_cat, GROUPING(fail_result) AS g_fail,
             kind, category, failed, fail_result, count(*) AS n, sum(duration) AS secs, sum(bytes) AS bytes,
             coalesce(sum(duration), 0) AS secs0, min(ts) AS first, max(ts + coalesce(duration, 0)) AS last,
             count(*) FILTER (WHERE subject AND category = 'data') AS subject_data, bool_and(category = 'metadata') AS all_metadata,
             count(*) FILTER (WHERE NOT subject AND path IS NOT NULL) AS other_paths
      FROM (SELECT *, CASE WHEN failed THEN result END AS fail_result FROM ev)
      GROUP BY GROUPING SETS ((), (kind), (category), (kind, failed, fail_result))`);
  const totals = sets.find((r) => num(r.g_kind) === 1 && num(r.g_cat) === 1 && num(r.g_fail) === 1) ?? { n: 0, first: null, last: null, subject_data: 0, other_paths: 0 };
  const byKind = sets.filter((r) => num(r.g_kind) === 0 && num(r.g_fail) === 1)
    .map((r) => ({ kind: r.kind as OpKind, count: num(r.n), seconds: num(r.secs), bytes: num(r.bytes), metadata: r.all_metadata === true }))
    .sort((a, b) => b.count - a.count || compareText(a.kind, b.kind));
  // exact percentiles (quantile_cont's interpolation) from a histogram of the durations: traces
  // stamp durations to the microsecond or so, so it has far fewer rows than the trace has events,
  // and grouping spills to disk where holding every duration for quantile_cont could not
  const latency = (await q(`
      , h AS (SELECT kind, duration AS d, count(*) AS c FROM ev WHERE duration IS NOT NULL GROUP BY kind, duration),
      w AS (SELECT kind, d, sum(c) OVER (PARTITION BY kind ORDER BY d ROWS UNBOUNDED PRECEDING) AS cum, sum(c) OVER (PARTITION BY kind) AS n FROM h),
      pct AS (
        SELECT kind, n, q, (n - 1) * q AS pos, max(d) AS mx,
               min(d) FILTER (WHERE cum > floor((n - 1) * q)) AS lo, min(d) FILTER (WHERE cum > ceil((n - 1) * q)) AS hi
        FROM w, (VALUES (0.5), (0.9), (0.99)) v(q) GROUP BY kind, n, q)
      SELECT kind, n, list(lo + (pos - floor(pos)) * (hi - lo) ORDER BY q) AS q, max(mx) AS mx
      FROM pct GROUP BY kind, n ORDER BY n DESC, kind`))
    .map((r) => {
      const [p50, p90, p99] = listItems(r.q);
      return { kind: r.kind as OpKind, count: num(r.n), p50Ms: ms(p50), p90Ms: ms(p90), p99Ms: ms(p99), maxMs: ms(r.mx) };
    });
  const bytesByProcess = (await q(`
      SELECT process, pid, count(*) AS n,
             coalesce(sum(bytes) FILTER (WHERE kind IN ('read', 'disk_read')), 0) AS rd,
             coalesce(sum(bytes) FILTER (WHERE kind IN ('write', 'disk_write')), 0) AS wr
      FROM ev GROUP BY process, pid ORDER BY rd + wr DESC, n DESC, process, pid LIMIT ${TOP}`))
    .map((r) => ({ process: String(r.process ?? ""), pid: r.pid == null ? null : num(r.pid), events: num(r.n), readBytes: num(r.rd), writeBytes: num(r.wr) }));
  // Bytes per final path. Every distinct path is a group (millions in a big trace), so the groups
  // are keyed by the path's 64-bit hash and built by aggregation alone, which DuckDB spills to disk
  // (a join with the renames does not spill, and string keys hold far more memory): per path its
  // sums and the name it was last renamed to, then per final name; the top lists keep the hash,
  // and only their few paths are looked up at the end. Ties are broken by the hash.
  const bytesByFile = (await q(`
      , u AS (
        SELECT hash(path) AS h, 1 AS n,
               CASE WHEN kind IN ('read', 'disk_read') THEN bytes END AS rd,
               CASE WHEN kind IN ('write', 'disk_write') THEN bytes END AS wr, NULL::HUGEINT AS dst
        FROM ev WHERE path IS NOT NULL
        UNION ALL
        -- the rename's time (ns) and its destination's hash in one number, so that max() gives the
        -- last destination: arg_max's state does not spill
        SELECT hash(src), 0, NULL, NULL, (round(ts * 1e9)::HUGEINT << 64) | hash(dst)::HUGEINT FROM (${RENAME_EVENTS})),
      by_path AS (SELECT h, sum(n) AS n, sum(rd) AS rd, sum(wr) AS wr, (max(dst) & 18446744073709551615)::UBIGINT AS dst FROM u GROUP BY h),
      f AS (SELECT coalesce(dst, h) AS h, sum(n) AS n, coalesce(sum(rd), 0) AS rd, coalesce(sum(wr), 0) AS wr
            FROM by_path GROUP BY 1 HAVING sum(n) > 0),
      -- the most written files and the most read ones, so a few big reads cannot hide the writes
      top AS (SELECT max_by({h: h, n: n, rd: rd, wr: wr}, {a: wr, b: n, c: -h::HUGEINT}, ${TOP}) AS w,
                     max_by({h: h, n: n, rd: rd, wr: wr}, {a: rd, b: n, c: -h::HUGEINT}, ${TOP}) AS r FROM f),
      picked AS (SELECT DISTINCT unnest(list_concat(w, r), recursive := true) FROM top),
      names AS (SELECT hash(path) AS h, min(path) AS path FROM trace_events
                WHERE trace_id = $trace AND path IS NOT NULL AND hash(path) IN (SELECT h FROM picked) GROUP BY 1)
      SELECT names.path, p.n, p.rd, p.wr FROM picked p JOIN names USING (h)
      ORDER BY p.wr DESC, p.rd DESC, p.n DESC, names.path`))
    .map((r) => ({ path: String(r.path), ops: num(r.n), readBytes: num(r.rd), writeBytes: num(r.wr) }));
  // (the one query left that groups paths as text and joins them with the renames, with the limit
  // lifted: skipped when no other process's event names a file)
  const sharedFiles = s.subject.all || num(totals.other_paths) === 0 ? [] : (await qf(`
      , mine AS (SELECT DISTINCT lower(final_path) AS p FROM evf WHERE subject AND final_path IS NOT NULL)
      SELECT process, pid, count(DISTINCT final_path) AS files, count(*) AS n, coalesce(sum(bytes), 0) AS bytes,
             coalesce(sum(duration), 0) AS secs, list(DISTINCT final_path ORDER BY final_path)[1:3] AS examples
      FROM evf WHERE NOT subject AND lower(final_path) IN (SELECT p FROM mine)
      GROUP BY process, pid ORDER BY n DESC, process LIMIT ${TOP}`, true))
    .map((r) => ({
      process: String(r.process ?? ""), pid: r.pid == null ? null : num(r.pid), files: num(r.files), events: num(r.n),
      bytes: num(r.bytes), seconds: num(r.secs), examples: listOf(r.examples),
    }));
  const cat = (c: string) => sets.find((r) => num(r.g_cat) === 0 && r.category === c);
  const failures = sets.filter((r) => num(r.g_fail) === 0 && r.failed === true)
    .map((r) => ({ kind: r.kind as OpKind, result: String(r.fail_result), count: num(r.n) }))
    .sort((a, b) => b.count - a.count || compareText(a.kind, b.kind) || compareText(a.result, b.result))
    .slice(0, TOP);
  // progress: blit's data operations (any of its events when it has none)
  const progressHasData = num(totals.subject_data) > 0;
  const longestGaps = (await q(`
      , p AS (SELECT ts, ts + coalesce(duration, 0) AS te, line FROM ev WHERE subject ${progressHasData ? "AND category = 'data'" : ""}),
      g AS (SELECT max(te) OVER (ORDER BY ts, te ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end, ts, line FROM p)
      SELECT prev_end, ts, ts - prev_end AS gap, line FROM g WHERE prev_end IS NOT NULL AND ts > prev_end
      ORDER BY gap DESC, ts, line LIMIT 5`))
    .map((r) => ({ fromTs: num(r.prev_end), toTs: num(r.ts), seconds: num(r.gap), line: r.line == null ? null : num(r.line) }));
  // the busiest functions: only perf script has CPU samples, so only its traces pay for the query
  const busy = s.format !== "perf-script" ? [] : await q(`
      , s AS (SELECT process, json_extract_string(fields, ['stack', 'payload']) AS f FROM ev WHERE event_name IN (${CPU_SAMPLE_NAMES})),
      -- the leaf frame ("func+0x1f (module)"), or the sample line's "ADDR func+0x1f (module)" without its address
      l AS (SELECT process, CASE WHEN f[1] IS NOT NULL THEN split_part(f[1], ' <- ', 1)
                                 ELSE regexp_replace(trim(coalesce(f[2], '')), '^[0-9a-fA-F]+\\s+([^(\\s])', '\\1') END AS leaf FROM s),
      c AS (SELECT process, regexp_replace(regexp_replace(leaf, '\\s*\\([^()]*\\)\\s*$', ''), '\\+0x[0-9a-fA-F]+$', '') AS fn,
                   regexp_extract(leaf, '\\(([^()]*)\\)\\s*$', 1) AS module FROM l)
      SELECT process, CASE WHEN fn = '' THEN '[unknown]' ELSE fn END AS fn, module, count(*) AS n, sum(count(*)) OVER () AS total
      FROM c GROUP BY ALL ORDER BY n DESC, fn, module, process LIMIT ${TOP}`);
  const cpuSamples = busy.length > 0 ? num(busy[0]!.total) : 0;
  const busiestFunctions = busy.map((r) => ({
    process: String(r.process ?? ""), function: String(r.fn), module: String(r.module), samples: num(r.n),
    share: cpuSamples > 0 ? num(r.n) / cpuSamples : 0,
  }));
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
    failures, longestGaps, cpuSamples, busiestFunctions, tracer: s.tracer, notes: s.notes,
  };
}

function ms(v: unknown): number {
  return v == null ? 0 : Math.round(Number(v) * 1e6) / 1e3;
}

function listOf(v: unknown): string[] {
  return listItems(v).map(String);
}

function listItems(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  const items = (v as { items?: unknown[] } | null)?.items;
  return Array.isArray(items) ? items : [];
}

/** Text in DuckDB's order (byte order of UTF-8, which is code point order), for sorting in JS. */
function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

