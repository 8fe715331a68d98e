// What a parser learns about the whole trace while it streams, read by ingestion at the end.
import type { ClockKind, ParseItem } from "./trace-event.ts";

export interface ParseState {
  /** How the trace's timestamps relate to wall time; parsers set it from the first timestamp. */
  clock: ClockKind;
  /**
   * Seconds to add to an event's ts for epoch seconds, when the trace itself says (perf
   * --header's capture date, xperf's trace start). Ingestion may estimate it otherwise.
   */
  epochOffset: number | null;
  /**
   * Multiply every ts and duration by this once the parse is over: for formats whose time unit is
   * only known at the end (xperf checks its stamps against the stated trace length).
   */
  rescale: number;
  /** Facts about the trace for the reader: its header lines, units chosen, and so on. */
  notes: string[];
  /**
   * Lines passed over on purpose, by why: lines that are not the tool's (the traced program's own
   * output between strace's lines) and lines the reader does not keep (strace -k stack frames).
   * They are no parse errors: counted here, never reported as unparsed.
   */
  skipped: Record<string, number>;
}

export function newParseState(): ParseState {
  return { clock: "unknown", epochOffset: null, rescale: 1, notes: [], skipped: {} };
}

/** Counts one line skipped for `reason` (see ParseState.skipped). */
export function skip(state: ParseState, reason: string): void {
  state.skipped[reason] = (state.skipped[reason] ?? 0) + 1;
}

/** A streaming parser: a generator over the file's lines that yields events and bad lines. */
export type TraceParser = (lines: Iterable<string>, state: ParseState) => Generator<ParseItem>;

/** The first 200 characters of a line, for error reports. */
export function excerpt(text: string): string {
  return text.length > 200 ? text.slice(0, 200) + "…" : text;
}
