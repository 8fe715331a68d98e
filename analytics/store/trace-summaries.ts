// Trace summaries linked to a run, when the store has them (table trace_summaries, written by
// traces/). Read defensively: the table or its columns may not exist in a given store, and a
// summary is whatever JSON the ingester of the day wrote, so each field is checked and a missing
// or malformed one reads as absent. The types here are analytics' own view of that JSON (the
// writer's is traces' TraceSummary): only what diagnose turns into evidence.
import type { DuckDBConnection } from "@duckdb/node-api";

/** One linked trace as diagnose sees it: the run's window of it when stored, else the whole trace. */
export interface TraceFacts {
  traceId: string;
  /** "run" (only the linked run's window) or "trace" (the whole file); "" when the store does not say. */
  scope: string;
  /** "xperf", "strace", ...; "" when unknown. */
  format: string;
  /** Events in the scope; null when the summary does not say. */
  events: number | null;
  unparsedLines: number;
  /** Seconds from the first to the last event in the scope; null when unknown. */
  spanSeconds: number | null;
  /** Trace clock of the first event in the scope (gaps are placed against it). */
  firstTs: number | null;
  clock: string;
  clockEstimated: boolean;
  /** Which events count as blit's, as the ingester put it. */
  subjectRule: string;
  /**
   * False when the trace holds only blit's own events (strace, perf trace follow one command), so
   * no other process could be seen touching its files; null when unknown.
   */
  seesOtherProcesses: boolean | null;
  /** The whole trace, when `scope` is "run" and the whole-trace summary is stored too. */
  wholeTrace: { events: number | null; spanSeconds: number | null } | null;
  /** `metadata`: every event of the kind is a metadata operation (false in summaries that do not say). */
  byKind: { kind: string; count: number; seconds: number; bytes: number; metadata: boolean }[];
  latency: { kind: string; count: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number }[];
  bytesByFile: { path: string; ops: number; readBytes: number; writeBytes: number }[];
  /** Other processes that touched blit's files; null when the summary has no such list (older versions). */
  sharedFiles: { process: string; pid: number | null; files: number; events: number; bytes: number; seconds: number; examples: string[] }[] | null;
  metadataVsData: { metadataCount: number; metadataSeconds: number; dataCount: number; dataSeconds: number } | null;
  failures: { kind: string; result: string; count: number }[];
  longestGaps: { fromTs: number; toTs: number; seconds: number; line: number | null }[];
  /**
   * The tracer that followed the run for this trace ("strace", "perf" for perf trace), with
   * `recorded` true when `blit trace record` ran it: the run paid the tracer's cost. Null when the
   * trace was taken from outside (perf script, ETW) or the summary predates the field.
   */
  tracer?: { tool: string; recorded: boolean } | null;
  /** CPU samples' busiest functions (perf script), busiest first; empty when the trace has none. */
  busiestFunctions?: { process: string; function: string; module: string; samples: number; share: number }[];
}

/** Traces read per run: the newest ones, so a run traced again and again keeps a small bundle. */
const MAX_TRACES = 3;
/** Rows read per run (two scopes per trace, and room for duplicates). */
const MAX_ROWS = 40;
/** Entries kept from each list of a summary, and example paths per process. */
const MAX_ITEMS = 20;
const MAX_EXAMPLES = 3;

/**
 * The traces linked to `runId`, oldest first, at most MAX_TRACES (the newest); empty when there are
 * none or the store has no such table. Never throws.
 */
export async function traceSummariesFor(conn: DuckDBConnection, runId: string): Promise<TraceFacts[]> {
  try {
    const cols = await conn.runAndReadAll(
      "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = 'trace_summaries'",
    );
    const names = new Set(cols.getRowObjects().map((r) => String(r.column_name)));
    if (!names.has("run_id") || !names.has("summary")) return [];
    const trace = names.has("trace_id") ? "CAST(trace_id AS VARCHAR)" : "''";
    const scope = names.has("scope") ? "CAST(scope AS VARCHAR)" : "''";
    const order = names.has("created_at") ? "ORDER BY created_at DESC" : "";
    const reader = await conn.runAndReadAll(
      `SELECT ${trace} AS trace_id, ${scope} AS scope, CAST(summary AS VARCHAR) AS summary
       FROM trace_summaries WHERE run_id = $1 ${order} LIMIT ${MAX_ROWS}`,
      [runId],
    );
    // newest first: per trace, the run's window wins over the whole trace
    const byTrace = new Map<string, { run?: Record<string, unknown>; other?: Record<string, unknown>; otherScope?: string }>();
    for (const [i, r] of reader.getRowObjects().entries()) {
      const summary = parse(r.summary);
      if (!summary) continue;
      const rowScope = String(r.scope ?? "") || text(summary.scope);
      const id = String(r.trace_id ?? "") || text(summary.traceId) || `row-${i + 1}`;
      const entry = byTrace.get(id) ?? (byTrace.size < MAX_TRACES ? byTrace.set(id, {}).get(id)! : undefined);
      if (!entry) continue;
      if (rowScope === "run") entry.run ??= summary;
      else if (!entry.other) [entry.other, entry.otherScope] = [summary, rowScope];
    }
    const out: TraceFacts[] = [];
    for (const [id, e] of byTrace) {
      const chosen = e.run ?? e.other!;
      const facts = factsOf(id, e.run ? "run" : e.otherScope ?? "", chosen);
      if (e.run && e.other) facts.wholeTrace = { events: numOrNull(e.other.events), spanSeconds: numOrNull(e.other.spanSeconds) };
      out.push(facts);
    }
    return out.reverse();
  } catch {
    return [];
  }
}

function factsOf(traceId: string, scope: string, s: Record<string, unknown>): TraceFacts {
  const subject = isObject(s.subject) ? s.subject : {};
  const subjectRule = text(subject.rule);
  const format = text(s.format);
  const onlyBlit = format === "strace" || format === "perf-trace" || subjectRule.includes("every event is blit's");
  const md = isObject(s.metadataVsData) ? s.metadataVsData : null;
  return {
    traceId,
    scope,
    format,
    events: numOrNull(s.events),
    unparsedLines: num(s.unparsedLines),
    spanSeconds: numOrNull(s.spanSeconds),
    firstTs: numOrNull(s.firstTs),
    clock: text(s.clock),
    clockEstimated: s.clockEstimated === true,
    subjectRule,
    seesOtherProcesses: onlyBlit ? false : subjectRule || Array.isArray(s.sharedFiles) ? true : null,
    wholeTrace: null,
    byKind: list(s.byKind, (x) => ({ kind: text(x.kind), count: num(x.count), seconds: num(x.seconds), bytes: num(x.bytes), metadata: x.metadata === true })),
    latency: list(s.latency, (x) => ({
      kind: text(x.kind), count: num(x.count), p50Ms: num(x.p50Ms), p90Ms: num(x.p90Ms), p99Ms: num(x.p99Ms), maxMs: num(x.maxMs),
    })),
    bytesByFile: list(s.bytesByFile, (x) => (text(x.path) ? { path: text(x.path), ops: num(x.ops), readBytes: num(x.readBytes), writeBytes: num(x.writeBytes) } : undefined)),
    sharedFiles: Array.isArray(s.sharedFiles)
      ? list(s.sharedFiles, (x) => ({
          process: text(x.process), pid: numOrNull(x.pid), files: num(x.files), events: num(x.events), bytes: num(x.bytes),
          seconds: num(x.seconds), examples: Array.isArray(x.examples) ? x.examples.filter((p): p is string => typeof p === "string").slice(0, MAX_EXAMPLES) : [],
        }))
      : null,
    metadataVsData: md
      ? { metadataCount: num(md.metadataCount), metadataSeconds: num(md.metadataSeconds), dataCount: num(md.dataCount), dataSeconds: num(md.dataSeconds) }
      : null,
    failures: list(s.failures, (x) => ({ kind: text(x.kind), result: text(x.result), count: num(x.count) })),
    longestGaps: list(s.longestGaps, (x) => ({ fromTs: num(x.fromTs), toTs: num(x.toTs), seconds: num(x.seconds), line: numOrNull(x.line) })),
    tracer: isObject(s.tracer) && text(s.tracer.tool) ? { tool: text(s.tracer.tool), recorded: s.tracer.recorded === true } : null,
    busiestFunctions: list(s.busiestFunctions, (x) => (text(x.function)
      ? { process: text(x.process), function: text(x.function), module: text(x.module), samples: num(x.samples), share: num(x.share) }
      : undefined)),
  };
}

function parse(value: unknown): Record<string, unknown> | undefined {
  try {
    const v = typeof value === "string" ? JSON.parse(value) : value;
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The object entries of `value` (when it is an array) mapped by `f`, at most MAX_ITEMS. */
function list<T>(value: unknown, f: (x: Record<string, unknown>) => T | undefined): T[] {
  if (!Array.isArray(value)) return [];
  const out: T[] = [];
  for (const x of value) {
    if (out.length >= MAX_ITEMS) break;
    const item = isObject(x) ? f(x) : undefined;
    if (item !== undefined) out.push(item);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function numOrNull(v: unknown): number | null {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
}

function num(v: unknown): number {
  return numOrNull(v) ?? 0;
}

function text(v: unknown): string {
  return typeof v === "string" ? v.slice(0, 300) : typeof v === "number" ? String(v) : "";
}
