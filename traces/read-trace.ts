// Reading a trace file into normalized events, streaming: detect the format (or take the one
// given), then run that format's parser over the file's lines.
import { detectFormat, TRACE_FORMATS, type TraceFormat } from "./detect-format.ts";
import { DEFAULT_CHUNK_SIZE, readLines } from "./line-reader.ts";
import { newParseState, type ParseState, type TraceParser } from "./parse-state.ts";
import { parsePerfScript } from "./perf-script.ts";
import { parsePerfTrace } from "./perf-trace.ts";
import { parseStrace } from "./strace-text.ts";
import { TraceError } from "./trace-error.ts";
import { parseTracerptCsv } from "./tracerpt-csv.ts";
import type { ParseItem } from "./trace-event.ts";
import { parseWpaCsv } from "./wpa-csv.ts";
import { parseXperfDumper } from "./xperf-dumper.ts";

const PARSERS: Record<TraceFormat, TraceParser> = {
  xperf: parseXperfDumper,
  tracerpt: parseTracerptCsv,
  "wpa-csv": parseWpaCsv,
  "perf-script": parsePerfScript,
  "perf-trace": parsePerfTrace,
  strace: parseStrace,
};

export interface ReadTraceOptions {
  /**
   * The file's format; "auto" detects it from the content.
   * @default "auto"
   */
  format?: TraceFormat | "auto";
  /**
   * Bytes read at a time. Any size gives the same events; tests use tiny ones.
   * @default 65536
   */
  chunkSize?: number;
}

/** A trace being read: iterate it once for its items; `state` is complete when iteration ends. */
export interface TraceReader extends Iterable<ParseItem> {
  readonly path: string;
  readonly format: TraceFormat;
  readonly state: ParseState;
}

/**
 * Opens `path` for streaming parse. Throws TraceError at once for a missing, empty, binary or
 * unrecognized file; lines a parser cannot read come out as `{ bad }` items instead.
 */
export function readTrace(path: string, options: ReadTraceOptions = {}): TraceReader {
  const requested = options.format ?? "auto";
  if (requested !== "auto" && !TRACE_FORMATS.includes(requested)) {
    throw new TraceError("TRACE_USAGE", String(requested), `unknown trace format '${requested}'; one of: auto, ${TRACE_FORMATS.join(", ")}`);
  }
  let format: TraceFormat;
  try {
    format = detectFormat(path); // also refuses missing, empty and binary files
  } catch (err) {
    // a format given by the caller is trusted over detection, but not over an empty or missing file
    if (requested === "auto" || !(err instanceof TraceError) || err.code !== "TRACE_NOT_A_TRACE") throw err;
    format = requested;
  }
  if (requested !== "auto") format = requested;
  const state = newParseState();
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  return {
    path,
    format,
    state,
    [Symbol.iterator]: () => PARSERS[format](readLines(path, chunkSize), state),
  };
}
