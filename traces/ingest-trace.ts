// Ingesting a trace file into the telemetry store: stream the parser's events into DuckDB through
// batch files that DuckDB loads while the parser goes on (event-batches.ts), place the trace's
// clock in wall time, link it to the blit run it covers, and store its summaries. A failed ingest
// leaves no rows behind.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { sqlString, withStore } from "../analytics/index.ts";
import { readTrace, type ReadTraceOptions, type TraceReader } from "./read-trace.ts";
import type { TraceFormat } from "./detect-format.ts";
import type { BadLine, ClockKind, TraceEvent } from "./trace-event.ts";
import { computeSummary, type SummaryMemory, type SummaryScope, type TraceSummary, type TraceTracer } from "./trace-summary.ts";
import { TraceError } from "./trace-error.ts";
import { EventBatchLoader } from "./event-batches.ts";

export interface IngestOptions extends ReadTraceOptions {
  /** The telemetry store file (the CLI passes telemetryPath(env)). */
  storePath: string;
  /** Link the trace to this run instead of matching by process id and time. */
  runId?: string;
  /**
   * When the trace ended, for traces whose stamps have no date (strace -tt) or no origin
   * (strace -r, perf trace, ETW exports).
   * @default the file's modification time
   */
  endedAt?: Date;
  /** Epoch seconds of the trace's ts 0 when the caller knows it; wins over any estimate. */
  epochOffset?: number;
  /**
   * Set by `blit trace record`: the tracer blit ran the command under, stored with the trace's
   * summaries (TraceSummary.tracer) so diagnosis of the linked run can account for its cost.
   */
  recordedWith?: { tool: "strace" | "perf"; command: string };
  /**
   * How many unparsed lines to keep (with line numbers and reasons) for the report.
   * @default 20
   */
  keepUnparsed?: number;
  /**
   * Called now and then (and after each batch) with the events parsed so far, for progress
   * displays and benchmarks. Throwing from it fails the ingest, which then stores nothing.
   */
  onProgress?: (events: number) => void;
  /**
   * Events per batch handed to DuckDB. Any size stores the same rows; tests use tiny ones.
   * @default 122,880 (one DuckDB row group)
   */
  batchEvents?: number;
  /**
   * Where the batch files are written (in a fresh directory, removed afterwards, also on failure).
   * @default os.tmpdir()
   */
  tempDir?: string;
}

export interface IngestResult {
  traceId: string;
  file: string;
  format: TraceFormat;
  events: number;
  unparsedLines: number;
  /** The first unparsed lines, each with its line number and why. */
  unparsedSample: BadLine[];
  /** Lines passed over on purpose (not the tool's, e.g. the traced program's output), by why. */
  skippedLines: Record<string, number>;
  runId: string | null;
  /** How the run was found: "flag" (--run), "pid-time", "pid"; null when not linked. */
  linkMethod: "flag" | "pid-time" | "pid" | null;
  /** Why no run was linked, or which runs competed. */
  linkNote: string | null;
  summary: TraceSummary;
  runSummary: TraceSummary | null;
}

/** Wall-clock slack when matching a trace to a run window: exact clocks, then estimated ones. */
const SLACK_S = 2;
const SLACK_ESTIMATED_S = 120;
const PROGRESS_EVERY = 65536;
/**
 * DuckDB's memory limits during an ingest (see MemoryLimit). Loading streams each batch into row
 * groups and needs little; the summaries group millions of rows and spill to disk what exceeds
 * their limit. Measured on the 1 GB strace benchmark: the process peaks at about 290 MiB with
 * 64 MB for loading, at about 230 MiB with 32 MB, in the same time.
 */
const LOAD_MEMORY_LIMIT = "32MB";
const QUERY_MEMORY_LIMIT = "64MB";
/**
 * The limit for a statement that ran out under the limits above (a batch of very long lines, a
 * query that does not spill); one that still runs out is retried with the store's own limit (80%
 * of RAM by default).
 */
const ROOMY_MEMORY_LIMIT = "256MB";

/**
 * Parses `path` and stores it. Throws TraceError for a file that is missing, empty or not a
 * trace, or for an unknown `runId`; TelemetryError when the store cannot be opened.
 */
export async function ingestTrace(path: string, options: IngestOptions): Promise<IngestResult> {
  const file = resolve(path);
  const reader = readTrace(file, options);
  const traceId = crypto.randomUUID();
  const endedAt = options.endedAt ?? statSync(file).mtime;
  return withStore(options.storePath, async ({ conn }) => {
    if (options.runId !== undefined) {
      const found = await conn.runAndReadAll("SELECT count(*) AS n FROM runs WHERE id = $1", [options.runId]);
      if (Number(found.getRowObjects()[0]?.n ?? 0) === 0) {
        throw new TraceError("TRACE_USAGE", options.runId, `no run '${options.runId}' in the store ${options.storePath}; see 'blit diagnostics perf'`);
      }
    }
    try {
      return await ingestInto(conn, reader, traceId, file, endedAt, options);
    } catch (err) {
      // nothing half-written: whatever this ingest stored goes
      for (const table of ["trace_events", "trace_summaries", "traces"]) {
        await conn.run(`DELETE FROM ${table} WHERE ${table === "traces" ? "id" : "trace_id"} = $1`, [traceId]).catch(() => {});
      }
      throw err;
    }
  }, { busyTimeoutMs: 5000 });
}

async function ingestInto(
  conn: DuckDBConnection, reader: TraceReader, traceId: string, file: string, endedAt: Date, options: IngestOptions,
): Promise<IngestResult> {
  // events need no order on disk (every query orders by ts), which lets DuckDB load with less memory
  await conn.run("SET preserve_insertion_order = false");
  const settings = await conn.runAndReadAll(
    "SELECT current_setting('threads') AS threads, current_setting('memory_limit') AS memory, current_setting('checkpoint_threshold') AS wal",
  );
  const before = settings.getRowObjects()[0]!;
  const memory = new MemoryLimit(conn, String(before.memory));
  // a checkpoint rewrites the store's indexes whole and can need more than the small limits below;
  // one that fails leaves the database unusable, so none starts on its own during the ingest: the
  // one after the load runs with the store's own limit
  await conn.run("SET checkpoint_threshold = '1TB'");
  await memory.limit();
  try {
    return await loadAndSummarize(conn, reader, traceId, file, endedAt, options, Number(before.threads), memory);
  } finally {
    // set back, not RESET: RESET memory_limit shows the default but leaves the limit in force
    await conn.run(`SET memory_limit = ${sqlString(String(before.memory))}`);
    await conn.run(`SET checkpoint_threshold = ${sqlString(String(before.wal))}`);
  }
}

/**
 * DuckDB's memory limit during an ingest: LOAD_MEMORY_LIMIT while loading, QUERY_MEMORY_LIMIT
 * after, lifted for the statements that need more (rewriting every event, a query that does not
 * spill) and for any statement that ran out.
 */
class MemoryLimit implements SummaryMemory {
  private current = LOAD_MEMORY_LIMIT;

  constructor(private readonly conn: DuckDBConnection, private readonly previous: string) {}

  async limit(): Promise<void> {
    await this.conn.run(`SET memory_limit = '${this.current}'`);
  }

  /** The load is over: the queries' limit from now on. */
  async queries(): Promise<void> {
    this.current = QUERY_MEMORY_LIMIT;
    await this.limit();
  }

  /** Runs `run` with the store's own limit. */
  async unlimited<T>(run: () => Promise<T>): Promise<T> {
    try {
      await this.conn.run(`SET memory_limit = ${sqlString(this.previous)}`);
      return await run();
    } finally {
      await this.limit();
    }
  }

  async roomy<T>(run: () => Promise<T>): Promise<T> {
    try {
      await this.conn.run(`SET memory_limit = '${ROOMY_MEMORY_LIMIT}'`);
      return await run();
    } catch (err) {
      if (!String(err).includes("Out of Memory Error")) throw err;
      // a failed statement changed nothing: run it again with the store's own limit
      return await this.unlimited(run);
    } finally {
      await this.limit();
    }
  }
}

async function loadAndSummarize(
  conn: DuckDBConnection, reader: TraceReader, traceId: string, file: string, endedAt: Date, options: IngestOptions,
  threads: number, memory: MemoryLimit,
): Promise<IngestResult> {
  const keep = options.keepUnparsed ?? 20;
  // one DuckDB thread loads while this one parses, so the two overlap; the memory limit keeps the
  // load bounded (each load writes its row groups to the file as it goes)
  await conn.run("SET threads = 1");
  const loader = new EventBatchLoader(conn, traceId, {
    batchRows: options.batchEvents, tempDir: options.tempDir, roomy: (run) => memory.roomy(run),
  });
  let events = 0;
  let unparsed = 0;
  const sample: BadLine[] = [];
  let firstTs = Infinity;
  let lastTs = -Infinity;
  try {
    for (const item of reader) {
      if (item.bad) {
        unparsed++;
        if (sample.length < keep) sample.push(item.bad);
        continue;
      }
      const e = item.event;
      const full = loader.add(events, e);
      events++;
      if (e.ts < firstTs) firstTs = e.ts;
      const end = e.ts + (e.duration ?? 0);
      if (end > lastTs) lastTs = end;
      if (full) {
        await loader.rotate();
        options.onProgress?.(events);
      } else if (options.onProgress && events % PROGRESS_EVERY === 0) options.onProgress(events);
    }
    await loader.finish();
  } finally {
    await loader.close();
    await conn.run(`SET threads = ${threads}`);
  }
  // the last rows leave memory for the database file, so the summaries have the whole limit
  await memory.unlimited(() => conn.run("CHECKPOINT"));
  await memory.queries();
  const state = reader.state;
  if (state.rescale !== 1) {
    await memory.roomy(() => conn.run("UPDATE trace_events SET ts = ts * $1, duration = duration * $1 WHERE trace_id = $2", [state.rescale, traceId]));
    firstTs *= state.rescale;
    lastTs *= state.rescale;
  }
  const first = events > 0 ? firstTs : null;
  const last = events > 0 ? lastTs : null;
  const { offset, estimated } = placeClock(state.clock, state.epochOffset ?? options.epochOffset ?? null, last, endedAt);
  const link = await findRun(conn, traceId, options.runId, first, last, offset, estimated);
  const notes = [...state.notes];
  for (const [reason, n] of Object.entries(state.skipped)) notes.push(`${n} line${n === 1 ? "" : "s"} skipped: ${reason}`);
  if (estimated) notes.push(`wall time estimated from the file's end time (${endedAt.toISOString()})`);
  if (link.note) notes.push(link.note);

  const size = statSync(file).size;
  await conn.run(
    `INSERT INTO traces VALUES ($1, $2, $3, $4, now()::TIMESTAMP, $5, $6, $7, $8, $9, $10, $11, $12, $13,
       CASE WHEN $14 IS NULL THEN NULL ELSE make_timestamp(CAST($14 AS BIGINT)) END,
       CASE WHEN $15 IS NULL THEN NULL ELSE make_timestamp(CAST($15 AS BIGINT)) END, $16, $17)`,
    [
      traceId, file, reader.format, BigInt(size), link.runId, link.method, BigInt(events), BigInt(unparsed),
      first, last, state.clock, offset, estimated,
      first !== null && offset !== null ? Math.round((first + offset) * 1e6) : null,
      last !== null && offset !== null ? Math.round((last + offset) * 1e6) : null,
      JSON.stringify(sample), JSON.stringify(notes),
    ],
  );

  const base: Omit<SummaryScope, "scope" | "runId" | "subject"> = {
    traceId, format: reader.format, file, unparsedLines: unparsed, clock: state.clock,
    epochOffset: offset, clockEstimated: estimated, tracer: tracerOf(reader.format, options.recordedWith), notes,
  };
  const subject = await subjectOf(conn, traceId, reader.format, link.pid);
  const summary = await computeSummary(conn, { ...base, scope: "trace", runId: link.runId, subject }, memory);
  await storeSummary(conn, summary);
  let runSummary: TraceSummary | null = null;
  if (link.runId !== null) {
    const window = link.window && offset !== null
      ? { fromTs: link.window[0] - offset - (estimated ? SLACK_ESTIMATED_S : SLACK_S), toTs: link.window[1] - offset + (estimated ? SLACK_ESTIMATED_S : SLACK_S) }
      : {};
    runSummary = await computeSummary(conn, { ...base, ...window, scope: "run", runId: link.runId, subject }, memory);
    await storeSummary(conn, runSummary);
  }
  return {
    traceId, file, format: reader.format, events, unparsedLines: unparsed, unparsedSample: sample,
    skippedLines: { ...state.skipped }, runId: link.runId, linkMethod: link.method, linkNote: link.note, summary, runSummary,
  };
}

/**
 * The tracer that followed the traced command: the one `blit trace record` ran, else the one a
 * strace or perf trace file shows (those tools trace one command, which paid their cost); null for
 * traces taken from outside the command (perf script samples, ETW exports).
 */
function tracerOf(format: TraceFormat, recorded: IngestOptions["recordedWith"]): TraceTracer | null {
  if (recorded) return { tool: recorded.tool, recorded: true, command: recorded.command };
  if (format === "strace") return { tool: "strace", recorded: false, command: null };
  if (format === "perf-trace") return { tool: "perf", recorded: false, command: null };
  return null;
}

/**
 * Epoch seconds of ts 0. Epoch clocks need none; time of day is placed on the local date that
 * puts the trace's end closest before `endedAt`; relative clocks end at `endedAt` (an estimate).
 */
function placeClock(clock: ClockKind, known: number | null, last: number | null, endedAt: Date): { offset: number | null; estimated: boolean } {
  if (known !== null) return { offset: known, estimated: false };
  if (clock === "epoch") return { offset: 0, estimated: false };
  if (last === null) return { offset: null, estimated: false };
  const end = endedAt.getTime() / 1000;
  if (clock === "time-of-day") {
    const midnight = new Date(endedAt);
    midnight.setHours(0, 0, 0, 0);
    let offset = midnight.getTime() / 1000;
    // the file was written as the trace ran, so its end is at or a little after the last event
    while (last + offset > end + 3600) offset -= 86400;
    while (last + offset < end - 86400 + 3600) offset += 86400;
    return { offset, estimated: false };
  }
  if (clock === "relative") return { offset: end - last, estimated: true };
  return { offset: null, estimated: false };
}

interface Link {
  runId: string | null;
  method: IngestResult["linkMethod"];
  pid: number | null;
  /** The run's [start, end] in epoch seconds. */
  window: [number, number] | null;
  note: string | null;
}

/** The run a trace covers: --run, else a run whose pid is in the trace and whose time overlaps it. */
async function findRun(
  conn: DuckDBConnection, traceId: string, runId: string | undefined, first: number | null, last: number | null,
  offset: number | null, estimated: boolean,
): Promise<Link> {
  const runs = await conn.runAndReadAll(
    `WITH ids AS (
       SELECT DISTINCT pid AS p FROM trace_events WHERE trace_id = $1 AND pid IS NOT NULL
       UNION SELECT DISTINCT tid FROM trace_events WHERE trace_id = $1 AND tid IS NOT NULL)
     SELECT id, CAST(json_extract_string(report, '$.pid') AS INTEGER) AS pid, epoch_ms(started_at) AS s, epoch_ms(coalesce(finished_at, started_at)) AS f
     FROM runs WHERE ${runId !== undefined ? "id = $2" : "CAST(json_extract_string(report, '$.pid') AS INTEGER) IN (SELECT p FROM ids)"}
     ORDER BY started_at DESC`,
    runId !== undefined ? [traceId, runId] : [traceId],
  );
  const rows = runs.getRowObjects().map((r) => ({
    id: String(r.id), pid: r.pid == null ? null : Number(r.pid), s: Number(r.s) / 1000, f: Number(r.f) / 1000,
  }));
  if (runId !== undefined) {
    const r = rows[0];
    return { runId, method: "flag", pid: r?.pid ?? null, window: r ? [r.s, r.f] : null, note: null };
  }
  if (rows.length === 0) return { runId: null, method: null, pid: null, window: null, note: "no recorded run has a process id that appears in this trace" };
  if (first !== null && last !== null && offset !== null) {
    const slack = estimated ? SLACK_ESTIMATED_S : SLACK_S;
    const from = first + offset - slack;
    const to = last + offset + slack;
    const overlapping = rows
      .map((r) => ({ r, overlap: Math.min(to, r.f) - Math.max(from, r.s) }))
      .filter((x) => x.overlap >= 0)
      .sort((a, b) => b.overlap - a.overlap);
    const best = overlapping[0];
    if (best) return { runId: best.r.id, method: "pid-time", pid: best.r.pid, window: [best.r.s, best.r.f], note: null };
    return { runId: null, method: null, pid: null, window: null, note: `runs with a matching process id (${rows.map((r) => r.id).join(", ")}) ran outside the trace's time window` };
  }
  if (rows.length === 1) {
    const r = rows[0]!;
    return { runId: r.id, method: "pid", pid: r.pid, window: [r.s, r.f], note: "linked by process id alone: the trace's clock has no wall time" };
  }
  return { runId: null, method: null, pid: null, window: null, note: `several runs have a process id in this trace (${rows.map((r) => r.id).join(", ")}); pass --run` };
}

/**
 * Which events are blit's. strace and perf trace follow one command and its children, so all of
 * them; other traces see the whole machine: the run's process (and processes of the same name),
 * or, with no run, processes named blit or bun.
 */
async function subjectOf(conn: DuckDBConnection, traceId: string, format: TraceFormat, pid: number | null): Promise<SummaryScope["subject"]> {
  if (format === "strace" || format === "perf-trace") {
    return { rule: `${format} follows only the traced command and its children: every event is blit's`, pids: pid === null ? [] : [pid], processes: [], all: true };
  }
  if (pid !== null) {
    const names = await conn.runAndReadAll(
      "SELECT DISTINCT process FROM trace_events WHERE trace_id = $1 AND (pid = $2 OR tid = $2) AND process <> '' LIMIT 5",
      [traceId, pid],
    );
    const processes = names.getRowObjects().map((r) => String(r.process));
    return { rule: `the run's process ${pid}${processes.length ? ` and processes named ${processes.join(", ")}` : ""}`, pids: [pid], processes, all: false };
  }
  const names = await conn.runAndReadAll(
    "SELECT DISTINCT process FROM trace_events WHERE trace_id = $1 AND regexp_matches(lower(process), '^(blit|bun)(\\.exe)?$')",
    [traceId],
  );
  const processes = names.getRowObjects().map((r) => String(r.process));
  return { rule: "no linked run: processes named blit or bun", pids: [], processes, all: false };
}


async function storeSummary(conn: DuckDBConnection, s: TraceSummary): Promise<void> {
  await conn.run("INSERT INTO trace_summaries VALUES ($1, $2, $3, now()::TIMESTAMP, $4)", [s.traceId, s.scope, s.runId, JSON.stringify(s)]);
}
