// The traces folder's public API: offline traces (ETW exports, perf, strace) read, stored in the
// telemetry store, linked to runs and summarized. Other folders import from here only.
export { readTrace } from "./read-trace.ts";
export type { ReadTraceOptions, TraceReader } from "./read-trace.ts";
export { detectFormat, TRACE_FORMATS } from "./detect-format.ts";
export type { TraceFormat } from "./detect-format.ts";
export { readLines, DEFAULT_CHUNK_SIZE } from "./line-reader.ts";
export { ingestTrace } from "./ingest-trace.ts";
export type { IngestOptions, IngestResult } from "./ingest-trace.ts";
export { listTraces, getTrace, traceSummary, summariesForRun } from "./trace-query.ts";
export type { StoredSummary, TraceInfo, TraceQueryOptions } from "./trace-query.ts";
export { formatTraceSummary } from "./format-summary.ts";
export type { SummaryFormat } from "./format-summary.ts";
export { OP_KINDS } from "./trace-event.ts";
export type { BadLine, ClockKind, OpCategory, OpKind, ParseItem, TraceEvent } from "./trace-event.ts";
export type { ParseState } from "./parse-state.ts";
export type {
  BusyFunction, FileBytes, KindTotal, LatencyPercentiles, ProcessBytes, ProgressGap, SharedFileUse, TraceSummary, TraceTracer,
} from "./trace-summary.ts";
export { TraceError } from "./trace-error.ts";
export type { TraceErrorCode } from "./trace-error.ts";
